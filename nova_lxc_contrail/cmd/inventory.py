"""What the host has for each port: file, devices, domain, agent answer.

``ports list``, ``ports resync`` and ``cleanup`` start from this one
picture. Ports are keyed by the 11 port-id characters every device name of
a port carries (``naming``); a port file gives the full id.
"""

import dataclasses
import re
import xml.etree.ElementTree as ElementTree

from oslo_log import log as logging
from pyroute2 import IPRoute
import requests

from nova_lxc_contrail.cmd import libvirt_ro
from nova_lxc_contrail.vif import agent
from nova_lxc_contrail.vif import linux_net
from nova_lxc_contrail.vif import naming

LOG = logging.getLogger(__name__)

KEY_LENGTH = 11
# The first 11 characters of a lower-case dashed UUID.
_KEY = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{2}$')
PREFIXES = {'tap': naming.TAP_PREFIX, 'bridge': naming.BRIDGE_PREFIX,
            'veth': naming.VETH_PREFIX}


def key_of(name, prefix):
    """The port key of a device name, or None if it is not of our naming."""
    if not name.startswith(prefix):
        return None
    key = name[len(prefix):]
    return key if _KEY.match(key) else None


@dataclasses.dataclass
class Domain:
    uuid: str
    name: str
    active: bool
    # Host-side device names of its interfaces (target dev, source bridge).
    devices: tuple = ()


@dataclasses.dataclass
class Port:
    key: str
    port_id: str = None
    file: dict = None
    tap: dict = None
    bridge: dict = None
    veth: dict = None
    domain: Domain = None
    # 'registered', 'not registered' (404), 'unreachable' or None (not asked)
    agent: str = None

    @property
    def names(self):
        return {kind: prefix + self.key for kind, prefix in PREFIXES.items()}

    @property
    def file_is_ours(self):
        return bool(self.file) and self.file.get('author') == agent.AUTHOR

    @property
    def instance_id(self):
        return (self.file or {}).get('instance-id')

    @property
    def marked(self):
        """The devices carry the link-group mark this package's plug sets."""
        return any(dev and dev['group'] and
                   dev['group'] & linux_net.PORT_GROUP_BASE
                   for dev in (self.tap, self.bridge))

    @property
    def ours(self):
        """Evidence that this package made the port: file or device mark."""
        return self.file_is_ours or self.marked

    def problems(self, promiscuous=True):
        """What does not match a healthy plugged port, in words."""
        found = []
        if self.file is None:
            found.append('no port file')
        elif self.file.get('system-name') != self.names['bridge']:
            found.append('file system-name %s is not %s' % (
                self.file.get('system-name'), self.names['bridge']))
        if self.bridge is None:
            found.append('no bridge')
        elif promiscuous and not self.bridge['promiscuous']:
            found.append('bridge not promiscuous')
        elif not self.bridge['up']:
            found.append('bridge down')
        if self.tap is None:
            found.append('no tap')
        elif self.bridge is not None and \
                self.tap['master'] != self.bridge['index']:
            found.append('tap not in bridge')
        elif not self.tap['up']:
            found.append('tap down')
        if self.domain is None and self.file is not None:
            found.append('no libvirt domain for instance %s' %
                         self.instance_id)
        elif self.domain is not None and not self.domain.active:
            found.append('domain %s not running' % self.domain.name)
        if self.agent == 'not registered':
            found.append('agent has no config for it (404)')
        elif self.agent == 'unreachable':
            found.append('agent unreachable')
        return found


def libvirt_domains(uri):
    """Every domain of ``uri`` with its interfaces' host devices.

    :raises libvirt_ro.LibvirtUnavailable:
    """
    def list_domains(conn):
        import libvirt
        domains = []
        for dom in conn.listAllDomains():
            try:
                xml = dom.XMLDesc(0)
                active = bool(dom.isActive())
            except libvirt.libvirtError:
                continue  # went away while listing
            domains.append(Domain(dom.UUIDString(), dom.name(), active,
                                  tuple(_interface_devices(xml))))
        return domains

    return libvirt_ro.query(uri, list_domains)


def _interface_devices(xml):
    root = ElementTree.fromstring(xml)
    for interface in root.findall('./devices/interface'):
        target = interface.find('target')
        if target is not None and target.get('dev'):
            yield target.get('dev')
        source = interface.find('source')
        if source is not None and source.get('bridge'):
            yield source.get('bridge')


def device_names():
    """Names of every network device of this namespace (one dump)."""
    with IPRoute() as ipr:
        return [link.get_attr('IFLA_IFNAME') for link in ipr.get_links()]


def collect(conf, ask_agent=True, domains=None):
    """{key: Port} of everything the host has; and the libvirt error.

    :param domains: the domains when already known; None asks libvirt.
    :returns: (ports, libvirt_error or None)
    """
    ports = {}

    def port(key):
        return ports.setdefault(key, Port(key))

    for pid, payload in agent.PortFiles(
            conf.lxc_contrail.ports_dir).read_all().items():
        entry = port(pid[:KEY_LENGTH])
        entry.port_id, entry.file = pid, payload
    for name in device_names():
        for kind, prefix in PREFIXES.items():
            key = key_of(name, prefix)
            if key is not None:
                setattr(port(key), kind, linux_net.device_state(name))
    libvirt_error = None
    if domains is None:
        try:
            domains = libvirt_domains(libvirt_ro.uri_of(conf))
        except libvirt_ro.LibvirtUnavailable as e:
            libvirt_error = str(e)
            domains = []
    by_uuid = {d.uuid: d for d in domains}
    for domain in domains:
        for name in domain.devices:
            for prefix in PREFIXES.values():
                key = key_of(name, prefix)
                if key is not None:
                    port(key).domain = domain
    for entry in ports.values():
        if entry.domain is None and entry.instance_id in by_uuid:
            entry.domain = by_uuid[entry.instance_id]
    if ask_agent:
        ask_agent_about(conf, ports.values())
    return ports, libvirt_error


def agent_client(conf):
    group = conf.lxc_contrail
    return agent.AgentClient(group.agent_url, group.agent_connect_timeout,
                             group.agent_read_timeout)


def agent_error(conf):
    """Why the agent does not answer HTTP at all, or None when it does.

    ``GET /port/<nil uuid>`` is harmless and answers 404 on a live agent.
    """
    group = conf.lxc_contrail
    try:
        requests.get(group.agent_url.rstrip('/') + '/port/' + NIL_PORT,
                     timeout=(group.agent_connect_timeout,
                              group.agent_read_timeout))
    except (requests.ConnectionError, requests.Timeout) as e:
        return _short_reason(e)
    return None


def _short_reason(error):
    """'connection refused' rather than urllib3's nested repr."""
    if isinstance(error, requests.Timeout):
        return 'no answer in time'
    found = re.search(r'\[Errno -?\d+\] ([^\'"]+)', str(error))
    return found.group(1).strip() if found else str(error)


def ask_agent_about(conf, ports):
    """Fill ``Port.agent`` from ``GET /port/<uuid>`` for ports with an id.

    When the agent does not answer at all, no port is asked: each would
    wait for the same timeout.
    """
    ports = [p for p in ports if p.port_id is not None]
    if not ports:
        return
    if agent_error(conf) is not None:
        for entry in ports:
            entry.agent = 'unreachable'
        return
    client = agent_client(conf)
    try:
        for entry in ports:
            entry.agent = ('registered' if client.get(entry.port_id)
                           is not None else 'not registered')
    finally:
        client.close()


NIL_PORT = '00000000-0000-0000-0000-000000000000'
