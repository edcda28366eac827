#!/bin/bash
# The life of one server with the real openstack client, inside the DevStack
# container (run as the stack user by tools/devstack-in-lxc.sh test):
# network and subnet, a partitioned qcow2 image, a server on a port goes
# ACTIVE, its container pings the gateway stand-in on the port's bridge,
# reboot, stop/start (pinging again each time), delete, and nothing is left.
set -euo pipefail

venv=/opt/stack/data/venv
ports_dir=/var/lib/contrail/ports
gateway=10.10.0.1
prefix=nlc-exercise
# DevStack's openrc is not nounset-clean.
set +u
# shellcheck disable=SC1091
source /opt/stack/devstack/openrc admin admin >/dev/null
set -u
export PATH=$venv/bin:$PATH

say() { printf '%s exercise: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { say "FAIL: $*"; exit 1; }
os() { openstack "$@"; }
field() { openstack "$@" -f value; }

fault() {  # SERVER -> the fault's message, without nova's traceback
    { field server show "$1" -c fault 2>/dev/null || true; } | python3 -c \
        'import ast,sys; f=ast.literal_eval(sys.stdin.read() or "None"); print((f or {}).get("message"))'
}

wait_status() {  # SERVER STATUS
    local _ status
    for _ in $(seq 120); do
        status=$(field server show "$1" -c status)
        [[ $status == "$2" ]] && return 0
        [[ $status == ERROR ]] && fail "$1 went to ERROR: $(fault "$1")"
        sleep 1
    done
    fail "$1 is $status, not $2, after 120 s"
}

virsh_lxc() { sudo virsh -q -c lxc:/// "$@"; }

# The gateway stand-in on a bridge, in the background (as root: it opens an
# AF_PACKET socket). Stopped by one signal to the program itself (sudo's
# child): a pattern (pkill -f) also matches the killing sudo's command line.
gw_pid=
start_gateway() {  # BRIDGE
    # shellcheck disable=SC2024  # the log is the stack user's, on purpose
    sudo "$venv/bin/python" -m nova_lxc_contrail.standin.gateway "$1" "$gateway" \
        > /tmp/$prefix-gateway.log 2>&1 &
    gw_pid=$!
    # It says when its socket is bound; before that the container's first
    # ARP requests would go unanswered.
    local _
    for _ in $(seq 100); do
        grep -q answering /tmp/$prefix-gateway.log && return 0
        [[ -e /proc/$gw_pid ]] || fail "the gateway stand-in exited: $(cat /tmp/$prefix-gateway.log)"
        sleep 0.2
    done
    fail "the gateway stand-in did not start in 20 s"
}

stop_gateway() {
    [[ -n $gw_pid ]] || return 0
    local program
    program=$(pgrep -P "$gw_pid" || true)
    [[ -z $program ]] || sudo kill -TERM "$program" || true
    wait "$gw_pid" || true
    gw_pid=
}

# The container's own busybox: its address, then 3 pings to the gateway,
# answered by the stand-in on the bridge the vRouter would attach to.
ping_gateway() {  # INSTANCE_NAME ADDRESS BRIDGE
    local out
    start_gateway "$3"
    virsh_lxc lxc-enter-namespace "$1" --noseclabel /bin/ip addr replace "$2/24" dev eth0
    virsh_lxc lxc-enter-namespace "$1" --noseclabel /bin/ip link set eth0 up
    out=$(virsh_lxc lxc-enter-namespace "$1" --noseclabel /bin/ping -c 3 -W 2 "$gateway") ||
        fail "the container could not ping $gateway: $out"
    stop_gateway
    say "$(grep -h 'packets transmitted' <<< "$out"); $(tail -1 /tmp/$prefix-gateway.log)"
    rm -f /tmp/$prefix-gateway.log
}

# The port as the vRouter sees it: a registration naming the bridge, the
# bridge up, promiscuous, holding the tap.
check_port() {  # PORT_ID -> prints the bridge
    local file=$ports_dir/$1 bridge flags
    [[ -f $file ]] || fail "no agent port file $file"
    bridge=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["system-name"]); assert d["type"] == 0, d' "$file")
    [[ -d /sys/class/net/$bridge/bridge ]] || fail "$bridge is not a bridge"
    flags=$(cat "/sys/class/net/$bridge/flags")
    [[ $((flags & 0x100)) != 0 ]] || fail "$bridge is not promiscuous (flags $flags)"
    [[ -n $(ls "/sys/class/net/$bridge/brif/") ]] || fail "$bridge holds no tap"
    echo "$bridge"
}

# What nova and neutron logged while this ran, for a failed run's reader.
started=$(date '+%Y-%m-%d %H:%M:%S')
diagnose() {
    say "server: $(field server show $prefix-server -c status 2>&1) $(fault $prefix-server 2>&1)"
    say "warnings and errors logged by nova and neutron since $started:"
    # DevStack's services log to the journal at one priority: their level
    # is in the text.
    sudo journalctl -q --no-pager -o cat --since "$started" -u 'devstack@*' |
        sed 's/\x1b\[[0-9;]*m//g' | grep -E ' (WARNING|ERROR|CRITICAL) ' |
        grep -vE 'privsep log:|is deprecated|thread_pool_factory|unexpected event' |
        cut -c1-400 | tail -25 || true
}

cleanup() {
    local rc=$?
    stop_gateway
    [[ $rc == 0 ]] || diagnose
    os server delete --wait $prefix-server 2>/dev/null || true
    os port delete $prefix-port 2>/dev/null || true
    os subnet delete $prefix-subnet 2>/dev/null || true
    os network delete $prefix-net 2>/dev/null || true
    os image delete $prefix-image 2>/dev/null || true
}
trap cleanup EXIT

say "network, subnet, port"
os network create $prefix-net >/dev/null
os subnet create --network $prefix-net --subnet-range 10.10.0.0/24 \
    --gateway $gateway $prefix-subnet >/dev/null
port=$(field port create --network $prefix-net $prefix-port -c id)
address=$(field port show "$port" -c fixed_ips | python3 -c \
    'import ast,sys; print(ast.literal_eval(sys.stdin.read())[0]["ip_address"])')

say "a partitioned qcow2 image (GPT, root in partition 1 after 14 and 15)"
qemu-img info /opt/stack/images/busybox-gpt.qcow2 | grep -q 'file format: qcow2' ||
    fail "the test image is not qcow2"
os image create --disk-format qcow2 --container-format bare \
    --file /opt/stack/images/busybox-gpt.qcow2 $prefix-image >/dev/null

say "server on port $port"
start=$(date +%s.%N)
os server create --flavor m1.tiny --image $prefix-image --port "$port" \
    $prefix-server >/dev/null
wait_status $prefix-server ACTIVE
say "ACTIVE in $(python3 -c "print('%.1f' % ($(date +%s.%N) - $start))") s"
instance=$(field server show $prefix-server -c OS-EXT-SRV-ATTR:instance_name)
[[ $(field port show "$port" -c binding_vif_type) == vrouter ]] ||
    fail "port $port is not bound with vif_type vrouter"
bridge=$(check_port "$port")
ifindex=$(cat "/sys/class/net/$bridge/ifindex")
say "port bound (vrouter), registered with the agent as $bridge, $instance running"
ping_gateway "$instance" "$address" "$bridge"

say "reboot"
os server reboot --wait $prefix-server >/dev/null
wait_status $prefix-server ACTIVE
[[ $(check_port "$port") == "$bridge" ]] || fail "the port changed on reboot"
[[ $(cat "/sys/class/net/$bridge/ifindex") == "$ifindex" ]] || fail "the bridge was re-created on reboot"
ping_gateway "$instance" "$address" "$bridge"

say "stop, start"
os server stop $prefix-server
wait_status $prefix-server SHUTOFF
[[ $(virsh_lxc domstate "$instance") == "shut off" ]] || fail "$instance still runs"
os server start $prefix-server
wait_status $prefix-server ACTIVE
[[ $(check_port "$port") == "$bridge" ]] || fail "the port changed on stop/start"
ping_gateway "$instance" "$address" "$bridge"

say "delete"
instance_dir=/opt/stack/data/nova/instances/$(field server show $prefix-server -c id)
os server delete --wait $prefix-server
os port delete "$port"
left=()
[[ ! -e $ports_dir/$port ]] || left+=("agent port file $port")
[[ ! -e /sys/class/net/$bridge ]] || left+=("bridge $bridge")
[[ ! -e $instance_dir ]] || left+=("instance dir $instance_dir")
[[ -z $(virsh_lxc list --all --name) ]] || left+=("libvirt domains: $(virsh_lxc list --all --name)")
grep -q "$instance_dir" /proc/self/mountinfo && left+=("mounts under $instance_dir")
[[ -z $(sudo losetup -n -O BACK-FILE | grep /opt/stack/data/nova || true) ]] ||
    left+=("loop devices: $(sudo losetup -n -O NAME,BACK-FILE)")
[[ ${#left[@]} == 0 ]] || fail "left behind: ${left[*]}"
say "deleted: no port file, bridge, tap, domain, mount, loop device or instance dir left"
trap - EXIT
cleanup
say "OK"
