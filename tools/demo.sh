#!/bin/bash
# The demo, the README's first command: on a Debian 12 host, as root,
# install what it needs (tools/bootstrap.sh), then boot a real LXC container
# from partition 1 of a disk image on a vRouter-style port, show it pinging
# its gateway, and remove everything again. See nova_lxc_contrail/cmd/demo.py.
set -o errexit -o nounset -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" != 0 ]; then
    echo "demo: run as root (it creates namespaces, devices, mounts and an LXC container)" >&2
    exit 1
fi
"$top/tools/bootstrap.sh"
# Deprecation notices of eventlet and libvirt-LXC are not part of the story.
exec "$top/.venv/bin/python" -W ignore -m nova_lxc_contrail.cmd.demo "$@"
