"""Speaking to the vRouter agent: port files and its HTTP port API.

The agent's contract (tf-controller src/vnsw/agent/port_ipc): one JSON file
per port in the ports dir, named by the port UUID, replayed by the agent
when it starts; ``POST /port`` to add, ``DELETE /port/<uuid>`` to remove,
``GET /port/<uuid>`` for the operational state. The client writes the file
first, then POSTs; on delete it removes the file, then sends DELETE. An
unreachable agent is not an error: the file is the delivery.
"""

import contextlib
import datetime
import ipaddress
import json
import os
import uuid

from oslo_log import log as logging
from oslo_utils import netutils
import requests

from nova_lxc_contrail import conf as nlc_conf
from nova_lxc_contrail import exception
from nova_lxc_contrail.vif import naming

LOG = logging.getLogger(__name__)
CONF = nlc_conf.CONF

PORT_TYPE_NOVA_VM = 0
NO_VLAN = -1
AUTHOR = 'nova-lxc-contrail'
# Keys the file carries besides the registration itself.
META_KEYS = ('author', 'time')


def _uuid(value, field, port):
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise exception.InvalidPort(
            port=port, reason='%s %r is not a UUID' % (field, value))


def _project_id(value):
    """Keystone ids have no dashes; the agent wants the dashed form."""
    if not value:
        return ''
    try:
        return str(uuid.UUID(value))
    except ValueError:
        LOG.debug('Project id %r is not a UUID; registering without it',
                  value)
        return ''


def _fixed_ips(network):
    if 'subnets' not in network:
        return
    for subnet in network.subnets.objects:
        if 'ips' not in subnet:
            continue
        for ip in subnet.ips.objects:
            yield ipaddress.ip_address(str(ip.address))


def validate_mac(mac, port):
    """The agent's own test: xx:xx:xx:xx:xx:xx (five colons), not zero."""
    if not isinstance(mac, str) or not netutils.is_valid_mac(mac) or \
            mac.count(':') != 5:
        raise exception.InvalidPort(
            port=port, reason='MAC address %r is not a MAC '
            '(expected xx:xx:xx:xx:xx:xx)' % (mac,))
    if int(mac.replace(':', ''), 16) == 0:
        raise exception.InvalidPort(port=port,
                                    reason='MAC address is all zero')
    return mac.lower()


def build_payload(vif, instance_info, system_name):
    """The ``POST /port`` body for an os-vif VIF, as a NovaVMPort (type 0).

    :param vif: os-vif VIF object (id, address, network with an id).
    :param instance_info: os-vif InstanceInfo (uuid, name, project_id).
    :param system_name: the host interface the vRouter attaches to.
    :raises InvalidPort: naming the missing or malformed field.
    """
    vif_id = vif.id if 'id' in vif else None
    if not vif_id:
        raise exception.InvalidPort(port='(no id)',
                                    reason='the VIF has no port id')
    pid = naming.port_id(str(vif_id))
    if 'address' not in vif or not vif.address:
        raise exception.InvalidPort(port=pid,
                                    reason='the VIF has no MAC address')
    mac = validate_mac(str(vif.address), pid)
    network = vif.network if 'network' in vif else None
    if network is None or 'id' not in network or not network.id:
        raise exception.InvalidPort(
            port=pid, reason='the VIF has no network (the vRouter needs the '
            'virtual network id)')
    vn_id = _uuid(network.id, 'network id', pid)
    if uuid.UUID(vn_id).int == 0:
        raise exception.InvalidPort(port=pid,
                                    reason='the network id is the nil UUID')
    if instance_info is None or 'uuid' not in instance_info:
        raise exception.InvalidPort(port=pid,
                                    reason='no instance UUID for the port')
    naming.validate_ifname(system_name, 'system-name')
    ips = list(_fixed_ips(network))
    ip4 = next((str(ip) for ip in ips if ip.version == 4), '0.0.0.0')
    ip6 = next((str(ip) for ip in ips if ip.version == 6), '')
    project = instance_info.project_id if 'project_id' in instance_info \
        else None
    return {
        'id': pid,
        'instance-id': _uuid(instance_info.uuid, 'instance uuid', pid),
        'vn-id': vn_id,
        'vm-project-id': _project_id(project),
        'display-name': instance_info.name if 'name' in instance_info
        else '',
        'ip-address': ip4,
        'ip6-address': ip6,
        'system-name': system_name,
        'mac-address': mac,
        'type': PORT_TYPE_NOVA_VM,
        'rx-vlan-id': NO_VLAN,
        'tx-vlan-id': NO_VLAN,
    }


def registration(payload):
    """The payload without the file's meta keys."""
    return {k: v for k, v in payload.items() if k not in META_KEYS}


def _comparable(key, value):
    if key in ('ip-address', 'ip6-address'):
        # The agent writes '::' and '0.0.0.0' for "none"; clients '' or
        # 'None'.
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        return None if address.is_unspecified else address
    if isinstance(value, str):
        return value.lower()
    return value


def registration_changes(old, new):
    """Keys of ``new`` whose value ``old`` (e.g. the port file) differs in.

    A changed registration must be deleted before it is added again.
    """
    return sorted(k for k in registration(new)
                  if _comparable(k, (old or {}).get(k)) !=
                  _comparable(k, new[k]))


class PortFiles(object):
    """The ports dir: one JSON file per port, named by its UUID."""

    def __init__(self, ports_dir=None):
        self.ports_dir = ports_dir or CONF.lxc_contrail.ports_dir

    def path(self, port_id):
        return os.path.join(self.ports_dir, naming.port_id(port_id))

    def read(self, port_id):
        """The file's JSON, or None when absent or unreadable."""
        path = self.path(port_id)
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            LOG.warning('Ignoring unreadable port file %s: %s', path, e)
            return None

    def read_all(self):
        """``{port_id: payload}`` of every UUID-named file.

        Like the agent's replay, other names are skipped.
        """
        try:
            names = os.listdir(self.ports_dir)
        except FileNotFoundError:
            return {}
        ports = {}
        for name in sorted(names):
            try:
                pid = naming.port_id(name)
            except exception.InvalidPort:
                continue
            if pid != name:
                continue
            payload = self.read(pid)
            if payload is not None:
                ports[pid] = payload
        return ports

    def write(self, payload):
        """Write atomically (rename), adding ``author`` and ``time``."""
        pid = naming.port_id(payload['id'])
        data = dict(registration(payload), author=AUTHOR,
                    time=str(datetime.datetime.now()))
        path = self.path(pid)
        # Not UUID-named, so the agent never replays a half-written file.
        tmp = os.path.join(self.ports_dir, '.%s.tmp' % pid)
        try:
            os.makedirs(self.ports_dir, mode=0o755, exist_ok=True)
            with open(tmp, 'w') as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise exception.NovaLxcContrailError(
                reason='cannot write the port file of %s in %s: %s ([%s] '
                'ports_dir must be writable by this service\'s user)' %
                (pid, self.ports_dir, e.strerror or e, 'lxc_contrail'))
        return path

    def remove(self, port_id):
        """Remove the file; False when there was none."""
        try:
            os.unlink(self.path(port_id))
        except FileNotFoundError:
            return False
        return True


# What an unanswered request means, for the warning. The client writes the
# port file before POST and removes it before DELETE; the agent replays the
# files it finds when it (re)starts.
_UNANSWERED_POST = ('The port file stays: the agent adds the port from it '
                    'when it (re)starts.')
_UNANSWERED_DELETE = ('The port file is already removed: when it '
                      '(re)starts the agent will not add this registration '
                      'again; until then it may keep it.')
_UNANSWERED_GET = 'The agent\'s view of the port is unknown.'
_UNANSWERED_SYNC = 'No stale-port audit was started.'


class AgentClient(object):
    """The agent's HTTP port API over one kept-alive session.

    ``register``, ``unregister`` and ``sync`` return True when the agent
    answered 200 and False when it could not be reached or did not answer
    in time (logged as a warning saying what that means for the port). Any
    other answer raises ``AgentError`` carrying the agent's message.
    """

    def __init__(self, url=None, connect_timeout=None, read_timeout=None):
        group = CONF.lxc_contrail
        self.url = (url or group.agent_url).rstrip('/')
        self.timeout = (
            connect_timeout if connect_timeout is not None
            else group.agent_connect_timeout,
            read_timeout if read_timeout is not None
            else group.agent_read_timeout)
        self._session = requests.Session()
        # The agent is local: no proxy or netrc from the environment.
        self._session.trust_env = False

    def close(self):
        self._session.close()

    def _request(self, method, path, port, unanswered, **kwargs):
        """The response, or None when the agent did not answer.

        :param unanswered: what no answer means, for the warning.
        """
        url = self.url + path
        try:
            return self._session.request(method, url, timeout=self.timeout,
                                         **kwargs)
        except (requests.ConnectionError, requests.Timeout) as e:
            LOG.warning('vRouter agent at %(url)s is not answering '
                        '(%(method)s %(path)s for port %(port)s): %(err)s. '
                        '%(unanswered)s',
                        {'url': self.url, 'method': method, 'path': path,
                         'port': port, 'err': e, 'unanswered': unanswered})
            return None

    @staticmethod
    def _error(response, port):
        try:
            reason = response.json().get('error', response.text)
        except (ValueError, AttributeError):
            reason = response.text
        return exception.AgentError(port=port, status=response.status_code,
                                    reason=reason)

    def register(self, payload):
        """``POST /port`` with the payload (meta keys dropped)."""
        body = registration(payload)
        response = self._request('POST', '/port', body['id'],
                                 _UNANSWERED_POST, json=body)
        if response is None:
            return False
        if response.status_code != 200:
            raise self._error(response, body['id'])
        return True

    def unregister(self, port_id):
        """``DELETE /port/<uuid>``."""
        pid = naming.port_id(port_id)
        response = self._request('DELETE', '/port/' + pid, pid,
                                 _UNANSWERED_DELETE)
        if response is None:
            return False
        if response.status_code != 200:
            raise self._error(response, pid)
        return True

    def get(self, port_id):
        """``GET /port/<uuid>``: the agent's view of the port.

        None when it has none (404, also until the control node's config
        arrived) or is not answering.
        """
        pid = naming.port_id(port_id)
        response = self._request('GET', '/port/' + pid, pid,
                                 _UNANSWERED_GET)
        if response is None or response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._error(response, pid)
        return response.json()

    def sync(self):
        """``POST /syncports``: start the agent's stale-port audit.

        The agent deletes ports not re-added within its stale timeout
        (namespace ports excepted).
        """
        response = self._request('POST', '/syncports', '(all)',
                                 _UNANSWERED_SYNC)
        if response is None:
            return False
        if response.status_code != 200:
            raise self._error(response, '(all)')
        return True
