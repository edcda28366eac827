"""nova-compute's steps for one LXC instance, without nova's database.

The demo and the end-to-end tests boot containers the way the
LxcContrailDriver does, one visible step at a time: plug the ports (the
configured VIF driver), mount the root filesystem (``disk.api``), start a
libvirt domain whose XML comes from nova's own config classes and the VIF
driver's ``get_config`` (this package's libvirt hook gives the interfaces
their MTU as libvirt starts the container), and undo it all. Each step is
a method, so a caller can time or check it.

Inside the running container (``init_pid``) files are read through
``/proc/<pid>/root`` and commands run with util-linux ``nsenter``.
"""

import os
import subprocess
import time
import uuid as uuid_lib

from nova.network import model as network_model
from nova import objects
from nova.virt.image import model as imgmodel
from nova.virt.libvirt import config as vconfig

from nova_lxc_contrail.disk import api as disk_api
from nova_lxc_contrail.virt import container_mtu

LXC = 'lxc'
LIBVIRT_LXC = 'libvirt_lxc'
NSENTER = 'nsenter'


def vrouter_vif(port_id=None, mac=None, mtu=1400, cidr='10.0.0.0/24',
                ip='10.0.0.5', gateway='10.0.0.1'):
    """A Neutron port bound by the vRouter, as nova's network model has it."""
    port_id = port_id or str(uuid_lib.uuid4())
    if mac is None:
        mac = 'fa:16:3e:%s:%s:%s' % (port_id[0:2], port_id[2:4],
                                     port_id[4:6])
    subnet = network_model.Subnet(
        cidr=cidr, gateway=network_model.IP(address=gateway, type='gateway'),
        ips=[network_model.FixedIP(address=ip)])
    network = network_model.Network(id=str(uuid_lib.uuid4()), bridge=None,
                                    label='vn-e2e', subnets=[subnet],
                                    meta={'mtu': mtu} if mtu else {})
    return network_model.VIF(id=port_id, address=mac,
                             type=network_model.VIF_TYPE_VROUTER,
                             network=network, details={},
                             vnic_type=network_model.VNIC_TYPE_NORMAL,
                             devname=('tap' + port_id)[:14])


def make_instance(name='demo', instance_id=1, memory_mb=64):
    """An in-memory nova Instance with what plugging and naming read."""
    objects.register_all()
    flavor = objects.Flavor(id=1, name='m1.lxc', flavorid='1',
                            memory_mb=memory_mb, vcpus=1, root_gb=0,
                            ephemeral_gb=0, swap=0, extra_specs={})
    return objects.Instance(id=instance_id, uuid=str(uuid_lib.uuid4()),
                            display_name=name, vm_state='active',
                            project_id='demo-project', user_id='demo-user',
                            flavor=flavor, system_metadata={})


class LxcGuest(object):
    """One LXC instance on this host: ports, rootfs, domain."""

    def __init__(self, conn, vif_driver, instance, network_info, image_path,
                 image_format, instance_dir, root_partition=None):
        self.conn = conn
        self.vif_driver = vif_driver
        self.instance = instance
        self.network_info = network_model.NetworkInfo(network_info)
        self.image = imgmodel.LocalFileImage(image_path, image_format)
        self.instance_dir = instance_dir
        self.rootfs = os.path.join(instance_dir, 'rootfs')
        self.root_partition = root_partition
        self.domain = None
        self.root_device = None

    @property
    def name(self):
        return 'instance-%s' % self.instance.uuid

    # --- steps, in boot order ---------------------------------------------

    def plug(self):
        for vif in self.network_info:
            self.vif_driver.plug(self.instance, vif)

    def mount_rootfs(self):
        os.makedirs(self.rootfs, exist_ok=True)
        self.root_device = disk_api.setup_container(
            self.image, self.rootfs, root_partition=self.root_partition)
        return self.root_device

    def guest_config(self):
        """The domain config, from nova's config classes as nova builds it."""
        guest = vconfig.LibvirtConfigGuest()
        guest.virt_type = LXC
        guest.name = self.name
        guest.uuid = self.instance.uuid
        guest.memory = self.instance.flavor.memory_mb * 1024
        guest.vcpus = self.instance.flavor.vcpus
        guest.os_type = 'exe'
        guest.os_init_path = '/sbin/init'
        guest.os_cmdline = 'console=tty0 console=ttyS0 console=hvc0'
        fs = vconfig.LibvirtConfigGuestFilesys()
        fs.source_type = 'mount'
        fs.source_dir = self.rootfs
        fs.target_dir = '/'
        guest.add_device(fs)
        image_meta = objects.ImageMeta.from_dict({'properties': {}})
        for vif in self.network_info:
            guest.add_device(self.vif_driver.get_config(
                self.instance, vif, image_meta, self.instance.flavor, LXC))
        console = vconfig.LibvirtConfigGuestConsole()
        console.type = 'pty'
        guest.add_device(console)
        return guest

    def start_domain(self):
        self.domain = self.conn.createXML(self.guest_config().to_xml(), 0)
        return self.domain

    def unmount_host_view(self):
        """What nova does once the container runs: the host's view goes."""
        disk_api.clean_lxc_namespace(self.rootfs)

    def boot(self):
        """Every step; returns [(step, seconds)]."""
        return _timed([('plug the ports', self.plug),
                       ('mount the root filesystem', self.mount_rootfs),
                       ('start the domain', self.start_domain),
                       ('unmount the host view', self.unmount_host_view)])

    # --- stop and remove ----------------------------------------------------

    def stop_domain(self):
        if self.domain is not None:
            if self.domain.isActive():
                self.domain.destroy()
            self.domain = None

    def release_rootfs(self):
        disk_api.teardown_container(self.rootfs, self.root_device)
        self.root_device = None

    def unplug(self):
        for vif in self.network_info:
            self.vif_driver.unplug(self.instance, vif)

    def stop(self):
        return _timed([('stop the domain', self.stop_domain),
                       ('release the root filesystem', self.release_rootfs)])

    def destroy(self):
        return self.stop() + _timed([('unplug the ports', self.unplug)])

    # --- inside the container ------------------------------------------------

    @property
    def container(self):
        """The running container (its init changes at every start)."""
        return Container(container_mtu.container_init_pid(self.domain.ID()))


class Container(object):
    """A running container, reached from the host through its init."""

    def __init__(self, init_pid):
        self.init_pid = init_pid

    def path(self, path):
        """A path inside the container, as the host reaches it."""
        return '/proc/%d/root/%s' % (self.init_pid, path.lstrip('/'))

    @property
    def netns(self):
        return '/proc/%d/ns/net' % self.init_pid

    def wait_for_exec(self, timeout=10.0):
        """Wait until libvirt's child became the container's init: -> comm."""
        deadline = time.monotonic() + timeout
        while True:
            with open('/proc/%d/comm' % self.init_pid) as f:
                comm = f.read().strip()
            if comm != LIBVIRT_LXC:
                return comm
            if time.monotonic() > deadline:
                raise TimeoutError('the container did not exec its init '
                                   'within %ss' % timeout)
            time.sleep(0.01)

    def wait_for_file(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.path(path)):
            if time.monotonic() > deadline:
                raise TimeoutError('%s did not appear in the container '
                                   'within %ss' % (path, timeout))
            time.sleep(0.02)

    def run(self, *argv, check=True, timeout=30):
        """Run a command in all of the container's namespaces."""
        return subprocess.run(
            [NSENTER, '-t', str(self.init_pid), '-a', '--'] + list(argv),
            check=check, capture_output=True, text=True, timeout=timeout)

    def configure_ip(self, vif, ifname='eth0'):
        """What DHCP from the vRouter would do: the port's fixed IP."""
        subnet = vif['network']['subnets'][0]
        prefix = subnet['cidr'].split('/')[1]
        address = subnet['ips'][0]['address']
        self.run('ip', 'addr', 'add', '%s/%s' % (address, prefix), 'dev',
                 ifname)
        self.run('ip', 'link', 'set', ifname, 'up')


def _timed(steps):
    timings = []
    for label, step in steps:
        start = time.monotonic()
        step()
        timings.append((label, time.monotonic() - start))
    return timings
