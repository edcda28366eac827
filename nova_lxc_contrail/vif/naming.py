"""Host device names of a port, derived from its Neutron port id.

Per port the host carries:

* the tap, named like nova names the port's devname: ``tap`` + 11 id chars;
* the per-port bridge holding the tap, ``br`` + the devname without
  ``tap`` (the name the old contrail Nova VIF driver used). It is the device
  registered with the vRouter agent as ``system-name``;
* the host end of the veth pair libvirt-LXC creates for the container,
  ``ve`` + 11 id chars. libvirt fails to start the domain when a device of
  that name already exists, so it must differ from the tap.
"""

import uuid

from nova_lxc_contrail import exception

# IFNAMSIZ is 16 bytes including the terminating NUL.
MAX_IFNAME_BYTES = 15
_ID_CHARS = 11
TAP_PREFIX = 'tap'
BRIDGE_PREFIX = 'br'
VETH_PREFIX = 've'


def port_id(value):
    """Return ``value`` as a canonical (lower-case, dashed) port UUID.

    :raises InvalidPort: when ``value`` is not a UUID in its dashed form.
    """
    if not isinstance(value, str):
        raise exception.InvalidPort(port=value, reason='the port id must be '
                                    'a UUID string, got %s' %
                                    type(value).__name__)
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        canonical = None
    if canonical != value.lower():
        raise exception.InvalidPort(
            port=value, reason='the port id is not a UUID '
            '(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)')
    return canonical


def tap_name(pid):
    return TAP_PREFIX + port_id(pid)[:_ID_CHARS]


def bridge_name(pid):
    return BRIDGE_PREFIX + port_id(pid)[:_ID_CHARS]


def veth_name(pid):
    return VETH_PREFIX + port_id(pid)[:_ID_CHARS]


def validate_ifname(name, what='interface name'):
    """Check ``name`` is a name the kernel accepts for a network device.

    :raises InvalidPort: naming what is wrong.
    """
    if not isinstance(name, str) or not name:
        raise exception.InvalidPort(port=name, reason='empty %s' % what)
    size = len(name.encode('utf-8'))
    if size > MAX_IFNAME_BYTES:
        raise exception.InvalidPort(
            port=name, reason='%s %r is %d bytes long, the kernel allows %d'
            % (what, name, size, MAX_IFNAME_BYTES))
    if name in ('.', '..') or any(c in name for c in '/:') or \
            any(c.isspace() for c in name):
        raise exception.InvalidPort(
            port=name, reason='%s %r contains a character the kernel '
            'refuses (/, : or white space)' % (what, name))
    return name
