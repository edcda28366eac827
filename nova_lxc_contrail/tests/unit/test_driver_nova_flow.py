"""Fails when nova changes the code LxcContrailDriver overrides or relies on.

LxcContrailDriver re-implements three small LibvirtDriver methods (the LXC
rootfs steps) and hooks a few others; LxcHost and LxcGuest change one
method each of nova's Host and Guest. Each entry below is the code of the
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
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt import host as libvirt_host
import testtools

from nova_lxc_contrail.virt import driver
from nova_lxc_contrail.virt import guest

# nova method -> (hash of its code as reviewed, what to re-check).
REVIEWED = {
    '__init__': (
        '1ed7f841cef23fe9',
        'LxcContrailDriver.__init__ replaces self._host (with the same '
        'arguments), self.vif_driver and self.image_backend (same '
        'argument) after nova built them: check nova still builds them '
        'there, that way, and nothing uses them before'),
    '_create_domain_setup_lxc': (
        '0ae633bc43b80f87',
        'LxcContrailDriver._create_domain_setup_lxc and _lxc_image_model '
        'follow this flow (image model, volume connect, mount, '
        'rootfs_device_name, idmap chown, cleanup on error)'),
    '_create_domain_cleanup_lxc': (
        '0aefbfece1beb177',
        'LxcContrailDriver._create_domain_cleanup_lxc follows this flow '
        '(tear down unless running; running, it keeps the host view that '
        'nova unmounts)'),
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
        'gone (which unmounts the host view the driver keeps)'),
    '_create_guest_with_network': (
        '40a9555e170cf72d',
        'LxcContrailDriver._hard_reboot relies on it plugging the ports '
        'again (plugging converges on the devices kept); nothing of the '
        'driver runs after the domain started: the MTU comes from the '
        'libvirt hook (virt/libvirt_hook.py)'),
    'power_on': (
        '14bcc7dd1abe4dc8',
        'it must power on through _hard_reboot, which keeps the ports '
        'plugged'),
    '_hard_reboot': (
        'f686f02eb4ccabfa',
        'LxcContrailDriver._hard_reboot relies on it unplugging only '
        'through destroy -> _cleanup -> _unplug_vifs and plugging again '
        'through _create_guest_with_network'),
    '_cleanup': (
        'ce473895d5588d22',
        'it unplugs through _unplug_vifs only, which the driver skips '
        'during a hard reboot'),
    'destroy': (
        '4fe56f6431438aaf',
        'LxcContrailDriver.destroy keeps the ports plugged while nova\'s '
        'default rebuild or a same-host resize revert destroys the '
        'instance: it relies on destroy unplugging only through cleanup -> '
        '_cleanup -> _unplug_vifs'),
    'migrate_disk_and_power_off': (
        '7c36a2618f5f730f',
        'LxcContrailDriver.migrate_disk_and_power_off keeps the ports '
        'plugged for a same-host resize: it relies on unplug_vifs -> '
        '_unplug_vifs and on copying the disks _get_instance_disk_info '
        'lists'),
    '_get_instance_disk_info_from_config': (
        '08b946f6b8e789c9',
        'LxcContrailDriver adds the LXC instance disk as a <disk> of type '
        'file with driver_format raw or qcow2: check nova still reads '
        'source_type, source_path, driver_format and target_dev'),
    '_disk_raw_to_qcow2': (
        '64f524a735132e72',
        'LxcContrailDriver._disk_raw_to_qcow2 does nothing: check '
        'finish_migration still calls it only to turn raw disks into qcow2'),
    'snapshot': (
        'a663e9196da68bb0',
        'LxcContrailDriver relies on nova reading the format from '
        'snapshot_image_format (defaulted in init_host), extracting '
        '<instance dir>/disk, and calling _suspend_guest_for_snapshot '
        'before and _resume_guest_after_snapshot after the copy'),
    '_suspend_guest_for_snapshot': (
        '10baa640152b6e95',
        'LxcContrailDriver._suspend_guest_for_snapshot freezes the '
        'container after it (nova skips LXC)'),
    '_resume_guest_after_snapshot': (
        '2b450dafbe7b2d64',
        'LxcContrailDriver._resume_guest_after_snapshot thaws the '
        'container after it (nova skips LXC)'),
    '_unplug_vifs': (
        '757edac5c990a237',
        'LxcContrailDriver._unplug_vifs skips it during a hard reboot'),
    '_soft_reboot': (
        '014757f809ef5810',
        'the driver relies on it calling guest.shutdown (LxcGuest) and '
        'guest.launch starting '
        'the domain from the rootfs the driver keeps mounted, and on False '
        'meaning a hard reboot follows'),
    '_clean_shutdown': (
        '9e620c484045d7b3',
        'it asks the container to stop through guest.shutdown (LxcGuest)'),
    '_get_guest_config': (
        'd6efd0030c75999e',
        'LxcContrailDriver._get_guest_config adds <privnet/> to a guest '
        'with idmaps and no interface: check nova still sets guest.idmaps '
        'and the interfaces there'),
    'reboot': (
        'a6884d26197f081a',
        'it falls back from _soft_reboot returning False to _hard_reboot'),
    # Interface attach and detach, live.
    'attach_interface': (
        'ffd8b3def553fa26',
        'LxcContrailDriver.attach_interface relies on it plugging, '
        'attaching live and persistent, unplugging when libvirt refuses, '
        'and leaving the interface in the domain when it returns'),
    'detach_interface': (
        'b31daa36e5b8e5a0',
        'LxcContrailDriver.detach_interface takes the interface out first '
        'and relies on it detaching only through _detach_with_retry, then '
        'unplugging and updating the metadata'),
    '_detach_with_retry': (
        '27fad93068078e84',
        'LxcContrailDriver._detach_with_retry skips it for an interface '
        'already taken out; _keep_persistent_interface relies on it '
        'detaching from the persistent definition before the live domain'),
    '_detach_from_live_and_wait_for_event': (
        '69fdec92edbd392f',
        'LxcContrailDriver._detach_from_live_and_wait_for_event keeps its '
        'synchronous detach (_detach_sync, live only) and drops the wait '
        'for an event libvirt-LXC never sends'),
    'suspend': (
        '2188fbcc0d4a7e0b',
        'LxcContrailDriver.suspend freezes instead of nova\'s managed save; '
        'check nova\'s suspend still only detaches devices a container '
        'cannot have (PCI, direct ports, mdevs) before saving'),
    'resume': (
        '4346e5de598836a1',
        'LxcContrailDriver.resume thaws, or starts a stopped container '
        'through _hard_reboot; check nova\'s resume re-attaches nothing a '
        'container has'),
    'check_can_live_migrate_destination': (
        'c3f55dbe88ddc63a',
        'LxcContrailDriver refuses live migration in its pre-checks'),
    'check_can_live_migrate_source': (
        'e888baa6aa115025',
        'LxcContrailDriver refuses live migration in its pre-checks'),
    '_create_guest': (
        '6aa68528dda1f499',
        'LxcContrailDriver._create_guest starts the console reader after '
        'it returns a launched guest; check its arguments and return value'),
    'emit_event': (
        '73dc8f5fbcb51325',
        'LxcContrailDriver.emit_event starts the console reader on a '
        'STARTED or RESUMED lifecycle event, then calls it'),
    'rescue': (
        'f3bb5ced6060e442',
        'LxcContrailDriver.rescue relies on it making disk.rescue, calling '
        '_destroy (no unplug) and starting the rescue domain through '
        '_create_guest, where the driver mounts both root filesystems'),
    'unrescue': (
        'e3d2268cab34b00b',
        'LxcContrailDriver.unrescue relies on it calling _destroy (which '
        'tears down both root filesystems) and _create_guest (where the '
        'driver mounts the original again) before it removes *.rescue'),
    'get_console_output': (
        '0179c80047097808',
        'LxcContrailDriver.get_console_output returns the bounded log the '
        'console reader keeps at _get_console_log_path, not the pty'),
}

# Other nova classes: (class, method) -> (hash as reviewed, what to re-check).
REVIEWED_ELSEWHERE = {
    (libvirt_host.Host, '__init__'): (
        '2982d9eccfb9316a',
        'LxcContrailDriver.__init__ builds guest.LxcHost with the '
        'arguments nova gives Host'),
    (libvirt_host.Host, 'get_guest'): (
        '13534aff08e48a83',
        'guest.LxcHost.get_guest rewraps the Guest it returns as an '
        'LxcGuest of the same domain'),
    (libvirt_guest.Guest, 'shutdown'): (
        '6be084226db33cc7',
        'guest.LxcGuest.shutdown falls back to SIGTERM without an initctl '
        'FIFO and calls it otherwise'),
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
        for (cls, name), (reviewed, recheck) in sorted(
                REVIEWED_ELSEWHERE.items(), key=str):
            now = code_hash(getattr(cls, name))
            if now != reviewed:
                changed.append('%s.%s (hash %s, reviewed %s): %s' % (
                    cls.__name__, name, now, reviewed, recheck))
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
        for ours, nova_class in ((guest.LxcHost, libvirt_host.Host),
                                 (guest.LxcGuest, libvirt_guest.Guest)):
            overridden = {(nova_class, name) for name, value in vars(
                ours).items() if callable(value) and hasattr(nova_class, name)}
            self.assertEqual(set(), overridden - set(REVIEWED_ELSEWHERE),
                             'an override of a nova method has no reviewed '
                             'hash')

    def test_overrides_use_this_package_disk_api(self):
        self.assertEqual('nova_lxc_contrail.disk.api',
                         driver.disk_api.__name__)
        for name in OVERRIDDEN_CALLERS:
            self.assertIn(name, vars(driver.LxcContrailDriver))
