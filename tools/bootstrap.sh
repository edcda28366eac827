#!/bin/bash
# Prepare this checkout on a Debian 12 host (as root): the system packages of
# bindep.txt and a virtualenv in .venv with this package, its test and its
# documentation requirements. Idempotent and quick when nothing changed.
# NOVA_LXC_CONTRAIL_PROFILES="benchmark" adds the benchmarks' baselines;
# NOVA_LXC_CONTRAIL_VENV names another virtualenv and NOVA_LXC_CONTRAIL_UNPIN
# the packages it takes at their newest release (tools/constraints.sh).
set -o errexit -o nounset -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
venv=${NOVA_LXC_CONTRAIL_VENV:-$top/.venv}

if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: run as root (it installs Debian packages)" >&2
    exit 1
fi

# As OpenStack deployments install: with the release's upper-constraints
# (tools/constraints.sh says which file and the few pins it replaces).
constraints=$venv.constraints.txt
"$top/tools/constraints.sh" >"$constraints.new"
mv "$constraints.new" "$constraints"

stamp_of() {
    cat bindep.txt requirements.txt test-requirements.txt doc/requirements.txt \
        "$constraints" | sha1sum | cut -c1-12
}
stamp="$venv/.bootstrap-$(stamp_of)${NOVA_LXC_CONTRAIL_PROFILES:+-${NOVA_LXC_CONTRAIL_PROFILES// /-}}"

if [ ! -e "$stamp" ]; then
    # bindep profiles: none or 'test' always; others (benchmark) on request.
    debs=$(awk -v want=" test ${NOVA_LXC_CONTRAIL_PROFILES:-} " '
        /^#/ || !NF {next}
        {
            ok = 1
            if (match($0, /\[.*\]/)) {
                n = split(substr($0, RSTART + 1, RLENGTH - 2), tags, " ")
                for (i = 1; i <= n; i++)
                    if (tags[i] !~ /^platform:/ && index(want, " " tags[i] " ") == 0)
                        ok = 0
            }
            if (ok) print $1
        }' bindep.txt)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $debs >/dev/null
    # The libvirtd that Debian starts is not used: tests and the demo run
    # their own in private namespaces.
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -c "$constraints" \
        -r requirements.txt -r test-requirements.txt -r doc/requirements.txt
    rm -f "$venv"/.bootstrap-*
    touch "$stamp"
fi
# Not editable: nova imports 'nova.virt.lxc_contrail', a module this package
# places inside nova's tree, which an editable install cannot do.
log=$(mktemp)
if ! "$venv/bin/pip" install -q --no-deps --force-reinstall "$top" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
