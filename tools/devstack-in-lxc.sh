#!/bin/bash
# A real DevStack cloud with nova-lxc-contrail, in systemd LXC containers.
#
#   ./tools/devstack-in-lxc.sh up       # build the containers, run stack.sh
#   ./tools/devstack-in-lxc.sh test     # openstack client exercise + Tempest
#   ./tools/devstack-in-lxc.sh down     # remove everything, check the host
#   ./tools/devstack-in-lxc.sh all      # up, test, down (what CI runs)
#   ./tools/devstack-in-lxc.sh shell [N]  # a shell in node N (default 1)
#
# As root on Debian 12. Two nodes (NLC_DEVSTACK_NODES=1 for one): node 1
# (nlc-devstack) runs the control plane and a compute service, node 2
# (nlc-devstack2) joins it as a second compute host, so servers cold migrate
# and evacuate between them. Each container (Debian 12, systemd, Debian's
# LXC, configured from `nova-lxc-contrail lxc-config`) has its own network
# namespace: a veth to this host with no route out, and a link to the other
# node, where DevStack's services and nova's migrations (SSH between the
# nodes' stack users) run. apt and pip inside reach this host's package
# registries through tools/devstack_in_lxc/registry_proxy.py, which lets
# nothing else through. DevStack comes from ../shared/openstack; keystone,
# glance, placement, nova, neutron and tempest from their PyPI releases,
# made into local git repositories; the requirements repository carries the
# release's upper-constraints (tools/constraints.sh). The vRouter is stood
# in for by the agent stand-in (a DevStack service) and an ML2 mechanism
# driver that binds ports with vif_type vrouter: no OVS, no neutron agents.
#
# Knobs (environment): NLC_DEVSTACK_NODES (1 or 2, default 2),
# NLC_DEVSTACK_STATE (default /var/lib/nova-lxc-contrail-devstack),
# NLC_DEVSTACK_TEMPEST_REGEX,
# NLC_DEVSTACK_TEMPEST_CONCURRENCY, NLC_DEVSTACK_KEEP_CACHE=1 (down keeps
# the downloaded sources and the debootstrap tarball for the next up).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$top/tools/devstack_in_lxc
shared=${NLC_SHARED:-$top/../shared}
state=${NLC_DEVSTACK_STATE:-/var/lib/nova-lxc-contrail-devstack}
cache=$state/cache
lxcpath=$state/lxc
nodes=${NLC_DEVSTACK_NODES:-2}
# test, down and shell act on the nodes up made.
[[ ${1:-} == up || ! -r $state/nodes ]] || nodes=$(cat "$state/nodes")
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

[[ $nodes == 1 || $nodes == 2 ]] || die "NLC_DEVSTACK_NODES is $nodes: 1 or 2"

# The names of node N (1: control plane and compute, 2: compute only): its
# container, its veth to this host (a /30 each, the registry proxy on the
# host's end) and its address on the nodes' own link (eth1), where the
# services listen; a single node has no such link and uses its veth's.
use_node() {  # N
    node=$1
    name=nlc-devstack
    [[ $node == 1 ]] || name=nlc-devstack$node
    rootfs=$lxcpath/$name/rootfs
    host_if=nlcds$((node - 1))
    host_ip=10.254.0.$((4 * node - 3))
    guest_ip=10.254.0.$((4 * node - 2))
    node_link=nlcdsm$node
    node_ip=$guest_ip
    [[ $nodes == 1 ]] || node_ip=10.254.1.$node
}
use_node 1
service_ip=$node_ip
each_node() {  # COMMAND...: COMMAND for each node, use_node'd
    local n current=$node
    for n in $(seq "$nodes"); do
        use_node "$n"
        "$@"
    done
    use_node "$current"
}
node_address() { echo "$node_ip $name"; }

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

rootfs_tarball=$cache/bookworm-rootfs.tar
debootstrap_rootfs() {
    [[ ! -r $rootfs_tarball ]] || return 0
    say "debootstrap bookworm (minbase + systemd)"
    mkdir -p "$cache"
    rm -rf "$cache/rootfs.new"
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,sudo,git,python3,ca-certificates,iproute2,procps,lsb-release,iputils-ping,kmod,curl,wget,psmisc,openssh-server,openssh-client \
        bookworm "$cache/rootfs.new" http://deb.debian.org/debian \
        > "$state/debootstrap.log" 2>&1 ||
        die "debootstrap failed: see $state/debootstrap.log"
    tar -C "$cache/rootfs.new" -cf "$rootfs_tarball.new" . &&
        mv "$rootfs_tarball.new" "$rootfs_tarball"
    rm -rf "$cache/rootfs.new"
}

build_rootfs() {
    mkdir -p "$lxcpath/$name"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    tar -C "$rootfs" -xf "$rootfs_tarball"
    # Host keys of its own (the tarball's are every node's).
    rm -f "$rootfs"/etc/ssh/ssh_host_*
    chroot "$rootfs" ssh-keygen -A >/dev/null
    # Trust what this host trusts for its registries (TLS inspection CAs).
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    fi
    echo "$name" > "$rootfs/etc/hostname"
    {
        echo '127.0.0.1 localhost'
        echo '::1 localhost ip6-localhost'
        each_node node_address
    } > "$rootfs/etc/hosts"
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
        echo "lxc.log.file = $state/$name.lxc.log"
        # What an LXC compute host needs (devices, nesting, AppArmor).
        "$top/.venv/bin/nova-lxc-contrail" lxc-config --no-network \
            --lxc-version "$lxc_major" 2>/dev/null
        echo "# Its own network namespace: one veth to this host, no route out."
        echo "lxc.net.0.type = veth"
        echo "lxc.net.0.veth.pair = $host_if"
        echo "lxc.net.0.name = eth0"
        echo "lxc.net.0.flags = up"
        echo "lxc.net.0.ipv4.address = $guest_ip/30"
        if (( nodes > 1 )); then
            echo "# And its end of the nodes' own link (a veth pair made by up)."
            echo "lxc.net.1.type = phys"
            echo "lxc.net.1.link = $node_link"
            echo "lxc.net.1.name = eth1"
            echo "lxc.net.1.flags = up"
            echo "lxc.net.1.ipv4.address = $node_ip/24"
        fi
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

# Node 2's sources: node 1's (DevStack, the local repositories).
copy_sources() {
    [[ $node != 1 ]] || return 0
    mkdir -p "$rootfs/opt/stack"
    cp -a "$lxcpath/nlc-devstack/rootfs/opt/stack/." "$rootfs/opt/stack/"
}

write_local_conf() {
    # Node 1 has the control plane, the others only a compute service.
    local template=local.conf no_proxy same_host=False
    [[ $node == 1 ]] || template=local-compute.conf
    [[ $nodes != 1 ]] || same_host=True
    no_proxy=localhost,127.0.0.1,::1,$(each_node node_address | tr ' \n' ',,')
    sed -e "s|@HOST_IP@|$node_ip|g" -e "s|@SERVICE_HOST@|$service_ip|g" \
        -e "s|@PROXY@|http://$host_ip:$proxy_port|g" -e "s|@NO_PROXY@|${no_proxy%,}|g" \
        -e "s|@COMPUTE_NODES@|$nodes|g" -e "s|@MOVE_TO_SAME_HOST@|$same_host|g" \
        "$here/$template" > "$rootfs/opt/stack/devstack/local.conf"
}

# nova-compute (the stack user) copies a cold-migrating server's disk to the
# other node with scp: one key pair for the stack user of every node, and
# every node's host key known (by name and by address).
make_ssh_keys() {
    rm -rf "$state/ssh"
    mkdir -p "$state/ssh"
    chroot "$rootfs" ssh-keygen -q -t ed25519 -N '' -C stack@nlc-devstack \
        -f /root/nlc-stack-key
    mv "$rootfs"/root/nlc-stack-key* "$state/ssh/"
    each_node known_host > "$state/ssh/known_hosts"
}
known_host() {
    echo "$name,$node_ip $(cut -d' ' -f1,2 "$rootfs/etc/ssh/ssh_host_ed25519_key.pub")"
}
install_ssh_keys() {  # before the stack user exists: prepare_container chowns
    local dir=$rootfs/opt/stack/.ssh
    install -d -m 700 "$dir"
    install -m 600 "$state/ssh/nlc-stack-key" "$dir/id_ed25519"
    install -m 644 "$state/ssh/nlc-stack-key.pub" "$dir/id_ed25519.pub"
    install -m 644 "$state/ssh/nlc-stack-key.pub" "$dir/authorized_keys"
    install -m 644 "$state/ssh/known_hosts" "$dir/known_hosts"
}

link_nodes() {  # the nodes' own link: a veth pair, an end in each node
    [[ $nodes != 1 ]] || return 0
    ip link add nlcdsm1 type veth peer name nlcdsm2
}

start_container() {
    lxc-start -P "$lxcpath" -n "$name" -d ||
        die "lxc-start of $name failed: see $state/$name.lxc.log"
    ip addr add "$host_ip/30" dev "$host_if"
    local _
    for _ in $(seq 60); do
        case $(in_container systemctl is-system-running 2>/dev/null || true) in
            running|degraded) return 0 ;;
        esac
        sleep 1
    done
    die "systemd in $name did not come up in 60 s"
}

start_proxy() {  # one proxy, on this host's end of every node's veth
    local listen=() allow=() registry
    each_node listen_on_host_end
    for registry in "${registries[@]}"; do
        allow+=(--allow "$registry")
    done
    python3 "$here/registry_proxy.py" "${listen[@]}" --port "$proxy_port" \
        "${allow[@]}" >> "$state/proxy.log" 2>&1 &
    echo $! > "$state/proxy.pid"
}

listen_on_host_end() { listen+=(--listen "$host_ip"); }

prepare_container() {
    in_container /opt/stack/devstack/tools/create-stack-user.sh >/dev/null
    in_container chown -R stack:stack /opt/stack
}

run_stack() {
    local log=$state/stack-$name.log
    if ! as_stack "cd /opt/stack/devstack && ./stack.sh" > "$log" 2>&1; then
        phase
        tail -40 "$log" >&2
        die "stack.sh failed on $name: see $log"
    fi
    # DevStack's own figures: time per component, and its async speed-up.
    say "$name: DevStack's timing"
    sed -n '/^DevStack Component Timing/,/^ Speedup/p' "$log" >&2 || true
}

discover_computes() {
    # A compute host that joins later is mapped to the cell by hand, as in
    # any multi-node DevStack; then node 1 sees every node's hypervisor.
    local _ count
    as_stack "/opt/stack/data/venv/bin/nova-manage cell_v2 discover_hosts --verbose" 2>&1 |
        grep -E 'host mapping|unmapped' >&2 || true
    for _ in $(seq 60); do
        count=$(as_stack "source /opt/stack/devstack/openrc admin admin >/dev/null; \
            /opt/stack/data/venv/bin/openstack hypervisor list -f value -c ID" | wc -l)
        [[ $count == "$nodes" ]] && return 0
        sleep 2
    done
    die "node 1 sees $count hypervisors, not $nodes, 120 s after discover_hosts"
}

not_running() { ! running || die "$name is already up (./tools/devstack-in-lxc.sh down first)"; }

cmd_up() {
    preflight
    each_node not_running
    mkdir -p "$state"
    : > "$state/phases"
    echo "$nodes" > "$state/nodes"
    [[ -r $state/host.before ]] || host_snapshot "$state/host.before"
    phase "host packages";   install_host_packages
    # The package's own CLI (lxc-config) and image builder run from its venv.
    [[ -x $top/.venv/bin/nova-lxc-contrail ]] || "$top/tools/bootstrap.sh"
    phase "rootfs";          debootstrap_rootfs; each_node build_rootfs
    phase "sources"
    fetch_sources; each_node copy_sources; build_image; each_node write_local_conf
    make_ssh_keys; each_node install_ssh_keys
    phase "container start"
    link_nodes; each_node write_config; each_node start_container; start_proxy
    each_node prepare_container
    phase "stack.sh";        run_stack
    if (( nodes > 1 )); then
        use_node 2
        phase "stack.sh node 2"; run_stack
        use_node 1
        discover_computes
    fi
    phase
    say "up: DevStack runs in $(each_node node_address | paste -sd, -); phases so far:"
    cat "$state/phases" >&2
}

cmd_test() {
    each_node running_or_die
    each_node install_node_script
    cp "$here/exercise.sh" "$here/tempest.sh" "$rootfs/opt/stack/"
    in_container chown stack:stack /opt/stack/exercise.sh /opt/stack/tempest.sh
    phase "exercise"
    local rc=0 trc=0
    as_stack "NLC_COMPUTE_NODES=$nodes bash /opt/stack/exercise.sh" 2>&1 |
        tee "$state/exercise.log" || rc=$?
    phase "tempest"
    as_stack "NLC_TEMPEST_REGEX='${NLC_DEVSTACK_TEMPEST_REGEX:-}' \
        NLC_TEMPEST_CONCURRENCY='${NLC_DEVSTACK_TEMPEST_CONCURRENCY:-2}' \
        bash /opt/stack/tempest.sh" 2>&1 | tee "$state/tempest.log" || trc=$?
    phase
    cat "$state/phases" >&2
    [[ $rc == 0 ]] || die "the openstack client exercise failed"
    [[ $trc == 0 ]] || die "Tempest failed"
}
running_or_die() { running || die "$name is not up"; }
# What the exercise runs on a server's node (over SSH, as the stack user).
install_node_script() {
    install -o "$(stat -c %u "$rootfs/opt/stack")" -m 644 "$here/node.sh" \
        "$rootfs/opt/stack/node.sh"
}

stop_container() {
    if running; then
        in_container bash -c 'cd /opt/stack/devstack && su stack -c ./unstack.sh' \
            > "$state/unstack-$name.log" 2>&1 || true
        lxc-stop -P "$lxcpath" -n "$name" -k || true
    fi
    ip link del "$host_if" 2>/dev/null || true
    ip link del "$node_link" 2>/dev/null || true
    # The cgroups LXC made for the container (libvirt's below it included).
    local cg
    for cg in /sys/fs/cgroup/*/lxc.payload."$name" /sys/fs/cgroup/*/lxc.monitor."$name"; do
        [[ -d $cg ]] || continue
        remove_cgroup "$cg"
    done
}
remove_cgroup() { find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true; }

cmd_down() {
    [[ $(id -u) == 0 ]] || die "run as root"
    [[ -d $state ]] || { say "nothing to remove"; return 0; }
    if [[ -r $state/proxy.pid ]]; then
        kill "$(cat "$state/proxy.pid")" 2>/dev/null || true
        rm -f "$state/proxy.pid"
    fi
    # The compute-only nodes first.
    local n
    for n in $(seq "$nodes" -1 1); do
        use_node "$n"
        stop_container
    done
    # Loop devices belong to the host kernel: release the containers'.
    local dev back
    for dev in /sys/block/loop*; do
        back=$(cat "$dev/loop/backing_file" 2>/dev/null) || continue
        if [[ $back == "$lxcpath"/* ]]; then
            losetup -d "/dev/${dev##*/}" 2>/dev/null || true
        fi
    done
    # LXC's pivot cgroup, unless it was there before.
    local cg
    for cg in /sys/fs/cgroup/*/lxc.pivot; do
        [[ -d $cg ]] || continue
        grep -qxF "$cg" "$state/host.before" 2>/dev/null || remove_cgroup "$cg"
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
    say "down: containers removed, host interfaces, routes, firewall, loop devices and mounts as before"
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
    # phases, what a failed exercise said from its failure on, and the
    # tests Tempest failed.
    local phases failure tempest_failures
    phases=$(cat "$state/phases" 2>/dev/null || true)
    failure=$(sed -n '/ exercise: FAIL: /,$p' "$state/exercise.log" 2>/dev/null | tail -40 || true)
    tempest_failures=$(sed -n '/^tempest: failures:/,$p' "$state/tempest.log" 2>/dev/null |
        grep -E '^(FAIL|ERROR):' | head -40 || true)
    "$0" down || rc=$?
    [[ -z $failure ]] || printf 'the exercise failed:\n%s\n' "$failure" >&2
    [[ -z $tempest_failures ]] || printf 'Tempest failed:\n%s\n' "$tempest_failures" >&2
    printf 'phases:\n%s\n' "$phases" >&2
    return $rc
}

case ${1:-} in
    up) cmd_up ;;
    test) cmd_test ;;
    down) cmd_down ;;
    all) cmd_all ;;
    shell) use_node "${2:-1}"; running_or_die; lxc-attach -P "$lxcpath" -n "$name" ;;
    *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
