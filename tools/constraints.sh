#!/bin/bash
# Print the constraints this project installs with: the OpenStack release's
# upper-constraints (UPPER_CONSTRAINTS_FILE, by default the copy beside this
# checkout), with the pins of tools/constraints-overrides.txt replaced.
# Packages named in NOVA_LXC_CONTRAIL_UNPIN (space-separated) lose their pin,
# so pip takes their newest release that requirements.txt allows.
set -o errexit -o nounset -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
upper=${UPPER_CONSTRAINTS_FILE:-$top/../shared/openstack/upper-constraints.txt}
if [ ! -r "$upper" ]; then
    echo "constraints: no upper-constraints file at $upper; set" \
        "UPPER_CONSTRAINTS_FILE to the release's upper-constraints.txt" >&2
    exit 1
fi
# Package names compare as pip compares them: case and -_. alike.
awk -v unpin="${NOVA_LXC_CONTRAIL_UNPIN:-}" '
    function key(line) { sub(/[=<>!~;# ].*/, "", line); gsub(/[-_.]+/, "-", line); return tolower(line) }
    BEGIN { n = split(unpin, names, " "); for (i = 1; i <= n; i++) drop[key(names[i])] = 1 }
    FNR == NR { if ($0 !~ /^#/ && NF) over[key($1)] = $1; next }
    { k = key($0); if (k in drop) next; if (k in over) { print over[k]; delete over[k] } else print }
    END { for (k in over) print over[k] }
' "$top/tools/constraints-overrides.txt" "$upper"
