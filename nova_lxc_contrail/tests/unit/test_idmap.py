"""[libvirt] uid_maps/gid_maps validation, and the driver's start check."""

from oslo_config import fixture as config_fixture
import testtools

from nova_lxc_contrail.disk import idmap
from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import driver

UID = '[libvirt] uid_maps'


class TestParseMaps(testtools.TestCase):

    def assertRefused(self, values, *fragments):
        err = self.assertRaises(idmap.MapError, idmap.parse_maps, values,
                                UID)
        for fragment in (UID,) + fragments:
            self.assertIn(fragment, str(err))

    def test_valid(self):
        self.assertEqual(
            [idmap.IdMap(0, 100000, 65536), idmap.IdMap(65536, 300000, 1)],
            idmap.parse_maps(['0:100000:65536', ' 65536:300000:1'], UID))

    def test_format(self):
        for value in ('0:100000', '0:100000:1:2', 'a:1:1', '0x0:1:1', '',
                      '-1:100000:1'):
            self.assertRefused([value], repr(value))

    def test_empty_range(self):
        self.assertRefused(['0:100000:0'], 'maps no ids')

    def test_outside_the_id_space(self):
        self.assertRefused(['0:4294967295:1'], 'host range')
        self.assertRefused(['4294967290:0:10'], 'guest range')

    def test_overlaps(self):
        self.assertRefused(['0:100000:100', '99:200000:1'],
                           '0:100000:100 and 99:200000:1', 'guest ids')
        self.assertRefused(['0:100000:100', '100:100050:10'], 'host ids')
        # Adjacent ranges are fine.
        self.assertEqual(2, len(idmap.parse_maps(
            ['0:100000:100', '100:100100:10'], UID)))

    def test_at_most_five(self):
        self.assertRefused(['%d:%d:1' % (i, 100000 + i) for i in range(6)],
                           'at most 5')

    def test_both_needed_and_root_mapped(self):
        self.assertIsNone(idmap.container_maps([], []))
        err = self.assertRaises(idmap.MapError, idmap.container_maps,
                                ['0:100000:65536'], [])
        self.assertIn('[libvirt] gid_maps is empty', str(err))
        err = self.assertRaises(idmap.MapError, idmap.container_maps,
                                ['1:100000:10'], ['0:100000:10'])
        self.assertIn("uid_maps maps no entry for the container's root",
                      str(err))

    def test_host_id(self):
        maps = [idmap.IdMap(0, 100000, 10), idmap.IdMap(10, 500, 5)]
        self.assertEqual(100009, idmap.host_id(maps, 9))
        self.assertEqual(504, idmap.host_id(maps, 14))
        self.assertIsNone(idmap.host_id(maps, 15))

    def test_this_kernel_has_idmapped_mounts(self):
        # Linux 6.18 here; the probe changes nothing and needs no privilege.
        self.assertEqual((True, ''), idmap.kernel_supports())


class TestDriverStartCheck(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config(driver.CONF))

    def test_bad_maps_are_a_config_error_naming_the_option(self):
        self.conf.config(uid_maps=['0:100000:65536'],
                         gid_maps=['0:100000'], group='libvirt')
        err = self.assertRaises(exception.ConfigError,
                                driver.configured_id_maps)
        self.assertIn("[libvirt] gid_maps entry '0:100000'", str(err))

    def test_init_host_refuses_bad_maps_before_libvirt(self):
        self.conf.config(virt_type='lxc', uid_maps=['0:100000:65536'],
                         group='libvirt')
        drv = driver.LxcContrailDriver.__new__(driver.LxcContrailDriver)
        # No libvirt connection is made: the check comes first.
        err = self.assertRaises(exception.ConfigError, drv.init_host, 'h')
        self.assertIn('gid_maps is empty', str(err))

    def test_valid_maps(self):
        self.conf.config(uid_maps=['0:100000:65536'],
                         gid_maps=['0:200000:65536'], group='libvirt')
        self.assertEqual(([idmap.IdMap(0, 100000, 65536)],
                          [idmap.IdMap(0, 200000, 65536)]),
                         driver.configured_id_maps())
