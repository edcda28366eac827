"""Errors of nova-lxc-contrail.

Each error says what is wrong in words an operator can act on. All derive
from ``NovaLxcContrailError``, which derives from nova's ``NovaException`` so
that nova records the message as the instance fault.
"""

from nova import exception as nova_exception


class NovaLxcContrailError(nova_exception.NovaException):
    msg_fmt = '%(reason)s'


# --- VIF driver and vRouter agent client ------------------------------------

class InvalidPort(NovaLxcContrailError):
    msg_fmt = 'Invalid port %(port)s: %(reason)s'


class AgentError(NovaLxcContrailError):
    msg_fmt = ('vRouter agent refused port %(port)s (HTTP %(status)s): '
               '%(reason)s')


# --- Container root filesystem ----------------------------------------------

class ImageError(NovaLxcContrailError):
    msg_fmt = 'Image %(image)s: %(reason)s'


# --- Nova glue --------------------------------------------------------------

class ConfigError(NovaLxcContrailError):
    msg_fmt = 'Invalid configuration: %(reason)s'


# --- Container root filesystem (nova_lxc_contrail.disk) ---------------------

class InvalidPartitionTable(ImageError):
    msg_fmt = 'Image %(image)s: invalid partition table: %(reason)s'


class RootfsError(ImageError):
    """The chosen root (partition or whole disk) cannot serve as a rootfs."""
    msg_fmt = 'Image %(image)s, %(partition)s: %(reason)s'


class UnsupportedImage(ImageError):
    msg_fmt = 'Image %(image)s: %(reason)s'


class DiskAttachError(NovaLxcContrailError):
    msg_fmt = 'Cannot attach image %(image)s: %(reason)s'
