"""Finish an interface libvirt-LXC hot-plugged into a running container.

libvirt-LXC's live attach makes the veth pair, enslaves the host end to the
port's bridge and moves the other end into the container, where it stays
``vnet<N>`` at MTU 1500 (libvirt names interfaces only when it starts a
container, never sizes them, and runs no hook on attach). This gives that
one interface what a boot gives: the next free ``eth<N>`` name and the
network MTU on both ends. Like a booted one, it stays down until the
container's network configuration brings it up.
"""

from nova.virt.libvirt import config as vconfig
from oslo_log import log as logging

from nova_lxc_contrail import exception
from nova_lxc_contrail.virt import container_mtu
from nova_lxc_contrail.virt import privsep

LOG = logging.getLogger(__name__)


def host_end(guest, mac):
    """The ``<target dev>`` of ``guest``'s live interface with ``mac``."""
    for iface in guest.get_all_devices(vconfig.LibvirtConfigGuestInterface):
        if (iface.mac_addr or '').lower() == mac:
            return iface.target_dev
    raise exception.NovaLxcContrailError(
        reason='the domain has no interface with MAC %s' % mac)


def finish(guest, vif):
    """Name and size the container end of ``vif``, and the host end.

    :returns: the interface's name in the container.
    :raises NovaLxcContrailError: naming what could not be done.
    """
    mac = vif['address'].lower()
    target = host_end(guest, mac)
    mtu = container_mtu.wanted_mtus([vif]).get(mac)
    init_pid = container_mtu.container_init_pid(guest.id)
    try:
        name = privsep.finish_hotplugged_veth(init_pid, target, mac, mtu)
    except privsep.LinkNotFound as e:
        raise exception.NovaLxcContrailError(
            reason='cannot finish the interface attached to the container: '
                   '%s' % e)
    LOG.debug('Container %d: attached %s (MAC %s, host end %s, MTU %s)',
              init_pid, name, mac, target, mtu or 'unchanged')
    return name
