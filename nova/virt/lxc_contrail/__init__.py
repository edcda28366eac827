"""nova-lxc-contrail's compute driver, where nova looks for it.

``compute_driver = lxc_contrail.LxcContrailDriver``: nova imports compute
drivers as ``nova.virt.<compute_driver>``. This module is the only file this
package installs into nova's tree.
"""

from nova_lxc_contrail.virt.driver import LxcContrailDriver  # noqa: F401
