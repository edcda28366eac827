#!/bin/bash
# The life of one server with the real openstack client, on node 1 of the
# DevStack cloud (run as the stack user by tools/devstack-in-lxc.sh test):
# network and subnet, a partitioned qcow2 image, a server on a port goes
# ACTIVE, its container pings the gateway stand-in on the port's bridge and
# has the network's MTU, reboot, stop/start (pinging again each time); with
# two compute hosts, a live migration refused (the server untouched), a cold
# migration to the other one and an evacuation back (the port unplugged and
# unregistered on the host it left, plugged and registered where it runs);
# delete, and nothing is left on any host. What it looks at on a host,
# node.sh does there (over SSH).
set -euo pipefail

gateway=10.10.0.1
prefix=nlc-exercise
computes_expected=${NLC_COMPUTE_NODES:-1}
# DevStack's openrc is not nounset-clean.
set +u
# shellcheck disable=SC1091
source /opt/stack/devstack/openrc admin admin >/dev/null
set -u
export PATH=/opt/stack/data/venv/bin:$PATH

say() { printf '%s exercise: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { say "FAIL: $*"; exit 1; }
os() { openstack "$@"; }
field() { openstack "$@" -f value; }
# Forcing a service down and up: compute API 2.11.
compute_service() { openstack --os-compute-api-version 2.11 compute service "$@"; }
# nova refuses to force a compute service up while evacuations from it are
# not cleaned up: its nova-compute does that when it starts again.
force_up() {  # HOST
    local deadline
    deadline=$((SECONDS + 120))
    until compute_service set --up "$1" nova-compute 2>/dev/null; do
        [[ $SECONDS -lt $deadline ]] || fail "nova-compute on $1 is still forced down after 120 s"
        sleep 2
    done
}

node() {  # HOST COMMAND ARGS...: node.sh COMMAND on HOST
    local host=$1
    shift
    ssh -o BatchMode=yes "$host" bash /opt/stack/node.sh "$@"
}
on() {  # HOST COMMAND ARGS...: node.sh's output; the run stops if it fails
    local out
    # Called in $(...): the failure goes to stderr, not into the caller's value.
    out=$(node "$@") || { fail "$out"; } >&2
    echo "$out"
}

fault() {  # SERVER -> the fault's message, without nova's traceback
    { field server show "$1" -c fault 2>/dev/null || true; } | python3 -c \
        'import ast,sys; f=ast.literal_eval(sys.stdin.read() or "None"); print((f or {}).get("message"))'
}

host_of() { field server show "$1" -c OS-EXT-SRV-ATTR:host; }
elapsed() { python3 -c "print('%.1f' % ($(date +%s.%N) - $start))"; }  # since $start

wait_status() {  # SERVER STATUS [HOST]: and no task in progress, on HOST
    local status task host deadline
    deadline=$((SECONDS + 180))
    while (( SECONDS < deadline )); do
        read -r status task host < <(openstack server show "$1" -f json | python3 -c \
            'import json,sys; d=json.load(sys.stdin); print(d["status"], d["OS-EXT-STS:task_state"], d["OS-EXT-SRV-ATTR:host"])')
        [[ $status == ERROR ]] && fail "$1 went to ERROR: $(fault "$1")"
        if [[ $status == "$2" && $task == None && $host == "${3:-$host}" ]]; then
            return 0
        fi
        sleep 1
    done
    fail "$1 is $status (task $task) on $host, not $2${3:+ on $3}, after 180 s"
}

# The port as the vRouter sees it on HOST (registered with the agent, its
# bridge up, promiscuous, holding the tap), the container pinging the
# gateway stand-in on that bridge, with the network's MTU.
check_server() {  # HOST: sets bridge and ifindex
    local out eth0_mtu
    out=$(on "$1" port "$port")
    read -r bridge ifindex <<< "$out"
    out=$(on "$1" ping "$instance" "$address" "$bridge" "$gateway")
    say "on $1: $out"
    eth0_mtu=$(on "$1" mtu "$instance")
    [[ $eth0_mtu == "$mtu" ]] ||
        fail "the container's eth0 on $1 has MTU $eth0_mtu, the network $mtu"
}

nothing_left_on() {  # HOST: nothing of the port or the server
    local left
    left=$(on "$1" left "$port" "$instance_dir")
    [[ -z $left ]] || fail "left on $1: $left"
}

# What nova and neutron logged on every host while this ran, for a failed
# run's reader.
started=$(date '+%Y-%m-%d %H:%M:%S')
diagnose() {
    say "server: $(field server show $prefix-server -c status -c OS-EXT-SRV-ATTR:host 2>&1 | paste -sd' ') $(fault $prefix-server 2>&1)"
    local host
    for host in ${computes:-}; do
        say "warnings and errors logged on $host since $started:"
        node "$host" journal "'$started'" || true
    done
}

stopped_compute=
cleanup() {
    local rc=$?
    if [[ -n $stopped_compute ]]; then
        node "$stopped_compute" compute start || true
        force_up "$stopped_compute" || true
    fi
    [[ $rc == 0 ]] || diagnose
    os server delete --wait $prefix-server 2>/dev/null || true
    os port delete $prefix-port 2>/dev/null || true
    os subnet delete $prefix-subnet 2>/dev/null || true
    os network delete $prefix-net 2>/dev/null || true
    os image delete $prefix-image 2>/dev/null || true
}
trap cleanup EXIT

computes=$(field compute service list --service nova-compute -c Host | sort)
[[ $(wc -l <<< "$computes") == "$computes_expected" ]] ||
    fail "compute hosts: $(paste -sd' ' <<< "$computes"), not $computes_expected"
say "compute hosts: $(paste -sd' ' <<< "$computes")"

say "network, subnet, port"
os network create $prefix-net >/dev/null
mtu=$(field network show $prefix-net -c mtu)
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
say "ACTIVE in $(elapsed) s"
host=$(host_of $prefix-server)
instance=$(field server show $prefix-server -c OS-EXT-SRV-ATTR:instance_name)
instance_dir=/opt/stack/data/nova/instances/$(field server show $prefix-server -c id)
[[ $(field port show "$port" -c binding_vif_type) == vrouter ]] ||
    fail "port $port is not bound with vif_type vrouter"
check_server "$host"
say "port bound (vrouter), registered with the agent on $host as $bridge, $instance running, MTU $mtu"

say "reboot"
first_ifindex=$ifindex
os server reboot --wait $prefix-server >/dev/null
wait_status $prefix-server ACTIVE "$host"
check_server "$host"
[[ $ifindex == "$first_ifindex" ]] || fail "the bridge was re-created on reboot"

say "stop, start"
os server stop $prefix-server
wait_status $prefix-server SHUTOFF "$host"
[[ $(on "$host" state "$instance") == "shut off" ]] || fail "$instance still runs"
os server start $prefix-server
wait_status $prefix-server ACTIVE "$host"
check_server "$host"

# Between two compute hosts: live migration refused, cold migration and
# evacuation done.
if [[ $(wc -l <<< "$computes") -ge 2 ]]; then
    other=$(grep -vxF "$host" <<< "$computes" | head -1)
    say "live migration to $other: refused, the server untouched"
    # To the other host by name (compute API 2.30): the destination's checks
    # refuse it. nova's API answers 400 (seen here: "No valid host was
    # found", the checks' reason in the conductor's log); an API that took it
    # would end the migration in error.
    refusal=$(openstack --os-compute-api-version 2.30 server migrate --live-migration \
        --host "$other" $prefix-server 2>&1) && refusal="accepted"
    for _ in $(seq 60); do
        status=$(openstack --os-compute-api-version 2.80 server migration list \
            --server $prefix-server --type live-migration -f value -c Status)
        [[ $status == error ]] && break
        sleep 1
    done
    [[ $status == error ]] || fail "the live migration is '$status', not error"
    say "refused (${refusal##*, }); the migration in error"
    wait_status $prefix-server ACTIVE "$host"
    check_server "$host"
    [[ $ifindex == "$first_ifindex" ]] || fail "the bridge was re-created by the refused live migration"

    say "cold migrate from $host"
    start=$(date +%s.%N)
    # To the other host by name (compute API 2.56): nova may otherwise pick
    # this one (the driver migrates to its own host too).
    openstack --os-compute-api-version 2.56 server migrate --host "$other" $prefix-server
    wait_status $prefix-server VERIFY_RESIZE "$other"
    os server resize confirm $prefix-server
    wait_status $prefix-server ACTIVE "$other"
    say "ACTIVE on $other in $(elapsed) s"
    nothing_left_on "$host"
    check_server "$other"

    say "evacuate from $other: its nova-compute stopped, the service forced down"
    on "$other" compute stop >/dev/null
    stopped_compute=$other
    compute_service set --down "$other" nova-compute
    start=$(date +%s.%N)
    os server evacuate $prefix-server >/dev/null
    # Since compute API 2.95 (the client's default) the server is rebuilt
    # there stopped, ports plugged; its user starts it.
    wait_status $prefix-server SHUTOFF "$host"
    say "SHUTOFF on $host in $(elapsed) s, port $(on "$host" port "$port" | cut -d' ' -f1) registered there"
    os server start $prefix-server
    wait_status $prefix-server ACTIVE "$host"
    check_server "$host"
    say "$other's nova-compute back: it removes what it had of the evacuated server"
    on "$other" compute start >/dev/null
    force_up "$other"
    stopped_compute=
    nothing_left_on "$other"
    [[ $(openstack --os-compute-api-version 2.80 server migration list --server $prefix-server \
        --type evacuation -f value -c Status) == completed ]] || fail "the evacuation is not completed"
    say "$other: no port file, registration, bridge, tap, domain, mount or instance dir left"
fi

say "delete"
os server delete --wait $prefix-server
os port delete "$port"
for host in $computes; do
    nothing_left_on "$host"
done
loops=$(on "$host" loops)
[[ -z $loops ]] || fail "loop devices left: $loops"
say "deleted: no port file, registration, bridge, tap, domain, mount, loop device or instance dir left on $(paste -sd' ' <<< "$computes")"
trap - EXIT
cleanup
say "OK"
