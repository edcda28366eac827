"""The oslo.privsep sections of the privileged helpers.

Each privileged helper is an oslo.privsep context with a section of its own,
named like the options group: ``[lxc_contrail_<area>_privileged]``. It holds
oslo.privsep's options (``helper_command``, ``capabilities``, ``user``,
``group``, ``thread_pool_size``, ...).

nova-compute runs as an unprivileged user, so it starts each daemon through
the section's ``helper_command``, e.g. ``sudo nova-rootwrap
/etc/nova/rootwrap.conf privsep-helper --config-file /etc/nova/nova.conf``,
which ``etc/nova/rootwrap.d/nova-lxc-contrail.filters`` allows for these
contexts only.
"""

from oslo_privsep import priv_context

VIF = 'lxc_contrail_vif_privileged'
DISK = 'lxc_contrail_disk_privileged'
CONTAINER_NET = 'lxc_contrail_container_net_privileged'
CONSOLE = 'lxc_contrail_console_privileged'
CLI = 'lxc_contrail_cli_privileged'

# section: (python path of its PrivContext, what it does). The python path
# is privsep-helper's --privsep_context.
CONTEXTS = {
    VIF: ('nova_lxc_contrail.vif.privsep.vif_plug',
          'port devices: taps and bridges (CAP_NET_ADMIN)'),
    DISK: ('nova_lxc_contrail.disk.privsep.disk_pctxt',
           'container root filesystems: loop devices, mounts, qcow2 exports '
           '(CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_SETUID, CAP_SETGID)'),
    CONTAINER_NET: ('nova_lxc_contrail.virt.privsep.container_net_pctxt',
                    'links inside running containers (CAP_NET_ADMIN, '
                    'CAP_SYS_ADMIN, CAP_SYS_PTRACE)'),
    CONSOLE: ('nova_lxc_contrail.virt.console.console_pctxt',
              'container console logs: draining each console pty into '
              'the instance dir (CAP_DAC_OVERRIDE)'),
    CLI: ('nova_lxc_contrail.cmd.netrepair.net_admin',
          'the nova-lxc-contrail command\'s repairs (CAP_NET_ADMIN)'),
}


def list_opts():
    return {section: priv_context.OPTS for section in CONTEXTS}
