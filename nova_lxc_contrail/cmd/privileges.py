"""Privsep daemons of the operator command.

Commands that change devices or mounts (``ports resync``, ``cleanup``) go
through the same privsep contexts as nova-compute. Run as root, the daemon
is forked from this process and keeps only the context's capabilities; run
as another user, oslo.privsep starts it through the context's
``helper_command`` (sudo or rootwrap running privsep-helper), as in
nova-compute.
"""

import os

from oslo_privsep import priv_context


def start(*contexts):
    """Start the daemons of ``contexts`` that are not running yet."""
    if os.geteuid() != 0:
        return  # started on first use through helper_command
    for context in contexts:
        if context.client_mode and context.channel is None:
            context.start(priv_context.Method.FORK)
