#!/bin/bash
# Runs devstack/plugin.sh the way stack.sh, unstack.sh and clean.sh do, with
# the helper stand-ins of standins.sh, against a throwaway tree.
#
#   unshare --mount --propagation private run-phases.sh STEP...
#
# The caller runs it in a private mount namespace: it mounts a fresh tmpfs
# on /dev, so the plugin's host preparation (mknod, opening devices) runs
# for real without touching the host's /dev, and one holding a copy of the
# host's /etc/modprobe.d on /etc/modprobe.d, so that the plugin's modprobe
# rule is read by the real modprobe and never lands in the host's /etc,
# and one holding a copy of /etc/systemd/system, for the plugin's drop-ins.
# With NLC_NO_MODULES set an empty tmpfs hides /lib/modules too, so that
# modprobe loads no module into the host's kernel. Steps, in the caller's
# order:
#   stack:PHASE        source plugin.sh stack PHASE (pre-install, install,
#                      post-config, extra, test-config)
#   unstack, clean     source plugin.sh unstack / clean
#   configure_nova     what DevStack does before post-config: nova's
#                      rootwrap.d afresh (configure_rootwrap), a fresh
#                      nova.conf from its libvirt hypervisor code, and
#                      configure_neutron_nova started in the background
#   merge_post_config  the user's [[post-config|$NOVA_CONF]] ($NLC_USER_CONF)
#   start_nova_compute nova-cpu.conf from nova.conf, then nova-compute's start
#                      (ncpu_standin.py) logged to the journal stand-in
#   modprobe:MODULE    'sudo modprobe MODULE' as DevStack runs it: its exit
#                      status and output in $NLC_WORK/out/modprobe-MODULE
#   exec:SCRIPT        bash SCRIPT (what an operator does between phases)
#   snapshot:NAME      record nova.conf, the plugin's record, /dev,
#                      /etc/modprobe.d and the tree under $NLC_WORK in
#                      $NLC_WORK/out/NAME
# Environment: NLC_TOP (checkout), NLC_WORK (empty temp dir, kept by the
# caller), NLC_VENV (throwaway venv seeing nova from $NLC_WORK/nova-src),
# NLC_NOUNSET (set: also set -o nounset), NLC_NO_MODULES (set: hide
# /lib/modules), NLC_VIRT (optional: what a systemd-detect-virt stand-in
# answers, e.g. lxc or none), NLC_LOCALRC (optional file
# sourced as local.conf's localrc), NLC_USER_CONF (optional post-config
# snippet).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

function _fresh_dev {
    mount -t tmpfs -o mode=0755,nosuid nlc-dev /dev
    mknod -m 0666 /dev/null c 1 3
    mknod -m 0666 /dev/zero c 1 5
    mknod -m 0666 /dev/urandom c 1 9
    ln -s /proc/self/fd /dev/fd
    ln -s /proc/self/fd/0 /dev/stdin
    ln -s /proc/self/fd/1 /dev/stdout
    ln -s /proc/self/fd/2 /dev/stderr
}

function _private_modprobe_d {
    # A copy of the host's rules, on a tmpfs that dies with the namespace.
    local copy=$NLC_WORK/out/host-modprobe.d
    if [[ ! -d /etc/modprobe.d ]]; then
        echo "run-phases.sh: no /etc/modprobe.d here (is kmod installed?)" >&2
        return 0
    fi
    mkdir -p "$copy"
    cp -a /etc/modprobe.d/. "$copy/"
    mount -t tmpfs -o mode=0755,nosuid,nodev nlc-modprobe.d /etc/modprobe.d
    cp -a "$copy/." /etc/modprobe.d/
    rm -rf "$copy"
    if [[ -n ${NLC_NO_MODULES:-} && -d /lib/modules ]]; then
        mount -t tmpfs -o mode=0755,nosuid,nodev,ro nlc-modules /lib/modules
    fi
}

function _private_systemd_units {
    # systemd's unit directory: a copy of the host's, on a tmpfs, so that
    # the plugin's drop-ins never land in the host's /etc.
    local copy=$NLC_WORK/out/host-systemd-system
    if [[ ! -d /etc/systemd/system ]]; then
        echo "run-phases.sh: no /etc/systemd/system here" >&2
        return 0
    fi
    mkdir -p "$copy"
    cp -a /etc/systemd/system/. "$copy/"
    mount -t tmpfs -o mode=0755,nosuid,nodev nlc-systemd /etc/systemd/system
    cp -a "$copy/." /etc/systemd/system/
    rm -rf "$copy"
}

function _modprobe {
    local module=$1 status=0 out
    out=$(sudo modprobe "$module" 2>&1) || status=$?
    printf '%s\n%s\n' "$status" "$out" > "$NLC_WORK/out/modprobe-$module"
}

function _fake_systemd {
    # systemctl and journalctl of a host whose nova-compute ran
    # ncpu_standin.py: its output is the unit's journal.
    mkdir -p "$NLC_WORK/bin" "$NLC_WORK/journal"
    cat > "$NLC_WORK/bin/journalctl" <<EOF
#!/bin/bash
cat "$NLC_WORK/journal/devstack@n-cpu.log" 2>/dev/null || true
EOF
    cat > "$NLC_WORK/bin/systemctl" <<EOF
#!/bin/bash
# systemctl is-active [--quiet] UNIT; systemctl reload UNIT and
# systemctl daemon-reload (recorded)
if [[ \$1 == reload || \$1 == daemon-reload ]]; then
    echo "systemctl \$*" >> "$NLC_WORK/out/calls"
    exit 0
fi
state=\$(cat "$NLC_WORK/journal/\${@: -1}.state" 2>/dev/null || echo inactive)
[[ \$2 == --quiet ]] || echo "\$state"
[[ \$state == active ]]
EOF
    chmod +x "$NLC_WORK/bin/journalctl" "$NLC_WORK/bin/systemctl"
    if [[ -n ${NLC_VIRT:-} ]]; then
        # What systemd-detect-virt --container answers (none: exit 1).
        cat > "$NLC_WORK/bin/systemd-detect-virt" <<EOF
#!/bin/bash
echo "$NLC_VIRT"
[[ $NLC_VIRT != none ]]
EOF
        chmod +x "$NLC_WORK/bin/systemd-detect-virt"
    fi
    # The host's libvirtd runs, as DevStack's install_libvirt left it.
    echo active > "$NLC_WORK/journal/libvirtd.state"
}

function _snapshot {
    local out=$NLC_WORK/out/$1
    mkdir -p "$out"
    cp "${NOVA_CONF:-}" "$out/nova.conf" 2>/dev/null || true
    cp "${NOVA_LXC_CONTRAIL_STATE_DIR:-}/created" "$out/created" 2>/dev/null || true
    (cd /dev && find . -printf '%p %y %m %U:%G\n' | sort) > "$out/dev"
    (cd /dev && find . \( -type c -o -type b \) -exec stat -c '%n %t:%T' {} + |
        sort) > "$out/dev-numbers"
    local rule
    for rule in /etc/modprobe.d/*; do
        if [[ -f $rule ]]; then
            stat -c '%n %a' "$rule"
            sed 's/^/    /' "$rule"
        fi
    done > "$out/modprobe.d"
    # The host's own units are links and wants dirs: files and dirs only.
    if [[ -d /etc/systemd/system ]]; then
        (cd /etc/systemd/system && find . -type d -printf '%p %m\n' |
            sort) > "$out/systemd"
        (cd /etc/systemd/system && find . -type f | sort |
            while read -r rule; do
                stat -c '%n %a' "$rule"
                sed 's/^/    /' "$rule"
            done) >> "$out/systemd"
    fi
    (cd "$NLC_WORK" && find . -path ./out -prune -o -path ./journal -prune \
        -o -printf '%p %y %m %l\n' | sort) > "$out/tree"
}

# configure_neutron_nova edits nova.conf in the background while the
# plugins run post-config.
function configure_neutron_nova {
    sleep 0.5
    iniset "$NOVA_CONF" neutron auth_type password
    iniset "$NOVA_CONF" neutron region_name RegionOne
}

function _configure_nova {
    # configure_rootwrap nova: rootwrap.d afresh with nova's filters.
    rm -rf "$NOVA_CONF_DIR/rootwrap.d"
    install -d -m 755 "$NOVA_CONF_DIR/rootwrap.d"
    printf '[Filters]\n' > "$NOVA_CONF_DIR/rootwrap.d/compute.filters"
    printf '[DEFAULT]\nfilters_path=%s\n' "$NOVA_CONF_DIR/rootwrap.d" \
        > "$NOVA_CONF_DIR/rootwrap.conf"
    rm -f "$NOVA_CONF"
    iniset "$NOVA_CONF" DEFAULT compute_driver libvirt.LibvirtDriver
    iniset "$NOVA_CONF" DEFAULT instances_path "$DATA_DIR/nova/instances"
    iniset "$NOVA_CONF" libvirt virt_type "$LIBVIRT_TYPE"
    iniset "$NOVA_CONF" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    # configure_nova_hypervisor (lib/nova_plugins/hypervisor-libvirt).
    iniset "$NOVA_CONF" libvirt cpu_mode "$LIBVIRT_CPU_MODE"
    if [[ $LIBVIRT_CPU_MODE == custom ]]; then
        iniset "$NOVA_CONF" libvirt cpu_models "$LIBVIRT_CPU_MODEL"
    fi
    async_runfunc configure_neutron_nova
}

function _start_nova_compute {
    local state=active
    cp "$NOVA_CONF" "$NOVA_CPU_CONF"
    if ! "$DEVSTACK_VENV/bin/python" "$here/ncpu_standin.py" "$NOVA_CPU_CONF" \
            "$NLC_WORK/out/n-cpu.json" > "$NLC_WORK/journal/devstack@n-cpu.log" 2>&1; then
        state=failed
    fi
    echo "$state" > "$NLC_WORK/journal/devstack@n-cpu.state"
}

function run_plugins {
    # shellcheck disable=SC1091
    source "$NLC_TOP/devstack/plugin.sh" "$@"
}

function err_trap {
    local r=$?
    set +o xtrace
    echo "run-phases.sh failed" >&2
    exit $r
}

# The shell stack.sh gives its plugins (less its xtrace, for readable logs).
if [[ -n ${NLC_NOUNSET:-} ]]; then
    set -o nounset
fi
trap err_trap ERR
set -o errexit

mkdir -p "$NLC_WORK/out"
_fresh_dev
_private_modprobe_d
_private_systemd_units
_fake_systemd
# What the plugin left, also when it stopped the run.
trap '_snapshot exit' EXIT
PATH=$NLC_WORK/bin:$PATH:/usr/sbin:/sbin
export PYTHONDONTWRITEBYTECODE=1

# shellcheck source=nova_lxc_contrail/tests/functional/devstack/standins.sh
source "$here/standins.sh"
NLC_CALLS=$NLC_WORK/out/calls
mkdir -p "$NLC_WORK/out"

# As stackrc: its default services, local.conf's localrc (whose
# enable_service adds to them), then its other defaults.
ENABLED_SERVICES=${ENABLED_SERVICES:-key,mysql,rabbit,g-api,n-api,n-cond,n-sch,n-cpu,placement-api,q-svc}
DISABLED_SERVICES=${DISABLED_SERVICES:-}
if [[ -n ${NLC_LOCALRC:-} ]]; then
    # shellcheck disable=SC1090
    source "$NLC_LOCALRC"
fi
DEST=${DEST:-$NLC_WORK/opt/stack}
DATA_DIR=${DATA_DIR:-$DEST/data}
STACK_USER=${STACK_USER:-root}
GLOBAL_VENV=${GLOBAL_VENV:-True}
DEVSTACK_VENV=${DEVSTACK_VENV:-$NLC_VENV}
PYTHON3_VERSION=${PYTHON3_VERSION:-3.11}
os_PACKAGE=${os_PACKAGE:-deb}
NOVA_BACKEND=${NOVA_BACKEND:-DEFAULT}
VIRT_DRIVER=${VIRT_DRIVER:-libvirt}
LIBVIRT_TYPE=${LIBVIRT_TYPE:-kvm}
LIBVIRT_CPU_MODE=${LIBVIRT_CPU_MODE:-custom}
LIBVIRT_CPU_MODEL=${LIBVIRT_CPU_MODEL:-Nehalem}
ENABLE_DEBUG_LOG_LEVEL=${ENABLE_DEBUG_LOG_LEVEL:-True}
CIRROS_VERSION=${CIRROS_VERSION:-0.6.3}
CIRROS_ARCH=${CIRROS_ARCH:-x86_64}
DEFAULT_IMAGE_NAME=${DEFAULT_IMAGE_NAME:-cirros-$CIRROS_VERSION-$CIRROS_ARCH-disk}
DEFAULT_IMAGE_FILE_NAME=${DEFAULT_IMAGE_FILE_NAME:-cirros-$CIRROS_VERSION-$CIRROS_ARCH-disk.img}
IMAGE_URLS=${IMAGE_URLS:+$IMAGE_URLS,}https://github.com/cirros-dev/cirros/releases/download/$CIRROS_VERSION/$DEFAULT_IMAGE_FILE_NAME
mkdir -p "$DATA_DIR"

# run_phase override_defaults, then lib/nova, then run_phase source.
# shellcheck source=devstack/override-defaults
source "$NLC_TOP/devstack/override-defaults"
NOVA_CONF_DIR=$NLC_WORK/etc/nova
NOVA_CONF=$NOVA_CONF_DIR/nova.conf
NOVA_CPU_CONF=$NOVA_CONF_DIR/nova-cpu.conf
mkdir -p "$NOVA_CONF_DIR"
# libvirt's hooks of the throwaway tree, never the host's.
NOVA_LXC_CONTRAIL_LIBVIRT_HOOKS_DIR=$NLC_WORK/etc/libvirt/hooks
# shellcheck source=devstack/settings
source "$NLC_TOP/devstack/settings"
declare -p VIRT_DRIVER LIBVIRT_TYPE LIBVIRT_CPU_MODE LIBVIRT_CPU_MODEL \
    DEFAULT_IMAGE_NAME DEFAULT_IMAGE_FILE_NAME \
    IMAGE_URLS ENABLED_SERVICES > "$NLC_WORK/out/variables"

for step in "$@"; do
    echo "=== $step"
    case $step in
        stack:*) run_plugins stack "${step#stack:}" ;;
        unstack|clean) run_plugins "$step" ;;
        configure_nova) _configure_nova ;;
        merge_post_config) merge_post_config "$NLC_USER_CONF" "$NOVA_CONF" ;;
        start_nova_compute) _start_nova_compute ;;
        modprobe:*) _modprobe "${step#modprobe:}" ;;
        exec:*) bash "${step#exec:}" ;;
        snapshot:*) _snapshot "${step#snapshot:}" ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
echo "=== done"
