"""``nova-lxc-contrail lxc-config``: the keys per LXC version and cgroup."""

import os

import fixtures
import testtools

from nova_lxc_contrail.cmd import hostview
from nova_lxc_contrail.cmd import lxc_config


def keys(text):
    """[(key, value)] of the non-comment lines."""
    pairs = []
    for line in text.splitlines():
        if line and not line.startswith('#'):
            key, value = line.split(' = ', 1)
            pairs.append((key, value))
    return pairs


class TestRender(testtools.TestCase):

    def test_lxc3_and_later_on_cgroup_v1(self):
        pairs = keys(lxc_config.render(3, 'v1'))
        allowed = [v for k, v in pairs if k == 'lxc.cgroup.devices.allow']
        self.assertEqual(['c 10:200 rwm', 'c 10:229 rwm', 'c 10:237 rwm',
                          'b 7:* rwm'], allowed)
        self.assertIn(('lxc.apparmor.profile', 'unconfined'), pairs)
        self.assertIn(('lxc.net.0.type', 'veth'), pairs)
        self.assertIn(('lxc.net.0.link', 'lxcbr0'), pairs)
        self.assertIn(('lxc.net.0.flags', 'up'), pairs)
        self.assertIn(('lxc.mount.auto', 'proc:rw sys:rw cgroup:rw'), pairs)
        self.assertIn(('lxc.mount.entry', '/dev/net/tun dev/net/tun none '
                       'bind,create=file,optional 0 0'), pairs)
        self.assertIn(('lxc.mount.entry', '/dev/loop-control '
                       'dev/loop-control none bind,create=file,optional 0 0'),
                      pairs)
        # No key of another LXC generation or cgroup version.
        for key, _ in pairs:
            self.assertFalse(key.startswith(('lxc.network.', 'lxc.aa_',
                                             'lxc.cgroup2.')), key)

    def test_lxc4_on_cgroup_v2_uses_cgroup2_keys(self):
        pairs = keys(lxc_config.render(4, 'v2'))
        allowed = [v for k, v in pairs if k == 'lxc.cgroup2.devices.allow']
        self.assertEqual(4, len(allowed))
        self.assertNotIn('lxc.cgroup.devices.allow', dict(pairs))

    def test_legacy_keys_for_lxc_1_and_2(self):
        for version in (1, 2):
            pairs = keys(lxc_config.render(version, 'v1', link='br0'))
            self.assertIn(('lxc.aa_profile', 'unconfined'), pairs)
            self.assertIn(('lxc.network.type', 'veth'), pairs)
            self.assertIn(('lxc.network.link', 'br0'), pairs)
            self.assertIn(('lxc.cgroup.devices.allow', 'b 7:* rwm'), pairs)
            for key, _ in pairs:
                self.assertFalse(key.startswith(('lxc.net.', 'lxc.apparmor.',
                                                 'lxc.cgroup2.')), key)

    def test_cgroup_v2_before_lxc4_is_refused(self):
        for version in (1, 2, 3):
            e = self.assertRaises(lxc_config.LxcConfigError,
                                  lxc_config.render, version, 'v2')
            self.assertIn('LXC 4.0', str(e))

    def test_options(self):
        text = lxc_config.render(5, 'v1', network=False, apparmor='lxc-foo',
                                 loop_devices=2, nbd=True)
        pairs = keys(text)
        self.assertNotIn('lxc.net.0.type', dict(pairs))
        self.assertIn(('lxc.apparmor.profile', 'lxc-foo'), pairs)
        self.assertIn(('lxc.cgroup.devices.allow', 'b 43:* rwm'), pairs)
        loops = [v for k, v in pairs if k == 'lxc.mount.entry' and
                 v.startswith('/dev/loop') and 'control' not in v]
        self.assertEqual(['/dev/loop0 dev/loop0 none bind,create=file,'
                          'optional 0 0',
                          '/dev/loop1 dev/loop1 none bind,create=file,'
                          'optional 0 0'], loops)
        self.assertIn('modprobe -a tun veth bridge loop fuse nbd', text)

    def test_bad_values_are_refused(self):
        self.assertRaises(lxc_config.LxcConfigError, lxc_config.render, 0,
                          'v1')
        self.assertRaises(lxc_config.LxcConfigError, lxc_config.render, 4,
                          'v3')
        self.assertRaises(lxc_config.LxcConfigError, lxc_config.render, 4,
                          'v1', loop_devices=-1)


class TestDetectCgroupVersion(testtools.TestCase):

    def host(self, mounts):
        root = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(root, 'proc/self'))
        with open(os.path.join(root, 'proc/self/mounts'), 'w') as f:
            f.write(mounts)
        return hostview.HostView(root)

    def test_layouts(self):
        self.assertEqual('v2', lxc_config.detect_cgroup_version(self.host(
            'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n')))
        self.assertEqual('v1', lxc_config.detect_cgroup_version(self.host(
            'tmpfs /sys/fs/cgroup tmpfs rw 0 0\n'
            'cgroup /sys/fs/cgroup/devices cgroup rw,devices 0 0\n'
            'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n')))
