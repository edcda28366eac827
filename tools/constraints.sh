#!/bin/bash
# Print the constraints this project installs with: the OpenStack release's
# upper-constraints (UPPER_CONSTRAINTS_FILE, by default the copy beside this
# checkout), with the pins of tools/constraints-overrides.txt replaced.
set -o errexit -o nounset -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
upper=${UPPER_CONSTRAINTS_FILE:-$top/../shared/openstack/upper-constraints.txt}
if [ ! -r "$upper" ]; then
    echo "constraints: no upper-constraints file at $upper; set" \
        "UPPER_CONSTRAINTS_FILE to the release's upper-constraints.txt" >&2
    exit 1
fi
# Package names compare as pip compares them: case and -_. alike.
awk '
    function key(line) { sub(/[=<>!~;# ].*/, "", line); gsub(/[-_.]+/, "-", line); return tolower(line) }
    FNR == NR { if ($0 !~ /^#/ && NF) over[key($1)] = $1; next }
    { k = key($0); if (k in over) { print over[k]; delete over[k] } else print }
    END { for (k in over) print over[k] }
' "$top/tools/constraints-overrides.txt" "$upper"
