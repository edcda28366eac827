"""[libvirt] cpu_mode for virt_type lxc, as nova's own init_host checks it.

DevStack's stackrc asks for cpu_mode = custom, cpu_models = Nehalem (for
kvm and qemu); nova's LibvirtDriver.init_host refuses any CPU model for a
hypervisor other than kvm or qemu, so devstack/override-defaults sets
LIBVIRT_CPU_MODE=none. Here the real driver, loaded by nova's
load_compute_driver, runs init_host against the private libvirtd with
both settings.
"""

import os

import fixtures
from nova import exception as nova_exception
from nova.virt import driver as virt_driver
from nova.virt import fake as fake_virt

from nova_lxc_contrail.tests.e2e import base
from nova_lxc_contrail.virt import driver as lxc_driver

CONF = base.CONF


class TestCpuModeAtInitHost(base.LibvirtLxcTestCase):

    @classmethod
    def options(cls):
        options = super().options()
        options[None] = {'compute_driver': 'lxc_contrail.LxcContrailDriver',
                         'instances_path': os.path.join(cls.work_dir,
                                                        'instances')}
        options['libvirt']['images_type'] = 'raw'
        return options

    def setUp(self):
        super().setUp()
        # libvirt's event thread reports to nova's compute manager, which
        # does not run here; init_host does not need it.
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.host.Host._init_events'))

    def init_host(self, **libvirt):
        for name, value in libvirt.items():
            CONF.set_override(name, value, 'libvirt')
            self.addCleanup(CONF.clear_override, name, 'libvirt')
        drv = virt_driver.load_compute_driver(fake_virt.FakeVirtAPI())
        self.assertIsInstance(drv, lxc_driver.LxcContrailDriver)
        drv.init_host(CONF.host)
        self.addCleanup(drv.cleanup_host, CONF.host)
        return drv

    def test_cpu_mode_none_starts(self):
        # devstack/override-defaults: LIBVIRT_CPU_MODE=none, no cpu_models.
        drv = self.init_host(cpu_mode='none')
        # init_host went on past the CPU check to libvirt's LXC driver.
        self.assertEqual('LXC', drv._host.get_connection().getType())

    def test_stackrc_cpu_model_is_refused(self):
        # stackrc's LIBVIRT_CPU_MODE=custom, LIBVIRT_CPU_MODEL=Nehalem.
        e = self.assertRaises(nova_exception.Invalid, self.init_host,
                              cpu_mode='custom', cpu_models=['Nehalem'])
        self.assertEqual("Config requested an explicit CPU model, but the "
                         "current libvirt hypervisor 'lxc' does not support "
                         "selecting CPU models", str(e))
