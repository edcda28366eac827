#!/bin/bash
# tox's install_command: pip install with the release's upper-constraints.
set -o errexit -o nounset -o pipefail
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
"$(dirname "$0")/constraints.sh" >"$constraints"
python -m pip install -c "$constraints" "$@"
