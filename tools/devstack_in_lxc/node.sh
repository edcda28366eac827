#!/bin/bash
# What exercise.sh looks at on one compute node, run there as the stack user
# (over SSH from node 1, to itself too):
#
#   node.sh port PORT_ID          the port as the vRouter sees it: prints
#                                 "BRIDGE IFINDEX"
#   node.sh ping INSTANCE ADDRESS BRIDGE GATEWAY
#                                 the container pings GATEWAY, answered by
#                                 the gateway stand-in on BRIDGE
#   node.sh mtu INSTANCE          the MTU of the container's eth0
#   node.sh state INSTANCE        libvirt's state of the container
#   node.sh left PORT_ID INSTANCE_DIR
#                                 what of the port and the server is here
#                                 (nothing printed: nothing)
#   node.sh loops                 loop devices of nova's files, any node's
#   node.sh compute stop|start    this node's nova-compute
#   node.sh journal SINCE         warnings and errors DevStack's services
#                                 logged since SINCE
#
# A failed check prints why on stdout and exits 1.
set -euo pipefail

venv=/opt/stack/data/venv
ports_dir=/var/lib/contrail/ports
agent=http://localhost:9091
log=/tmp/nlc-exercise-gateway.log

fail() { echo "$(hostname): $*"; exit 1; }
virsh_lxc() { sudo virsh -q -c lxc:/// "$@"; }
in_guest() {  # INSTANCE COMMAND...: in the container, with its own busybox
    local instance=$1
    shift
    virsh_lxc lxc-enter-namespace "$instance" --noseclabel "$@"
}
# The agent's answer to GET /port/ID: 200 while the port is registered.
agent_status() {
    curl -s -o /dev/null -w '%{http_code}' --noproxy '*' "$agent/port/$1" || true
}

# A registration naming the bridge (in the agent and in its port file), the
# bridge up, promiscuous, holding the tap.
port() {
    local file=$ports_dir/$1 bridge flags
    [[ -f $file ]] || fail "no agent port file $file"
    [[ $(agent_status "$1") == 200 ]] || fail "the agent has no port $1"
    bridge=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["system-name"]); assert d["type"] == 0, d' "$file")
    [[ -d /sys/class/net/$bridge/bridge ]] || fail "$bridge is not a bridge"
    flags=$(cat "/sys/class/net/$bridge/flags")
    [[ $((flags & 0x100)) != 0 ]] || fail "$bridge is not promiscuous (flags $flags)"
    [[ -n $(ls "/sys/class/net/$bridge/brif/") ]] || fail "$bridge holds no tap"
    echo "$bridge $(cat "/sys/class/net/$bridge/ifindex")"
}

# The gateway stand-in in the background (as root: it opens an AF_PACKET
# socket), stopped by one signal to the program itself (sudo's child): a
# pattern (pkill -f) also matches the killing sudo's command line.
gw_pid=
start_gateway() {  # BRIDGE GATEWAY
    # shellcheck disable=SC2024  # the log is the stack user's, on purpose
    sudo "$venv/bin/python" -m nova_lxc_contrail.standin.gateway "$1" "$2" \
        > "$log" 2>&1 &
    gw_pid=$!
    # It says when its socket is bound; before that the container's first
    # ARP requests would go unanswered.
    local _
    for _ in $(seq 100); do
        grep -q answering "$log" && return 0
        [[ -e /proc/$gw_pid ]] || fail "the gateway stand-in exited: $(cat "$log")"
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
trap stop_gateway EXIT

# The container's own busybox: its address, then 3 pings to the gateway.
ping_gateway() {  # INSTANCE ADDRESS BRIDGE GATEWAY
    local out
    start_gateway "$3" "$4"
    in_guest "$1" /bin/ip addr replace "$2/24" dev eth0
    in_guest "$1" /bin/ip link set eth0 up
    out=$(in_guest "$1" /bin/ping -c 3 -W 2 "$4") ||
        fail "the container could not ping $4: $out"
    stop_gateway
    echo "$(grep -h 'packets transmitted' <<< "$out"); $(tail -1 "$log")"
    rm -f "$log"
}

left() {  # PORT_ID INSTANCE_DIR
    local tap=tap${1:0:11} left=()
    [[ ! -e $ports_dir/$1 ]] || left+=("agent port file $1")
    [[ $(agent_status "$1") != 200 ]] || left+=("agent registration $1")
    [[ ! -e /sys/class/net/br${1:0:11} ]] || left+=("bridge br${1:0:11}")
    [[ ! -e /sys/class/net/$tap ]] || left+=("tap $tap")
    [[ ! -e $2 ]] || left+=("instance dir $2")
    [[ ! -e ${2}_resize ]] || left+=("instance dir ${2}_resize")
    [[ -z $(virsh_lxc list --all --name) ]] ||
        left+=("libvirt domains: $(virsh_lxc list --all --name)")
    ! grep -q "$2" /proc/self/mountinfo || left+=("mounts under $2")
    echo "${left[*]}"
}

# Loop devices are the host kernel's: every node sees all of them, and a
# node's instance paths are the other's too.
loops() {
    sudo losetup -n -O NAME,BACK-FILE | grep /opt/stack/data/nova || true
}

journal() {  # SINCE
    # DevStack's services log to the journal at one priority: their level
    # is in the text.
    sudo journalctl -q --no-pager -o cat --since "$1" -u 'devstack@*' |
        sed 's/\x1b\[[0-9;]*m//g' | grep -E '^(WARNING|ERROR|CRITICAL) ' |
        grep -vE 'privsep log:|is deprecated|thread_pool_factory|unexpected event' |
        cut -c1-400 | tail -25 || true
}

case ${1:-} in
    port) port "$2" ;;
    ping) ping_gateway "$2" "$3" "$4" "$5" ;;
    mtu) in_guest "$2" /bin/cat /sys/class/net/eth0/mtu ;;
    state) virsh_lxc domstate "$2" ;;
    left) left "$2" "$3" ;;
    loops) loops ;;
    compute) sudo systemctl "$2" devstack@n-cpu ;;
    journal) journal "$2" ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
esac
