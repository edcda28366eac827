"""Fails when nova changes the code LxcContrailDriver overrides or relies on.

LxcContrailDriver re-implements three small LibvirtDriver methods (the LXC
rootfs steps) and hooks a few others. Each entry below is the code of the
nova method as it was reviewed (nova 34.0.0), as a hash of its syntax tree
(comments and formatting do not count). When a hash differs, nova changed
the method: read nova's new code, carry the change into the override named
in the message, then record the new hash.
"""

import ast
import hashlib
import inspect
import re
import textwrap

from nova.virt.libvirt import driver as libvirt_driver
import testtools

from nova_lxc_contrail.virt import driver

# nova method -> (hash of its code as reviewed, what to re-check).
REVIEWED = {
    '__init__': (
        '1ed7f841cef23fe9',
        'LxcContrailDriver.__init__ replaces self.vif_driver after nova '
        'built it: check nova still builds it there and nothing uses it '
        'before'),
    '_create_domain_setup_lxc': (
        '0ae633bc43b80f87',
        'LxcContrailDriver._create_domain_setup_lxc and _lxc_image_model '
        'follow this flow (image model, volume connect, mount, '
        'rootfs_device_name, idmap chown, cleanup on error)'),
    '_create_domain_cleanup_lxc': (
        '0aefbfece1beb177',
        'LxcContrailDriver._create_domain_cleanup_lxc follows this flow '
        '(unmount the host view when running, else tear down)'),
    '_teardown_container': (
        'ac90608d1225e738',
        'LxcContrailDriver._teardown_container follows this flow '
        '(system_metadata rootfs_device_name)'),
    '_lxc_disk_handler': (
        'e48e217843c2a86d',
        'it calls the overridden _create_domain_setup_lxc and '
        '_create_domain_cleanup_lxc around the domain start'),
    '_destroy': (
        '3a3876b476397f10',
        'it calls the overridden _teardown_container once the domain is '
        'gone'),
    '_create_guest_with_network': (
        '40a9555e170cf72d',
        'LxcContrailDriver._create_guest_with_network sets the MTU after it '
        'returns a running guest; check its arguments and return value'),
    'power_on': (
        '14bcc7dd1abe4dc8',
        'LxcContrailDriver.power_on keeps the ports plugged through it'),
    '_hard_reboot': (
        'f686f02eb4ccabfa',
        'LxcContrailDriver.power_on relies on it unplugging through '
        '_unplug_vifs and plugging again through _create_guest_with_network'),
    '_unplug_vifs': (
        '757edac5c990a237',
        'LxcContrailDriver._unplug_vifs skips it while powering on'),
}

# The nova calls the overridden methods stand in for.
CONTAINER_CALLS = re.compile(
    r'disk_api\.(setup_container|teardown_container|clean_lxc_namespace)\b')
OVERRIDDEN_CALLERS = {'_create_domain_setup_lxc',
                      '_create_domain_cleanup_lxc', '_teardown_container'}


def code_hash(function):
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()[:16]


def libvirt_driver_methods():
    tree = ast.parse(inspect.getsource(libvirt_driver))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == 'LibvirtDriver':
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield item.name, ast.unparse(item)


class TestNovaFlowUnchanged(testtools.TestCase):

    def test_reviewed_nova_methods_are_unchanged(self):
        changed = []
        for name, (reviewed, recheck) in sorted(REVIEWED.items()):
            now = code_hash(getattr(libvirt_driver.LibvirtDriver, name))
            if now != reviewed:
                changed.append('LibvirtDriver.%s (hash %s, reviewed %s): %s'
                               % (name, now, reviewed, recheck))
        self.assertEqual([], changed,
                         'nova changed code LxcContrailDriver builds on; '
                         're-check, then update REVIEWED in %s' % __file__)

    def test_only_the_overridden_methods_call_nova_container_disk_api(self):
        callers = {name for name, code in libvirt_driver_methods()
                   if CONTAINER_CALLS.search(code)}
        self.assertEqual(
            OVERRIDDEN_CALLERS, callers,
            'the LibvirtDriver methods calling nova\'s setup_container, '
            'teardown_container or clean_lxc_namespace changed: '
            'LxcContrailDriver must override every one of them so that '
            'the rootfs goes through nova_lxc_contrail.disk.api')

    def test_every_overridden_method_is_reviewed(self):
        overridden = {name for name, value in vars(
            driver.LxcContrailDriver).items()
            if callable(value) and hasattr(libvirt_driver.LibvirtDriver,
                                           name)}
        self.assertEqual(set(), overridden - set(REVIEWED) - {'init_host'},
                         'an override of a nova method has no reviewed hash')

    def test_overrides_use_this_package_disk_api(self):
        self.assertEqual('nova_lxc_contrail.disk.api',
                         driver.disk_api.__name__)
        for name in OVERRIDDEN_CALLERS:
            self.assertIn(name, vars(driver.LxcContrailDriver))
