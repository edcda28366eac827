"""Builders and fixtures shared by the VIF tests (unit and functional)."""

import os
import uuid

import fixtures
from os_vif.objects import fixed_ip as osv_fixed_ip
from os_vif.objects import instance_info as osv_instance_info
from os_vif.objects import network as osv_network
from os_vif.objects import subnet as osv_subnet
from os_vif.objects import vif as osv_vifs
from oslo_config import fixture as config_fixture

from nova_lxc_contrail import conf as nlc_conf
from nova_lxc_contrail.standin import agent as standin_agent
from nova_lxc_contrail.vif import naming
from nova_lxc_contrail.vif import privsep

NETWORK_ID = '56297dc0-5553-4e6a-b87f-8423afc21e9d'
INSTANCE_ID = '69ce06bd-6d1e-43d0-8e48-a30043a49ed8'
PROJECT_ID = '9970147c33b14bf789448968e708d430'


def new_port_id():
    return str(uuid.uuid4())


def mac_for(port_id):
    return '02:' + ':'.join(port_id.replace('-', '')[i:i + 2]
                            for i in range(0, 10, 2))


def network(mtu=1400, ips=('11.0.0.3',), network_id=NETWORK_ID):
    subnet = osv_subnet.Subnet(
        cidr='11.0.0.0/24',
        ips=osv_fixed_ip.FixedIPList(
            objects=[osv_fixed_ip.FixedIP(address=ip) for ip in ips]))
    net = osv_network.Network(subnets=osv_subnet.SubnetList(objects=[subnet]))
    if network_id is not None:
        net.id = network_id
    if mtu is not None:
        net.mtu = mtu
    return net


def vif(port_id=None, mac=None, net=None, **kwargs):
    """An os-vif VIFBridge for the lxc_contrail plugin."""
    port_id = port_id or new_port_id()
    fields = dict(id=port_id, address=mac or mac_for(port_id),
                  network=net if net is not None else network(),
                  plugin='lxc_contrail', vif_name=naming.tap_name(port_id),
                  bridge_name=naming.bridge_name(port_id))
    fields.update(kwargs)
    return osv_vifs.VIFBridge(**{k: v for k, v in fields.items()
                                 if v is not None})


def instance_info(name='vm1', uuid=INSTANCE_ID, project_id=PROJECT_ID):
    return osv_instance_info.InstanceInfo(uuid=uuid, name=name,
                                          project_id=project_id)


def expected_payload(v, info=None, ip='11.0.0.3'):
    info = info or instance_info()
    return {
        'id': v.id, 'instance-id': info.uuid, 'vn-id': v.network.id,
        'vm-project-id': str(uuid.UUID(info.project_id)),
        'display-name': info.name, 'ip-address': ip, 'ip6-address': '',
        'system-name': naming.bridge_name(v.id), 'mac-address': v.address,
        'type': 0, 'rx-vlan-id': -1, 'tx-vlan-id': -1,
    }


class AgentFixture(fixtures.Fixture):
    """A ports dir, the agent stand-in on loopback, [lxc_contrail] set.

    ``start=False`` leaves the agent down (its port refuses connections).
    """

    def __init__(self, start=True, read_timeout=2.0, **standin_kwargs):
        super().__init__()
        self._start = start
        self._read_timeout = read_timeout
        self._standin_kwargs = standin_kwargs

    def _setUp(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        self.ports_dir = os.path.join(tmp, 'ports')
        self.standin = standin_agent.AgentStandin(self.ports_dir,
                                                  **self._standin_kwargs)
        self.addCleanup(self.standin.stop)
        if self._start:
            self.standin.start()
        self.conf = self.useFixture(config_fixture.Config(nlc_conf.CONF))
        self.conf.config(group='lxc_contrail', agent_url=self.standin.url,
                         ports_dir=self.ports_dir,
                         agent_connect_timeout=1.0,
                         agent_read_timeout=self._read_timeout)

    def port_files(self):
        try:
            return sorted(os.listdir(self.ports_dir))
        except FileNotFoundError:
            return []


class InProcessPrivsep(fixtures.Fixture):
    """Run the VIF privsep entrypoints in this (root) process."""

    def _setUp(self):
        privsep.vif_plug.set_client_mode(False)
        self.addCleanup(privsep.vif_plug.set_client_mode, True)
