"""The root partition policy: parsing and the order of candidates."""

import testtools

from nova_lxc_contrail.disk import choose
from nova_lxc_contrail.disk import partition
from nova_lxc_contrail import exception


def table(*numbers, extended=()):
    parts = tuple(partition.Partition(number=n, start=n * 4096, size=4096,
                                      type='83', container=n in extended)
                  for n in numbers)
    return partition.PartitionTable('dos', 512, 1 << 30, parts)


class TestParse(testtools.TestCase):

    def test_values(self):
        self.assertEqual('auto', choose.parse_policy('auto', 'x'))
        self.assertEqual('auto', choose.parse_policy(' AUTO ', 'x'))
        self.assertEqual('none', choose.parse_policy('none', 'x'))
        self.assertEqual(2, choose.parse_policy('2', 'x'))
        self.assertEqual(15, choose.parse_policy(15, 'x'))

    def test_bad_values_name_their_source(self):
        for bad in ('0', '-1', 'first', '1.5', ''):
            exc = self.assertRaises(exception.ConfigError,
                                    choose.parse_policy, bad,
                                    'image property lxc_root_partition')
            self.assertIn('image property lxc_root_partition = %r' % bad,
                          str(exc))


class TestCandidates(testtools.TestCase):

    def labels(self, tbl, policy):
        return [(c.label, c.explicit)
                for c in choose.candidates(tbl, policy, 'img')]

    def test_auto_without_table_is_the_whole_disk(self):
        self.assertEqual([('whole disk', True)], self.labels(None, 'auto'))

    def test_auto_tries_partition_1_first_then_by_number(self):
        self.assertEqual(['partition 1', 'partition 14', 'partition 15'],
                         [c[0] for c in self.labels(table(14, 15, 1),
                                                    'auto')])

    def test_auto_skips_extended_partitions(self):
        self.assertEqual(['partition 1', 'partition 5'],
                         [c[0] for c in self.labels(table(1, 2, 5,
                                                          extended=(2,)),
                                                    'auto')])

    def test_number(self):
        self.assertEqual([('partition 2', True)],
                         self.labels(table(1, 2), 2))

    def test_missing_number_lists_what_exists(self):
        exc = self.assertRaises(exception.RootfsError, choose.candidates,
                                table(1, 2), 3, 'img')
        self.assertIn('Image img, partition 3: no such partition; the dos '
                      'table has partitions 1, 2', str(exc))

    def test_number_without_table(self):
        exc = self.assertRaises(exception.RootfsError, choose.candidates,
                                None, 1, 'img')
        self.assertIn('has no partition table', str(exc))

    def test_none_is_the_whole_disk(self):
        self.assertEqual([('whole disk', True)], self.labels(table(1), 'none'))

    def test_only_an_extended_partition(self):
        exc = self.assertRaises(exception.RootfsError, choose.candidates,
                                table(2, extended=(2,)), 'auto', 'img')
        self.assertIn('has no partitions', str(exc))
