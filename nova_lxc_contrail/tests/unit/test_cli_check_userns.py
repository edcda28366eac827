"""``nova-lxc-contrail check``: user namespaces and idmapped mounts."""

import os

from nova_lxc_contrail.cmd import check
from nova_lxc_contrail.tests.unit import test_cli_check as base


class TestUserNamespaceChecks(base.DescribedHostTestCase):

    def instances(self, mode=0o755):
        path = self.host.path('/var/lib/nova/instances')
        os.makedirs(path, exist_ok=True)
        for d in (self.host.root, self.host.path('/var'),
                  self.host.path('/var/lib'), self.host.path('/var/lib/nova'),
                  path):
            os.chmod(d, 0o755)
        os.chmod(path, mode)
        return '/var/lib/nova/instances'

    def conf_with(self, text):
        # instances_path as the described host sees it (the check stats
        # it below the host's root).
        return base.load_conf(self, '[DEFAULT]\ninstances_path = %s\n%s'
                              % (self.instances(), text))

    def result(self, function, name):
        return self.run_check(function)[name]

    def test_without_maps_warns_with_the_remedy(self):
        self.conf = self.conf_with('')
        result = self.result(check.check_user_namespaces, 'user namespaces')
        self.assertEqual(check.WARN, result.status)
        self.assertIn('without a user namespace', result.detail)
        self.assertIn('uid_maps = 0:100000:65536', result.remedy)

    def test_valid_maps_pass(self):
        self.conf = self.conf_with(
            '[libvirt]\nuid_maps = 0:100000:65536\ngid_maps = 0:100000:65536'
            '\n')
        result = self.result(check.check_user_namespaces, 'user namespaces')
        self.assertEqual(check.PASS, result.status, result)
        self.assertIn('host uid 100000', result.detail)

    def test_bad_maps_fail_naming_the_option(self):
        self.conf = self.conf_with('[libvirt]\nuid_maps = 0:100000:65536\n')
        result = self.result(check.check_user_namespaces, 'user namespaces')
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('[libvirt] gid_maps is empty', result.detail)

    def test_unsearchable_instances_path_fails(self):
        self.conf = self.conf_with(
            '[libvirt]\nuid_maps = 0:100000:65536\ngid_maps = 0:100000:65536'
            '\n')
        os.chmod(self.host.path('/var/lib/nova'), 0o700)
        result = self.result(check.check_user_namespaces, 'user namespaces')
        self.assertEqual(check.FAIL, result.status)
        self.assertIn('cannot search /var/lib/nova,', result.detail)
        self.assertEqual('chmod o+x /var/lib/nova', result.remedy)

    def test_idmapped_mounts_on_this_kernel(self):
        self.conf = self.conf_with('')
        result = self.result(check.check_idmapped_mounts, 'idmapped mounts')
        self.assertEqual(check.PASS, result.status, result)
        self.assertIn('supported', result.detail)

    def test_forced_chown_is_reported(self):
        self.conf = self.conf_with('[lxc_contrail]\nrootfs_idmap = chown\n')
        result = self.result(check.check_idmapped_mounts, 'idmapped mounts')
        self.assertIn('rootfs_idmap = chown', result.detail)
