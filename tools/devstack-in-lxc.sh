#!/bin/bash
# A real DevStack cloud with nova-lxc-contrail, inside a systemd LXC container.
#
#   ./tools/devstack-in-lxc.sh up      # build the container, run stack.sh
#   ./tools/devstack-in-lxc.sh test    # openstack client exercise + Tempest
#   ./tools/devstack-in-lxc.sh down    # remove everything, check the host
#   ./tools/devstack-in-lxc.sh all     # up, test, down (what CI runs)
#   ./tools/devstack-in-lxc.sh shell   # a shell in the container
#
# As root on Debian 12. The container (Debian 12, systemd, Debian's LXC,
# configured from `nova-lxc-contrail lxc-config`) has its own network
# namespace with no route out: apt and pip inside reach this host's package
# registries through tools/devstack_in_lxc/registry_proxy.py, which lets
# nothing else through. DevStack comes from ../shared/openstack; keystone,
# glance, placement, nova, neutron and tempest from their PyPI releases,
# made into local git repositories; the requirements repository carries the
# release's upper-constraints (tools/constraints.sh). The vRouter is stood
# in for by the agent stand-in (a DevStack service) and an ML2 mechanism
# driver that binds ports with vif_type vrouter: no OVS, no neutron agents.
#
# Knobs (environment): NLC_DEVSTACK_STATE (default
# /var/lib/nova-lxc-contrail-devstack), NLC_DEVSTACK_TEMPEST_REGEX,
# NLC_DEVSTACK_TEMPEST_CONCURRENCY, NLC_DEVSTACK_KEEP_CACHE=1 (down keeps
# the downloaded sources and the debootstrap tarball for the next up).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$top/tools/devstack_in_lxc
shared=${NLC_SHARED:-$top/../shared}
state=${NLC_DEVSTACK_STATE:-/var/lib/nova-lxc-contrail-devstack}
cache=$state/cache
name=nlc-devstack
lxcpath=$state/lxc
rootfs=$lxcpath/$name/rootfs
host_if=nlcds0
host_ip=10.254.0.1
guest_ip=10.254.0.2
proxy_port=3128
# The registries this host's apt and pip use (see /etc/apt/sources.list*).
registries=(deb.debian.org pypi.org files.pythonhosted.org)
devstack_tarball=$shared/openstack/devstack-493835a6.tar.gz
# name==version of every service DevStack clones, from PyPI.
releases=(
    keystone==30.0.0 glance==33.0.0 openstack-placement==16.0.0
    nova==34.0.0 neutron==29.0.0 tempest==47.0.0
)
# The requirements repository DevStack clones first: openstack/requirements'
# own release, with the release's constraints and global requirements.
requirements_release=openstack-requirements==1.2.0

say() { printf '%s devstack-in-lxc: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

phase_start=0
phase() {
    local now
    now=$(date +%s)
    if [[ -n ${phase_name:-} ]]; then
        printf '%-22s %5d s\n' "$phase_name" $((now - phase_start)) \
            >> "$state/phases"
    fi
    phase_name=${1:-}
    phase_start=$now
    [[ -z $phase_name ]] || say "phase: $phase_name"
}

in_container() { lxc-attach -P "$lxcpath" -n "$name" --clear-env \
    --set-var PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    -- "$@"; }
as_stack() { in_container su - stack -c "$*"; }
running() { [[ $(lxc-info -P "$lxcpath" -n "$name" -sH 2>/dev/null) == RUNNING ]]; }

preflight() {
    [[ $(id -u) == 0 ]] || die "run as root"
    grep -q '^VERSION_CODENAME=bookworm' /etc/os-release ||
        die "this host is not Debian 12 (bookworm)"
    [[ -r $devstack_tarball ]] || die "no DevStack tarball at $devstack_tarball"
    [[ -r $shared/openstack/global-requirements.txt ]] ||
        die "no global-requirements.txt in $shared/openstack"
    local dev
    for dev in /dev/net/tun /dev/loop-control /dev/fuse; do
        [[ -c $dev ]] || die "$dev is missing on this host (the container binds it)"
    done
}

host_snapshot() {
    {
        echo '# links'; ip -o link show | awk -F': ' '{print $2}' | sort
        echo '# addresses'; ip -o addr show | awk '{print $2, $3, $4}' | sort
        echo '# routes'; ip route show table all | sort
        echo '# firewall'
        if command -v iptables-save >/dev/null; then
            iptables-save 2>/dev/null | grep -v '^#' || true
        fi
        if command -v nft >/dev/null; then nft list ruleset 2>/dev/null || true; fi
        echo '# loop devices'; losetup -n -O NAME,BACK-FILE 2>/dev/null | sort
        echo '# mounts'; awk '{print $5}' /proc/self/mountinfo | sort
        echo '# cgroups'; find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d | sort
        # Live ones: an exited lxc-start may wait a moment to be reaped.
        echo '# processes'
        ps -eo stat=,pid=,args= | awk '$1 !~ /^Z/ && /lxc-start|registry_proxy|libvirt_lxc/ && !/awk/ {$1 = ""; print}'
    } > "$1"
}

install_host_packages() {
    local pkgs=(lxc debootstrap git busybox-static fdisk e2fsprogs qemu-utils
                python3 python3-venv iproute2)
    local missing=()
    local p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$p")
    done
    if (( ${#missing[@]} )); then
        say "installing on the host: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

build_rootfs() {
    local tarball=$cache/bookworm-rootfs.tar
    mkdir -p "$cache" "$lxcpath/$name"
    if [[ ! -r $tarball ]]; then
        say "debootstrap bookworm (minbase + systemd)"
        rm -rf "$cache/rootfs.new"
        debootstrap --variant=minbase \
            --include=systemd,systemd-sysv,dbus,sudo,git,python3,ca-certificates,iproute2,procps,lsb-release,iputils-ping,kmod,curl,wget,psmisc \
            bookworm "$cache/rootfs.new" http://deb.debian.org/debian \
            > "$state/debootstrap.log" 2>&1 ||
            die "debootstrap failed: see $state/debootstrap.log"
        tar -C "$cache/rootfs.new" -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
        rm -rf "$cache/rootfs.new"
    fi
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    tar -C "$rootfs" -xf "$tarball"
    # Trust what this host trusts for its registries (TLS inspection CAs).
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    fi
    echo "$name" > "$rootfs/etc/hostname"
    printf '127.0.0.1 localhost\n%s %s\n::1 localhost ip6-localhost\n' \
        "$guest_ip" "$name" > "$rootfs/etc/hosts"
    cat > "$rootfs/etc/apt/sources.list" <<EOF
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    cat > "$rootfs/etc/apt/apt.conf.d/90nlc-proxy" <<EOF
Acquire::http::Proxy "http://$host_ip:$proxy_port";
Acquire::https::Proxy "http://$host_ip:$proxy_port";
EOF
    # pip trusts certifi's bundle, not the system's: point it at the system's.
    printf '[global]\nproxy = http://%s:%s\ncert = /etc/ssl/certs/ca-certificates.crt\n' \
        "$host_ip" "$proxy_port" > "$rootfs/etc/pip.conf"
    install -m 755 "$here/mount-cgroups.sh" "$rootfs/usr/local/sbin/nlc-mount-cgroups"
    cat > "$rootfs/etc/systemd/system/nlc-cgroups.service" <<EOF
[Unit]
Description=cgroup v1 controllers LXC left unmounted (nova-lxc-contrail)
DefaultDependencies=no
Before=sysinit.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nlc-mount-cgroups
EOF
    if [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
        # On a cgroup v1 host, systemd-machined in the container cannot find
        # the machines libvirt registers ("NoMachineForPID": every boot
        # fails). Without machined on the bus libvirt manages the cgroups
        # itself, as on a host without systemd. systemd-container (machined)
        # comes later with libvirt: divert its D-Bus activation file first.
        ln -sf /dev/null "$rootfs/etc/systemd/system/systemd-machined.service"
        chroot "$rootfs" dpkg-divert --quiet --local --rename \
            --divert /usr/share/dbus-1/system-services/org.freedesktop.machine1.service.nlc \
            --add /usr/share/dbus-1/system-services/org.freedesktop.machine1.service
    fi
    mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants"
    ln -sf ../nlc-cgroups.service \
        "$rootfs/etc/systemd/system/sysinit.target.wants/nlc-cgroups.service"
}

write_config() {
    local lxc_major
    lxc_major=$(lxc-start --version | cut -d. -f1)
    {
        echo "# nova-lxc-contrail DevStack host (tools/devstack-in-lxc.sh)"
        echo "lxc.include = /usr/share/lxc/config/common.conf"
        echo "lxc.rootfs.path = dir:$rootfs"
        echo "lxc.uts.name = $name"
        echo "lxc.arch = $(dpkg --print-architecture)"
        echo "lxc.log.file = $state/lxc.log"
        # What an LXC compute host needs (devices, nesting, AppArmor).
        "$top/.venv/bin/nova-lxc-contrail" lxc-config --no-network \
            --lxc-version "$lxc_major" 2>/dev/null
        echo "# Its own network namespace: one veth to this host, no route out."
        echo "lxc.net.0.type = veth"
        echo "lxc.net.0.veth.pair = $host_if"
        echo "lxc.net.0.name = eth0"
        echo "lxc.net.0.flags = up"
        echo "lxc.net.0.ipv4.address = $guest_ip/30"
    } > "$lxcpath/$name/config"
}

git_repo() {  # DIR [TAG]: DIR's files become one commit (and a tag)
    git -C "$1" init -q -b master
    git -C "$1" add -A
    git -C "$1" -c user.name=devstack-in-lxc -c user.email=root@localhost \
        commit -q -m "$(basename "$1") as released" --no-verify
    if [[ -n ${2:-} ]]; then
        git -C "$1" -c user.name=devstack-in-lxc -c user.email=root@localhost \
            tag -a -m "$2" "$2"
    fi
}

fetch_sources() {
    local repos=$rootfs/opt/stack/repos spec path base version dir
    mkdir -p "$repos"
    say "sources from PyPI: ${releases[*]} $requirements_release"
    while read -r spec path; do
        base=${spec%%==*} version=${spec##*==}
        dir=$repos/${base#openstack-}
        mkdir -p "$dir"
        tar -C "$dir" --strip-components=1 -xzf "$path"
        if [[ $base == openstack-requirements ]]; then
            "$top/tools/constraints.sh" > "$dir/upper-constraints.txt"
            cp "$shared/openstack/global-requirements.txt" "$dir/global-requirements.txt"
            # This release (2019) imports pkg_resources, which setuptools
            # 81 and later no longer ship (install_infra upgrades setuptools).
            echo 'setuptools<81 # pkg_resources' >> "$dir/requirements.txt"
            git_repo "$dir"
        else
            git_repo "$dir" "$version"
        fi
    done < <(python3 "$here/fetch_sdists.py" "$cache/sdists" \
        "${releases[@]}" "$requirements_release")
    for spec in "${releases[@]}" "$requirements_release"; do
        base=${spec%%==*}
        [[ -d $repos/${base#openstack-}/.git ]] || die "no source release of $spec"
    done
    mkdir -p "$repos/os-test-images"
    cp "$here/os-test-images/tox.ini" "$repos/os-test-images/"
    git_repo "$repos/os-test-images"
    # This checkout as it is now (uncommitted changes included).
    local plugin=$repos/nova-lxc-contrail
    mkdir -p "$plugin"
    git -C "$top" ls-files -z --cached --others --exclude-standard |
        (cd "$top" && xargs -0 tar -cf - --no-recursion) | tar -C "$plugin" -xf -
    git_repo "$plugin"
    mkdir -p "$rootfs/opt/stack"
    tar -C "$rootfs/opt/stack" -xzf "$devstack_tarball"
}

build_image() {
    # A partitioned qcow2 image (GPT cloud layout: root in partition 1 after
    # 14 and 15), DevStack uploads it from the file: no image download.
    mkdir -p "$rootfs/opt/stack/images"
    "$top/.venv/bin/python" -m nova_lxc_contrail.standin.images \
        --layout gpt-cloud --format qcow2 --fs ext4 --init busybox \
        "$rootfs/opt/stack/images/busybox-gpt.qcow2" >/dev/null
}

write_local_conf() {
    sed -e "s|@HOST_IP@|$guest_ip|g" -e "s|@PROXY@|http://$host_ip:$proxy_port|g" \
        "$here/local.conf" > "$rootfs/opt/stack/devstack/local.conf"
}

start_container() {
    lxc-start -P "$lxcpath" -n "$name" -d ||
        die "lxc-start failed: see $state/lxc.log"
    ip addr add "$host_ip/30" dev "$host_if"
    local allow=() registry
    for registry in "${registries[@]}"; do
        allow+=(--allow "$registry")
    done
    python3 "$here/registry_proxy.py" --listen "$host_ip" --port "$proxy_port" \
        "${allow[@]}" >> "$state/proxy.log" 2>&1 &
    echo $! > "$state/proxy.pid"
    local _
    for _ in $(seq 60); do
        case $(in_container systemctl is-system-running 2>/dev/null || true) in
            running|degraded) return 0 ;;
        esac
        sleep 1
    done
    die "systemd in the container did not come up in 60 s"
}

prepare_container() {
    in_container /opt/stack/devstack/tools/create-stack-user.sh >/dev/null
    in_container chown -R stack:stack /opt/stack
}

cmd_up() {
    preflight
    if running; then die "$name is already up (./tools/devstack-in-lxc.sh down first)"; fi
    mkdir -p "$state"
    : > "$state/phases"
    [[ -r $state/host.before ]] || host_snapshot "$state/host.before"
    phase "host packages";   install_host_packages
    # The package's own CLI (lxc-config) and image builder run from its venv.
    [[ -x $top/.venv/bin/nova-lxc-contrail ]] || "$top/tools/bootstrap.sh"
    phase "rootfs";          build_rootfs
    phase "sources";         fetch_sources; build_image; write_local_conf
    phase "container start"; write_config; start_container; prepare_container
    phase "stack.sh"
    if ! as_stack "cd /opt/stack/devstack && ./stack.sh" > "$state/stack.log" 2>&1; then
        phase
        tail -40 "$state/stack.log" >&2
        die "stack.sh failed: see $state/stack.log"
    fi
    phase
    # DevStack's own figures: time per component, and its async speed-up.
    sed -n '/^DevStack Component Timing/,/^ Speedup/p' "$state/stack.log" >&2 || true
    say "up: DevStack runs in $name ($guest_ip); phases so far:"
    cat "$state/phases" >&2
}

cmd_test() {
    running || die "$name is not up"
    cp "$here/exercise.sh" "$here/tempest.sh" "$rootfs/opt/stack/"
    in_container chown stack:stack /opt/stack/exercise.sh /opt/stack/tempest.sh
    phase "exercise"
    local rc=0 trc=0
    as_stack "bash /opt/stack/exercise.sh" 2>&1 | tee "$state/exercise.log" || rc=$?
    phase "tempest"
    as_stack "NLC_TEMPEST_REGEX='${NLC_DEVSTACK_TEMPEST_REGEX:-}' \
        NLC_TEMPEST_CONCURRENCY='${NLC_DEVSTACK_TEMPEST_CONCURRENCY:-2}' \
        bash /opt/stack/tempest.sh" 2>&1 | tee "$state/tempest.log" || trc=$?
    phase
    cat "$state/phases" >&2
    [[ $rc == 0 ]] || die "the openstack client exercise failed"
    [[ $trc == 0 ]] || die "Tempest failed"
}

cmd_down() {
    [[ $(id -u) == 0 ]] || die "run as root"
    [[ -d $state ]] || { say "nothing to remove"; return 0; }
    if [[ -r $state/proxy.pid ]]; then
        kill "$(cat "$state/proxy.pid")" 2>/dev/null || true
        rm -f "$state/proxy.pid"
    fi
    if running; then
        in_container bash -c 'cd /opt/stack/devstack && su stack -c ./unstack.sh' \
            > "$state/unstack.log" 2>&1 || true
        lxc-stop -P "$lxcpath" -n "$name" -k || true
    fi
    # Loop devices belong to the host kernel: release the container's.
    local dev back
    for dev in /sys/block/loop*; do
        back=$(cat "$dev/loop/backing_file" 2>/dev/null) || continue
        if [[ $back == "$rootfs"/* ]]; then
            losetup -d "/dev/${dev##*/}" 2>/dev/null || true
        fi
    done
    ip link del "$host_if" 2>/dev/null || true
    # The cgroups LXC made for the container (libvirt's below it included),
    # and its pivot cgroup unless it was there before.
    local cg
    for cg in /sys/fs/cgroup/*/lxc.payload."$name" /sys/fs/cgroup/*/lxc.monitor."$name" \
            /sys/fs/cgroup/*/lxc.pivot; do
        [[ -d $cg ]] || continue
        if [[ ${cg##*/} == lxc.pivot ]] && grep -qxF "$cg" "$state/host.before" 2>/dev/null; then
            continue
        fi
        find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    # Keep what a later `up` can reuse, if asked; drop the rest.
    local keep=()
    if [[ ${NLC_DEVSTACK_KEEP_CACHE:-0} == 1 ]]; then
        keep=(-not -name cache)
    fi
    if [[ -r $state/host.before ]]; then
        host_snapshot "$state/host.after"
        if ! diff -u "$state/host.before" "$state/host.after" > "$state/host.diff"; then
            cat "$state/host.diff" >&2
            die "the host is not as before (diff above; $state kept)"
        fi
    fi
    find "$state" -mindepth 1 -maxdepth 1 "${keep[@]}" -exec rm -rf {} +
    [[ ${NLC_DEVSTACK_KEEP_CACHE:-0} == 1 ]] || rmdir "$state"
    say "down: container removed, host interfaces, routes, firewall, loop devices and mounts as before"
}

cmd_all() {
    # Each step in a process of its own: errexit holds inside it (a function
    # called from a || list runs without), and down runs whatever failed.
    local rc=0
    "$0" up || rc=$?
    if [[ $rc == 0 ]]; then
        "$0" test || rc=$?
    fi
    # Kept for the end of the output (down removes the state dir): the
    # phases, and what a failed exercise said from its failure on.
    local phases failure
    phases=$(cat "$state/phases" 2>/dev/null || true)
    failure=$(sed -n '/ exercise: FAIL: /,$p' "$state/exercise.log" 2>/dev/null | tail -40 || true)
    "$0" down || rc=$?
    [[ -z $failure ]] || printf 'the exercise failed:\n%s\n' "$failure" >&2
    printf 'phases:\n%s\n' "$phases" >&2
    return $rc
}

case ${1:-} in
    up) cmd_up ;;
    test) cmd_test ;;
    down) cmd_down ;;
    all) cmd_all ;;
    shell) running || die "$name is not up"; lxc-attach -P "$lxcpath" -n "$name" ;;
    *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
