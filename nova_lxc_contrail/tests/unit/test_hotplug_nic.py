"""The name a hot-plugged container interface keeps or gets."""

import testtools

from nova_lxc_contrail.virt import driver
from nova_lxc_contrail.virt import privsep


class TestContainerNicName(testtools.TestCase):

    def test_boot_names_are_kept(self):
        for name in ('eth0', 'eth1', 'eth12'):
            self.assertTrue(privsep._is_container_nic_name(name), name)

    def test_other_names_are_replaced(self):
        for name in ('vnet1', 'eth', 'ethx', 'veth0', 'eth1a', 'lo'):
            self.assertFalse(privsep._is_container_nic_name(name), name)


class TestInterfaceCapabilities(testtools.TestCase):

    def test_attach_without_tags(self):
        capabilities = driver.LXC_CAPABILITIES
        self.assertIs(True, capabilities['supports_attach_interface'])
        self.assertIs(False, capabilities['supports_tagged_attach_interface'])
