"""Give a running LXC container's vRouter interfaces the network MTU.

libvirt-LXC ignores ``<mtu>``: both ends of the veth pair it creates come up
with 1500, too much for a vRouter overlay. Once the domain runs, this sets
the network's MTU on the host end (named in the live domain XML) and on the
container end (found by MAC in the container's network namespace).
"""

from nova.virt.libvirt import config as vconfig
from oslo_log import log as logging

from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import privsep
from nova_lxc_contrail.virt import vif as lxc_vif

LOG = logging.getLogger(__name__)


def wanted_mtus(network_info):
    """{MAC: MTU} of the LXC vRouter VIFs whose network sets an MTU."""
    wanted = {}
    for vif in network_info or ():
        network = vif.get('network')
        mtu = network.get_meta('mtu') if network else None
        if mtu and lxc_vif.is_lxc_vrouter(vif, lxc_vif.LXC):
            wanted[vif['address'].lower()] = int(mtu)
    return wanted


def container_init_pid(controller_pid):
    """The container's init: the only child of libvirt's LXC controller.

    For LXC domains, libvirt reports the controller's pid as the domain id
    (-1 while the domain is not running, or on a stale domain handle).
    """
    if controller_pid <= 0:
        raise exception.NovaLxcContrailError(
            reason='the LXC domain is not running (domain id %d)' %
                   controller_pid)
    path = '/proc/%d/task/%d/children' % (controller_pid, controller_pid)
    try:
        with open(path) as f:
            children = f.read().split()
    except OSError as e:
        raise exception.NovaLxcContrailError(
            reason='cannot find the init of the LXC container whose '
                   'controller is pid %d: %s' % (controller_pid, e))
    if len(children) != 1:
        raise exception.NovaLxcContrailError(
            reason='LXC controller pid %d has %d children, expected its '
                   'container init alone' % (controller_pid, len(children)))
    return int(children[0])


def apply(guest, network_info):
    """Set the MTU of ``guest``'s vRouter interfaces; a no-op without any.

    :raises NovaLxcContrailError: naming the interface that could not be
        set.
    """
    wanted = wanted_mtus(network_info)
    if not wanted:
        return
    links = []
    for iface in guest.get_all_devices(vconfig.LibvirtConfigGuestInterface):
        mac = (iface.mac_addr or '').lower()
        if mac in wanted:
            links.append((iface.target_dev, mac, wanted.pop(mac)))
    if wanted:
        raise exception.NovaLxcContrailError(
            reason='the domain has no interface with MAC %s' %
                   ', '.join(sorted(wanted)))
    init_pid = container_init_pid(guest.id)
    try:
        privsep.set_veth_mtus(init_pid, links)
    except privsep.LinkNotFound as e:
        raise exception.NovaLxcContrailError(
            reason='cannot set the network MTU in the container: %s' % e)
    LOG.debug('Container %d: MTU set on %s', init_pid,
              ', '.join('%s/%s=%d' % link for link in links))
