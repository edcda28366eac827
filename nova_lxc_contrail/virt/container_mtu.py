"""What a running LXC container's vRouter interfaces need, and its init.

libvirt-LXC ignores ``<mtu>``: both ends of the veth pair it creates come up
with 1500, too much for a vRouter overlay. At boot the libvirt hook
(``libvirt_hook``) sets the MTU before init runs; a NIC attached to a running
container gets it from ``hotplug_nic``. Both need the MTU each port wants,
and the latter the container's init (its network namespace).
"""

from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import vif as lxc_vif


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
