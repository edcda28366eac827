import testtools

from nova_lxc_contrail import exception
from nova_lxc_contrail.vif import naming

PORT = '93c2c386-6e79-485e-bfa4-b9daa713133b'


class TestNames(testtools.TestCase):

    def test_names_follow_the_old_contrail_driver(self):
        self.assertEqual('tap93c2c386-6e', naming.tap_name(PORT))
        self.assertEqual('br93c2c386-6e', naming.bridge_name(PORT))
        self.assertEqual('ve93c2c386-6e', naming.veth_name(PORT))

    def test_lengths_fit_the_kernel_and_differ(self):
        names = [naming.tap_name(PORT), naming.bridge_name(PORT),
                 naming.veth_name(PORT)]
        self.assertEqual([14, 13, 13], [len(n) for n in names])
        self.assertEqual(3, len(set(names)))

    def test_tap_is_novas_devname(self):
        # nova: devname = ('tap' + port id)[:NIC_NAME_LEN]
        from nova.network import model
        self.assertEqual(('tap' + PORT)[:model.NIC_NAME_LEN],
                         naming.tap_name(PORT))

    def test_upper_case_id_is_canonicalised(self):
        self.assertEqual(PORT, naming.port_id(PORT.upper()))
        self.assertEqual('tap93c2c386-6e', naming.tap_name(PORT.upper()))

    def test_non_uuid_ids_are_refused(self):
        for bad in ('', 'port-1', PORT[:-1], PORT.replace('-', ''),
                    '{%s}' % PORT, PORT + 'a'):
            e = self.assertRaises(exception.InvalidPort, naming.tap_name,
                                  bad)
            self.assertIn('not a UUID', str(e))

    def test_non_string_id_is_refused(self):
        e = self.assertRaises(exception.InvalidPort, naming.port_id, 42)
        self.assertIn('UUID string', str(e))


class TestIfname(testtools.TestCase):

    def test_fifteen_bytes_pass(self):
        self.assertEqual('a' * 15, naming.validate_ifname('a' * 15))

    def test_sixteen_bytes_are_refused_with_the_size(self):
        e = self.assertRaises(exception.InvalidPort,
                              naming.validate_ifname, 'a' * 16, 'tap name')
        self.assertIn('16 bytes', str(e))
        self.assertIn('tap name', str(e))

    def test_bytes_not_characters_count(self):
        # 8 characters, 16 bytes in UTF-8
        self.assertRaises(exception.InvalidPort, naming.validate_ifname,
                          '\u00e9' * 8)

    def test_characters_the_kernel_refuses(self):
        for bad in ('a/b', 'a:b', 'a b', '.', '..', '', None):
            self.assertRaises(exception.InvalidPort, naming.validate_ifname,
                              bad)
