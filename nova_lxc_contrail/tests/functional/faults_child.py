"""A plugging process that SIGKILLs itself before its Nth step.

Usage (from test_faults): python -m nova_lxc_contrail.tests.functional.
faults_child SPEC_JSON, SPEC = {"op": "plug"|"unplug"|"setup", "kill_at": N,
...}.

Steps are the operations that change state outside the process: netlink
requests that add, set or delete links, the tap's creation and its
TUNSETPERSIST, port file writes and removals, HTTP
requests to the agent, and for the root filesystem every record save, qemu
daemon start, loop attach, mount, unmount and loop release. The hooks wrap
the real functions (privsep runs in this process, so a kill lands between
two kernel operations, the harshest case: a real privsep daemon would finish
the request in flight). Before step ``kill_at`` the process sends itself
SIGKILL: no cleanup handler, finally block or atexit runs. A run that does
not reach ``kill_at`` prints {"steps": total} and exits 0.
"""

import inspect
import json
import os
import signal
import sys

STEPS = []


def _step(name):
    STEPS.append(name)
    if len(STEPS) == SPEC['kill_at']:
        sys.stderr.write('killed before step %d: %s\n' % (len(STEPS), name))
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner, attribute, label, mutating=None):
    original = getattr(owner, attribute)

    def wrapper(*args, **kwargs):
        if mutating is None or mutating(args, kwargs):
            _step('%s %s' % (label, _describe(args)))
        return original(*args, **kwargs)
    setattr(owner, attribute, wrapper)


def _wrap_link(owner, attribute, label, mutating):
    """A step before each mutating netlink link request.

    pyroute2 0.9's RTNL_API.link is a coroutine (its sync API awaits it),
    0.8's a plain method.
    """
    original = getattr(owner, attribute)

    def announce(args, kwargs):
        if mutating(args, kwargs):
            _step('%s %s %s' % (label, args[:1], kwargs.get('ifname') or
                                kwargs.get('index') or kwargs.get('group')))

    if inspect.iscoroutinefunction(original):
        async def wrapper(self, *args, **kwargs):
            announce(args, kwargs)
            return await original(self, *args, **kwargs)
    else:
        def wrapper(self, *args, **kwargs):
            announce(args, kwargs)
            return original(self, *args, **kwargs)
    setattr(owner, attribute, wrapper)


def _describe(args):
    return ' '.join(str(a)[:40] for a in args[:2])


def _is_lookup(command):
    """A link request that changes nothing: 'get', 'dump' or RTM_GETLINK."""
    from pyroute2.netlink.rtnl import RTM_GETLINK

    if isinstance(command, (tuple, list)):
        return command[0] == RTM_GETLINK
    return command in ('get', 'dump')


def hook_vif():
    from pyroute2.iproute import linux

    from nova_lxc_contrail.vif import agent
    from nova_lxc_contrail.vif import linux_net

    _wrap_link(linux.RTNL_API, 'link', 'netlink link',
               lambda args, kwargs: not _is_lookup(args[0]))
    _wrap(linux_net, '_open_tap', 'tap create (TUNSETIFF)')
    _wrap(linux_net, '_persist_tap', 'tap persist (TUNSETPERSIST)')
    _wrap(agent.PortFiles, 'write', 'port file write')
    _wrap(agent.PortFiles, 'remove', 'port file remove')
    _wrap(agent.AgentClient, '_request', 'agent HTTP')


def hook_disk():
    from nova_lxc_contrail.disk import export
    from nova_lxc_contrail.disk import loop
    from nova_lxc_contrail.disk import mount
    from nova_lxc_contrail.disk import privsep
    from nova_lxc_contrail.disk import state

    _wrap(state, 'save', 'record save')
    _wrap(export, '_run', 'qemu daemon')
    _wrap(loop, 'attach', 'loop attach')
    _wrap(loop, 'detach', 'loop detach')
    _wrap(mount, 'mount', 'mount')
    _wrap(mount, 'umount', 'umount')
    _wrap(privsep, 'check_init', 'init check')
    from nova_lxc_contrail.disk import idmap
    _wrap(privsep, 'map_rootfs', 'map rootfs')
    _wrap(idmap, 'userns_fd', 'user namespace')
    _wrap(idmap, 'idmapped_clone', 'idmapped clone')
    _wrap(mount, 'move', 'mount move')


def main():
    global SPEC
    SPEC = json.loads(sys.argv[1])
    from oslo_config import cfg

    import nova.conf  # noqa: F401
    from nova_lxc_contrail import conf as nlc_conf  # noqa: F401

    conf = cfg.CONF
    conf([], project='nova-lxc-contrail-faults', default_config_files=[])
    for key, value in SPEC.get('lxc_contrail', {}).items():
        conf.set_override(key, value, group='lxc_contrail')

    if SPEC['op'] in ('plug', 'unplug'):
        from nova_lxc_contrail.tests import vif_fixtures
        from nova_lxc_contrail.vif import plugin
        from nova_lxc_contrail.vif import privsep
        privsep.vif_plug.set_client_mode(False)
        hook_vif()
        vif = vif_fixtures.vif(SPEC['port_id'])
        info = vif_fixtures.instance_info(uuid=SPEC['instance'])
        lxc_plugin = plugin.LxcContrailPlugin.load(plugin.PLUGIN_NAME)
        getattr(lxc_plugin, SPEC['op'])(vif, info)
    elif SPEC['op'] == 'setup':
        from nova.virt.image import model as imgmodel

        from nova_lxc_contrail.disk import api
        from nova_lxc_contrail.disk import privsep
        privsep.disk_pctxt.set_client_mode(False)
        hook_disk()
        from nova_lxc_contrail.disk import idmap
        id_maps = None
        if SPEC.get('id_maps'):
            id_maps = idmap.container_maps(*SPEC['id_maps'])
        api.setup_container(
            imgmodel.LocalFileImage(SPEC['disk'], SPEC['format']),
            SPEC['container_dir'], id_maps=id_maps)
    else:
        raise SystemExit('unknown op %r' % SPEC['op'])
    print(json.dumps({'steps': len(STEPS), 'names': STEPS}))


if __name__ == '__main__':
    main()
