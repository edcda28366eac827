"""Loads nova-lxc-contrail's driver for ``compute_driver = lxc_contrail.LxcContrailDriver``.

nova imports compute drivers as ``nova.virt.<compute_driver>``; this module
is the only file this package installs into nova's tree.
"""

from nova_lxc_contrail.virt.driver import LxcContrailDriver  # noqa: F401
