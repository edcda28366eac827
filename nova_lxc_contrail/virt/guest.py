"""nova's libvirt Guest for LXC containers, asking them to shut down properly.

libvirt-LXC asks a container to shut down by writing a power-off request to
the initctl FIFO its init listens on (sysvinit, systemd). Without one
(busybox init, a shell script, tini...) libvirt means to send SIGTERM to the
init instead, but libvirt 9 sends nothing: nova's stop then waits
``[DEFAULT] shutdown_timeout`` and its soft reboot
``[libvirt] wait_soft_reboot_seconds`` before forcing. ``LxcGuest.shutdown``
asks libvirt for the SIGTERM itself when the container has no initctl FIFO.

busybox init reads SIGTERM as "reboot": it restarts the container, which
nova's soft reboot accepts; its stop still takes the shutdown timeout
(an image can set ``os_shutdown_timeout``).

``LxcHost`` is nova's Host with ``get_guest`` returning nova's Guest rewrapped
as an ``LxcGuest`` (nova's lookup and error handling stay nova's).
"""

import libvirt
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt import host as libvirt_host
from oslo_log import log as logging

from nova_lxc_contrail.virt import container_mtu
from nova_lxc_contrail.virt import privsep

LOG = logging.getLogger(__name__)


class LxcGuest(libvirt_guest.Guest):

    def shutdown(self):
        if self._init_has_initctl():
            super().shutdown()
        else:
            LOG.info('Container %s has no initctl FIFO: asking libvirt to '
                     'send SIGTERM to its init', self.name)
            self._domain.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_SIGNAL)

    def _init_has_initctl(self):
        try:
            init_pid = container_mtu.container_init_pid(self.id)
            return privsep.initctl_fifo(init_pid) is not None
        except Exception as e:
            # Whatever went wrong, libvirt's own request is still right for
            # containers with a FIFO and harmless for the others.
            LOG.warning('Cannot tell whether container %s listens on '
                        'initctl (%s); using libvirt\'s default shutdown',
                        self.name, e)
            return True


class LxcHost(libvirt_host.Host):

    def get_guest(self, instance):
        return LxcGuest(super().get_guest(instance)._domain)
