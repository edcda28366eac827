#!/bin/bash
# DevStack plugin of nova-lxc-contrail: makes this host an LXC compute host
# (libvirt-LXC instances on an OpenContrail / Tungsten Fabric vRouter) and
# points nova-compute at this package's drivers.
#
#   [[local|localrc]]
#   enable_plugin nova-lxc-contrail <git-url> [ref]
#
# stack.sh, unstack.sh and clean.sh source this file as `plugin.sh MODE
# [PHASE]` into their own shell (stack.sh runs with errexit): every failing
# command ends the run and every name defined here leaks into DevStack,
# hence the nova_lxc_contrail / _nlc prefixes.

_NLC_XTRACE=$(set +o | grep xtrace)
set +o xtrace

# nova.conf [lxc_contrail] options; each takes its value from the
# NOVA_LXC_CONTRAIL_<OPTION> knob of devstack/settings.
_NLC_OPTIONS=(agent_url ports_dir agent_connect_timeout agent_read_timeout
    bridge_promiscuous root_partition image_export release_timeout
    console_log_bytes rootfs_idmap)
_NLC_COMPUTE_DRIVER=lxc_contrail.LxcContrailDriver
# The oslo.privsep section of each privileged helper (see
# nova_lxc_contrail/conf/privsep.py) and the rootwrap filters that let
# nova-compute, running as $STACK_USER, start their daemons.
_NLC_PRIVSEP_SECTIONS=(lxc_contrail_vif_privileged lxc_contrail_disk_privileged
    lxc_contrail_container_net_privileged lxc_contrail_console_privileged
    lxc_contrail_cli_privileged)
_NLC_ROOTWRAP_FILTERS=etc/nova/rootwrap.d/nova-lxc-contrail.filters


# Record of what the plugin created
# ---------------------------------
# One line per object: "node PATH TYPE MAJOR MINOR", "dir PATH",
# "link PATH TARGET" or "file PATH SHA256". clean removes these, and nothing
# else.

function _nlc_state_file {
    echo "$NOVA_LXC_CONTRAIL_STATE_DIR/created"
}

function _nlc_record {
    local entry="$*"
    local file
    file=$(_nlc_state_file)
    mkdir -p "$NOVA_LXC_CONTRAIL_STATE_DIR"
    if ! grep -qxF -- "$entry" "$file" 2>/dev/null; then
        echo "$entry" >> "$file"
    fi
}

function _nlc_forget {
    local entry="$*"
    local file
    file=$(_nlc_state_file)
    if [[ -f $file ]]; then
        grep -vxF -- "$entry" "$file" > "$file.new" || true
        mv "$file.new" "$file"
    fi
}

# Forget every record of PATH (before recording it anew).
# _nlc_forget_path KIND PATH
function _nlc_forget_path {
    local prefix="$1 $2 "
    local file
    file=$(_nlc_state_file)
    if [[ -f $file ]]; then
        awk -v prefix="$prefix" 'index($0, prefix) != 1' "$file" > "$file.new"
        mv "$file.new" "$file"
    fi
}

function _nlc_sha256 {
    local sum
    sum=$(sha256sum < "$1")
    echo "${sum%% *}"
}

function _nlc_say {
    echo "nova-lxc-contrail: $*"
}

function _nlc_prepare_allowed {
    [[ $(trueorfalse True NOVA_LXC_CONTRAIL_PREPARE_HOST) == True ]]
}

# The python of DevStack's environment, where nova and this package live.
function _nlc_python {
    if [[ ${GLOBAL_VENV:-False} == True && -x ${DEVSTACK_VENV:-}/bin/python ]]; then
        echo "$DEVSTACK_VENV/bin/python"
    else
        echo "python${PYTHON3_VERSION:-3}"
    fi
}

# Create PATH and its missing parents, recording each one created.
# _nlc_make_dir PATH [OWNER]
function _nlc_make_dir {
    local path=$1
    local owner=${2:-}
    local missing=()
    local dir=$path
    while [[ ! -d $dir ]]; do
        missing=("$dir" "${missing[@]}")
        dir=$(dirname "$dir")
    done
    for dir in "${missing[@]}"; do
        sudo mkdir "$dir" || return 1
        _nlc_record dir "$dir"
        _NLC_MADE_NOW+=("dir $dir")
        if [[ -n $owner ]]; then
            sudo chown "$owner" "$dir"
        fi
    done
}


# Host check (stack pre-install)
# ------------------------------

function _nlc_container_kind {
    local kind
    if command -v systemd-detect-virt >/dev/null; then
        kind=$(systemd-detect-virt --container 2>/dev/null) || kind=none
    elif [[ -f /run/.containerenv ]]; then
        kind=podman
    elif [[ -f /.dockerenv ]]; then
        kind=docker
    else
        kind=none
    fi
    echo "$kind"
}

function _nlc_cgroup2_mount {
    awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts
}

# How to let a container use a device: TYPE MAJOR MINOR PATH
function _nlc_device_remedy {
    local type=$1 major=$2 minor=$3 path=$4
    local rule="$type $major:$minor rwm"
    case $_NLC_CONTAINER in
        none)
            echo "load its kernel module or create the node:" \
                "sudo mknod $path $type $major ${minor/\*/0}"
            ;;
        lxc|lxc-libvirt)
            echo "allow it in the container's LXC config, then restart the container:"
            echo "      lxc.cgroup2.devices.allow = $rule   (cgroup v2 host, LXC 4 and later)"
            echo "      lxc.cgroup.devices.allow = $rule    (cgroup v1 host, LXC 1.x to 4)"
            if [[ $type == c ]]; then
                echo "      lxc.mount.entry = $path ${path#/} none bind,create=file,optional 0 0"
            fi
            echo "    ('nova-lxc-contrail lxc-config' prints the whole configuration)"
            ;;
        docker|podman)
            echo "start the container with --device-cgroup-rule='$rule'" \
                "and --device $path (or --privileged)"
            ;;
        *)
            echo "allow the device $rule in the $_NLC_CONTAINER container's device cgroup" \
                "and make $path visible in it"
            ;;
    esac
}

function _nlc_problem {
    _NLC_PROBLEMS+=("$*")
}

function _nlc_note {
    _NLC_NOTES+=("$*")
}

function _nlc_check_cgroups {
    local v1 v2 controllers missing=() found=() name
    v1=" $(awk '$3 == "cgroup" {print $4}' /proc/self/mounts | tr ',\n' '  ') "
    v2=$(_nlc_cgroup2_mount)
    if [[ $v1 =~ \ (cpuacct|memory|devices)\  ]]; then
        # libvirt-LXC needs these three; cpu, freezer and blkio are optional.
        for name in cpuacct memory devices; do
            if [[ $v1 != *" $name "* ]]; then
                missing+=("$name")
            fi
        done
        if [[ ${#missing[@]} -gt 0 ]]; then
            _nlc_problem "cgroup v1 controllers not mounted: ${missing[*]}." \
                "libvirt-LXC needs cpuacct, memory and devices. Mount each one" \
                "(sudo mkdir -p /sys/fs/cgroup/NAME && sudo mount -t cgroup -o NAME" \
                "cgroup /sys/fs/cgroup/NAME); in an LXC container: lxc.mount.auto = cgroup:mixed"
        fi
        if [[ -n $v2 ]]; then
            _nlc_note "hybrid cgroup layout (v1 controllers plus cgroup2 at $v2):" \
                "libvirt's LXC driver fails to start containers while the cgroup2" \
                "mount is visible to libvirtd. Boot the host with" \
                "systemd.unified_cgroup_hierarchy=1 (cgroup v2 only), or with" \
                "systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1" \
                "(cgroup v1 only)."
        fi
        for name in cpu cpuacct cpuset memory devices freezer blkio pids; do
            if [[ $v1 == *" $name "* ]]; then
                found+=("$name")
            fi
        done
        _NLC_SUMMARY+=("cgroups: v1 (${found[*]})")
    elif [[ -n $v2 ]]; then
        controllers=$(cat "$v2/cgroup.controllers" 2>/dev/null || true)
        controllers=" $controllers "
        for name in cpu memory; do
            if [[ $controllers != *" $name "* ]]; then
                missing+=("$name")
            fi
        done
        if [[ ${#missing[@]} -gt 0 ]]; then
            _nlc_problem "cgroup v2 controllers not available at $v2: ${missing[*]}." \
                "libvirt-LXC needs cpu and memory. Delegate them to this host's" \
                "cgroup (for a container: enable them in its parent's" \
                "cgroup.subtree_control on the container's host)."
        fi
        _NLC_SUMMARY+=("cgroups: v2 at $v2 (${controllers:1:-1})")
    else
        _nlc_problem "no cgroup filesystem is mounted: libvirt-LXC needs the" \
            "cpuacct, memory and devices controllers (cgroup v1) or cgroup2."
    fi
}

function _nlc_check_namespaces {
    local out
    if ! out=$(sudo unshare --mount --uts --ipc --net --pid --fork true 2>&1); then
        _nlc_problem "cannot create the mount, UTS, IPC, network and PID namespaces" \
            "libvirt-LXC puts each instance in ($out). In a container allow" \
            "nesting: LXC 3 and later: lxc.include = /usr/share/lxc/config/nesting.conf" \
            "and lxc.apparmor.profile = unconfined (LXC 1.x/2.x: lxc.aa_profile =" \
            "unconfined); LXD: security.nesting=true; Docker: --privileged."
    fi
}

function _nlc_check_libvirt_lxc {
    local so
    for so in /usr/lib/*/libvirt/connection-driver/libvirt_driver_lxc.so \
            /usr/lib64/libvirt/connection-driver/libvirt_driver_lxc.so \
            /usr/lib/libvirt/connection-driver/libvirt_driver_lxc.so; do
        if [[ -e $so ]]; then
            _NLC_SUMMARY+=("libvirt LXC driver: $so")
            return 0
        fi
    done
    _nlc_problem "libvirt's LXC driver is not installed: install" \
        "libvirt-daemon-driver-lxc (listed in devstack/files/bindep.txt, which" \
        "DevStack installs with bindep before this check)."
}

function _nlc_check_tools {
    local pair tool missing=()
    for pair in qemu-img:qemu-utils qemu-storage-daemon:qemu-system-common \
            fusermount3:fuse3 sfdisk:fdisk mkfs.ext4:e2fsprogs \
            mkfs.xfs:xfsprogs mknod:coreutils unshare:util-linux; do
        tool=${pair%%:*}
        if ! PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null; then
            missing+=("$tool (package ${pair#*:})")
        fi
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        _nlc_problem "missing tools: ${missing[*]}; devstack/files/bindep.txt lists" \
            "their packages."
    fi
}

# lib/nova's configure_nova runs `sudo modprobe nbd`, unguarded, for
# LIBVIRT_TYPE=lxc on Debian and Ubuntu unless NOVA_BACKEND=LVM: when that
# fails, stack.sh stops there with modprobe's bare error. nova-lxc-contrail
# needs no nbd unless [lxc_contrail] image_export = nbd (qcow2 images go
# through qemu-storage-daemon's FUSE export): then a modprobe.d rule makes
# DevStack's step a no-op on this host (recorded; clean removes it).
_NLC_NBD_RULE=/etc/modprobe.d/nova-lxc-contrail-nbd.conf

function _nlc_check_devstack_nbd {
    local out
    _NLC_NBD_MISSING=
    if [[ ${LIBVIRT_TYPE:-} != lxc || ${NOVA_BACKEND:-} == LVM ]] || ! is_ubuntu; then
        return 0
    fi
    if out=$(sudo modprobe nbd 2>&1); then
        return 0
    fi
    if [[ $NOVA_LXC_CONTRAIL_IMAGE_EXPORT == nbd ]]; then
        _nlc_problem "[lxc_contrail] image_export = nbd needs the nbd module," \
            "and 'sudo modprobe nbd' fails here: ${out:-modprobe failed}." \
            "Install the running kernel's modules (Debian: linux-image-$(uname -r));" \
            "in a container load nbd on the container's host (sudo modprobe nbd) and" \
            "bind the host's modules into the container (LXC: lxc.mount.entry =" \
            "/lib/modules lib/modules none ro,bind 0 0); or leave image_export at auto."
        return 0
    fi
    if ! _nlc_prepare_allowed; then
        _nlc_problem "DevStack's configure_nova will run 'sudo modprobe nbd' and stop" \
            "stack.sh: it fails here (${out:-modprobe failed}). nova-lxc-contrail needs" \
            "no nbd; with NOVA_LXC_CONTRAIL_PREPARE_HOST=True the plugin makes that" \
            "step a no-op ($_NLC_NBD_RULE: install nbd /bin/true)."
        return 0
    fi
    _NLC_NBD_MISSING=${out:-modprobe failed}
}

# lib/nova's configure_nova also runs `restart_service iscsid`, unguarded. In
# a container iscsid cannot open its kernel interface (NETLINK_ISCSI exists
# in the host's first network namespace only): it exits, systemd reports the
# start failed and stack.sh stops. A systemd drop-in conditions iscsid on not
# running in a container, so the restart is skipped (iSCSI volumes cannot be
# attached there anyway).
_NLC_ISCSID_DROPIN=/etc/systemd/system/iscsid.service.d/nova-lxc-contrail.conf

function _nlc_check_devstack_iscsid {
    local python
    _NLC_ISCSID_MISSING=
    if [[ $_NLC_CONTAINER == none ]] || ! command -v systemctl >/dev/null; then
        return 0
    fi
    python=$(command -v python3 || true)
    if [[ -z $python ]] || "$python" -c 'import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 8).close()' 2>/dev/null; then
        return 0
    fi
    if ! _nlc_prepare_allowed; then
        _nlc_problem "DevStack's configure_nova will run 'systemctl restart iscsid' and stop" \
            "stack.sh: iscsid cannot run in this container (no NETLINK_ISCSI in its" \
            "network namespace). With NOVA_LXC_CONTRAIL_PREPARE_HOST=True the plugin" \
            "skips iscsid in containers ($_NLC_ISCSID_DROPIN: ConditionVirtualization=!container)."
        return 0
    fi
    _NLC_ISCSID_MISSING="iscsid cannot run in this $_NLC_CONTAINER container (no NETLINK_ISCSI)"
}

# A file the host check writes once the checks passed, recorded for clean
# and for a roll back if a later preparation step fails. One it wrote before
# and still recorded as is stays (_NLC_RULE_CHANGED stays empty).
# _nlc_write_rule PATH LINE...
function _nlc_write_rule {
    local path=$1 entry content
    shift
    content=$(printf '%s\n' "$@")
    _NLC_RULE_CHANGED=
    if [[ -f $path && $(< "$path") == "$content" ]] && grep -qxF -- \
            "file $path $(_nlc_sha256 "$path")" "$(_nlc_state_file)" 2>/dev/null; then
        return 0
    fi
    _NLC_RULE_CHANGED=yes
    _nlc_make_dir "$(dirname "$path")" || return 1
    printf '%s\n' "$@" | sudo tee "$path" >/dev/null
    entry="file $path $(_nlc_sha256 "$path")"
    _nlc_forget_path file "$path"
    _nlc_record "$entry"
    _NLC_MADE_NOW+=("$entry")
}

# systemd reads unit files and drop-ins again (after the plugin changed one).
function _nlc_daemon_reload {
    local systemctl
    # sudo's secure_path would not find an operator's own systemctl.
    systemctl=$(command -v systemctl || true)
    if [[ -n $systemctl ]]; then
        sudo "$systemctl" daemon-reload
    fi
}

function _nlc_write_host_rules {
    local out
    if [[ -n ${_NLC_NBD_MISSING:-} ]]; then
        _nlc_write_rule "$_NLC_NBD_RULE" \
            "# nova-lxc-contrail (DevStack plugin): DevStack runs 'modprobe nbd' for" \
            "# LIBVIRT_TYPE=lxc; this host has no nbd and nova-lxc-contrail needs none" \
            "# (image_export = $NOVA_LXC_CONTRAIL_IMAGE_EXPORT). Removed by clean.sh." \
            "install nbd /bin/true"
        if ! out=$(sudo modprobe nbd 2>&1); then
            _nlc_roll_back
            die $LINENO "DevStack's configure_nova will run 'sudo modprobe nbd' and stop" \
                "stack.sh: it fails here (${out:-modprobe failed}), even with $_NLC_NBD_RULE."
        fi
        _nlc_say "WARNING: no nbd here ($_NLC_NBD_MISSING); nova-lxc-contrail needs" \
            "none: $_NLC_NBD_RULE makes DevStack's 'modprobe nbd' a no-op"
    fi
    if [[ -n ${_NLC_ISCSID_MISSING:-} ]]; then
        _nlc_write_rule "$_NLC_ISCSID_DROPIN" \
            "# nova-lxc-contrail (DevStack plugin): $_NLC_ISCSID_MISSING;" \
            "# DevStack restarts it. Removed by clean.sh." \
            "[Unit]" "ConditionVirtualization=!container"
        if [[ -n $_NLC_RULE_CHANGED ]]; then
            _nlc_daemon_reload
        fi
        _nlc_say "WARNING: $_NLC_ISCSID_MISSING: $_NLC_ISCSID_DROPIN skips it"
    fi
}

function _nlc_load_module {
    local module=$1
    if [[ -d /sys/module/$module ]] || ! command -v modprobe >/dev/null; then
        return 0
    fi
    sudo modprobe "$module" 2>/dev/null || true
}

# Make sure a device node exists and can be opened; create it if missing
# and allowed. Sets _NLC_DEVICE_ERROR and fails otherwise.
# _nlc_ensure_node PATH TYPE MAJOR MINOR MODULE
function _nlc_ensure_node {
    local path=$1 type=$2 major=$3 minor=$4 module=$5
    local out
    _NLC_DEVICE_ERROR=""
    if [[ ! -e $path ]] && _nlc_prepare_allowed; then
        _nlc_load_module "$module"
    fi
    if [[ ! -e $path ]] && _nlc_prepare_allowed; then
        if ! _nlc_make_dir "$(dirname "$path")"; then
            _NLC_DEVICE_ERROR="$path is missing and $(dirname "$path") cannot be created"
            return 1
        fi
        if ! out=$(sudo mknod -m 0660 "$path" "$type" "$major" "$minor" 2>&1); then
            _NLC_DEVICE_ERROR="$path is missing and cannot be created ($out)"
            return 1
        fi
        if [[ $path == /dev/net/tun || $path == /dev/fuse ]]; then
            sudo chmod 0666 "$path"
        else
            sudo chgrp disk "$path" 2>/dev/null || true
        fi
        _nlc_record node "$path" "$type" "$major" "$minor"
        _NLC_MADE_NOW+=("node $path $type $major $minor")
    fi
    if [[ ! -e $path ]]; then
        _NLC_DEVICE_ERROR="$path is missing"
        return 1
    fi
    # shellcheck disable=SC2016
    if ! out=$(sudo bash -c ': <>"$1"' _ "$path" 2>&1); then
        _NLC_DEVICE_ERROR="$path cannot be opened (${out##*: })"
        return 1
    fi
}

# Undo what the current host check created, so that a failed check leaves
# the host as it found it.
function _nlc_roll_back {
    local i entry
    for ((i = ${#_NLC_MADE_NOW[@]} - 1; i >= 0; i--)); do
        entry=${_NLC_MADE_NOW[i]}
        _nlc_remove_entry "$entry" || true
    done
    _NLC_MADE_NOW=()
}

function _nlc_fail_device {
    local what=$1 type=$2 major=$3 minor=$4 path=$5
    local remedy
    remedy=$(_nlc_device_remedy "$type" "$major" "$minor" "$path")
    _nlc_roll_back
    die $LINENO "host check failed: $what: $_NLC_DEVICE_ERROR.
    Remedy: $remedy"
}

function _nlc_prepare_devices {
    local n nodes
    if ! _nlc_ensure_node /dev/net/tun c 10 200 tun; then
        _nlc_fail_device "the VIF driver creates taps through /dev/net/tun" \
            c 10 200 /dev/net/tun
    fi
    if ! _nlc_ensure_node /dev/loop-control c 10 237 loop; then
        _nlc_fail_device "root filesystems are attached with loop devices" \
            c 10 237 /dev/loop-control
    fi
    nodes=$NOVA_LXC_CONTRAIL_LOOP_NODES
    for n in /sys/block/loop*; do
        n=${n##*loop}
        if [[ $n =~ ^[0-9]+$ ]] && ((n + 1 > nodes)); then
            nodes=$((n + 1))
        fi
    done
    for ((n = 0; n < nodes; n++)); do
        if ! _nlc_ensure_node "/dev/loop$n" b 7 "$n" loop; then
            _nlc_fail_device "root filesystems are attached with loop devices" \
                b 7 '*' "/dev/loop$n"
        fi
    done
    _NLC_SUMMARY+=("devices: /dev/net/tun, /dev/loop-control, /dev/loop0-$((nodes - 1))")
    # [lxc_contrail] image_export: how qcow2 images become raw disks.
    case $NOVA_LXC_CONTRAIL_IMAGE_EXPORT in
        nbd)
            if ! _nlc_ensure_node /dev/nbd0 b 43 0 nbd; then
                _nlc_fail_device "image_export = nbd needs nbd devices" \
                    b 43 '*' /dev/nbd0
            fi
            _NLC_SUMMARY+=("qcow2 images: qemu-nbd (/dev/nbd0)")
            ;;
        fuse)
            if ! _nlc_ensure_node /dev/fuse c 10 229 fuse; then
                _nlc_fail_device "image_export = fuse needs FUSE" \
                    c 10 229 /dev/fuse
            fi
            _NLC_SUMMARY+=("qcow2 images: qemu-storage-daemon FUSE export (/dev/fuse)")
            ;;
        *)
            if [[ -b /dev/nbd0 ]]; then
                _NLC_SUMMARY+=("qcow2 images: qemu-nbd (/dev/nbd0)")
            elif _nlc_ensure_node /dev/fuse c 10 229 fuse; then
                _NLC_SUMMARY+=("qcow2 images: qemu-storage-daemon FUSE export (/dev/fuse)")
            else
                _nlc_fail_device "qcow2 images need FUSE (or nbd)" \
                    c 10 229 /dev/fuse
            fi
            ;;
    esac
}

function nova_lxc_contrail_check_host {
    local problem note item
    _NLC_PROBLEMS=()
    _NLC_NOTES=()
    _NLC_SUMMARY=()
    _NLC_MADE_NOW=()
    _NLC_CONTAINER=$(_nlc_container_kind)
    _NLC_SUMMARY+=("container: $_NLC_CONTAINER")

    # Checks that change nothing come first: a failure stops here, before
    # the plugin touched the host.
    _nlc_check_cgroups
    _nlc_check_namespaces
    _nlc_check_libvirt_lxc
    _nlc_check_tools
    _nlc_check_devstack_nbd
    _nlc_check_devstack_iscsid
    if [[ ! -d /run/systemd/system ]]; then
        _nlc_note "systemd is not running as init: DevStack starts nova-compute" \
            "as a systemd unit and restarts libvirtd and iscsid with systemctl."
    fi
    for note in "${_NLC_NOTES[@]}"; do
        _nlc_say "WARNING: $note"
    done
    if [[ ${#_NLC_PROBLEMS[@]} -gt 0 ]]; then
        problem="host check failed (container: $_NLC_CONTAINER):"
        for item in "${_NLC_PROBLEMS[@]}"; do
            problem+=$'\n'"    - $item"
        done
        die $LINENO "$problem"
    fi

    _nlc_write_host_rules
    _nlc_prepare_devices
    for item in "${_NLC_SUMMARY[@]}"; do
        _nlc_say "host check: $item"
    done
}


# Installation (stack install)
# ----------------------------
# nova imports compute drivers as 'nova.virt.<compute_driver>', so
# nova.virt.lxc_contrail must sit in the directory nova.virt is imported
# from. DevStack installs nova itself editable from $DEST/nova, so that is
# nova's git checkout, where neither an editable install of this package
# nor a wheel's nova/virt/lxc_contrail (it would land in site-packages,
# which nova.virt never searches) can reach. The plugin installs this
# package editable (live source, like every DevStack project) and links
# the shim directory into nova's tree, recording the link for clean.

function _nlc_link_shim {
    local python virt_dir link shim
    python=$(_nlc_python)
    shim=$NOVA_LXC_CONTRAIL_DIR/nova/virt/lxc_contrail
    if ! virt_dir=$("$python" -c 'import os, nova.virt; print(os.path.dirname(nova.virt.__file__))'); then
        die $LINENO "nova is not importable with $python; nova-lxc-contrail" \
            "links its driver module into nova's tree and needs nova installed first"
    fi
    link=$virt_dir/lxc_contrail
    if [[ -L $link && $(readlink "$link") == "$shim" ]]; then
        _nlc_record link "$link" "$shim"
        return 0
    fi
    if [[ -e $link || -L $link ]]; then
        _nlc_say "$link exists and was not made by this plugin: keeping it"
        return 0
    fi
    if [[ -w $virt_dir ]]; then
        ln -s "$shim" "$link"
    else
        sudo ln -s "$shim" "$link"
    fi
    _nlc_record link "$link" "$shim"
    _nlc_say "linked $link -> $shim"
}

# A program of this package in DevStack's environment, or nothing.
function _nlc_program {
    local program=${DEVSTACK_VENV:-}/bin/$1
    if [[ ${GLOBAL_VENV:-False} != True || ! -x $program ]]; then
        program=$(command -v "$1" || true)
    fi
    echo "$program"
}

# libvirt-LXC ignores <mtu>: this package's hook program gives both ends of
# each veth the network MTU as libvirt starts a container, before its init
# runs, reboots from inside included (nova_lxc_contrail/virt/libvirt_hook.py).
# libvirt runs the executables of hooks/lxc.d/, and reads which drivers have
# hooks when it starts and on SIGHUP: link the entry, then reload libvirtd.
function _nlc_install_libvirt_hook {
    local dir=$NOVA_LXC_CONTRAIL_LIBVIRT_HOOKS_DIR/lxc.d
    local entry program
    entry=$dir/nova-lxc-contrail
    program=$(_nlc_program nova-lxc-contrail-libvirt-hook)
    if [[ -z $program ]]; then
        die $LINENO "nova-lxc-contrail-libvirt-hook is not installed (it" \
            "comes with the package's console scripts): containers would" \
            "start with MTU 1500, not the network MTU"
    fi
    _NLC_MADE_NOW=()
    _nlc_make_dir "$dir"
    if [[ -L $entry && $(readlink "$entry") == "$program" ]]; then
        _nlc_record link "$entry" "$program"
    elif [[ -e $entry || -L $entry ]]; then
        _nlc_say "WARNING: $entry exists and was not made by this plugin:" \
            "keeping it ('nova-lxc-contrail check' says what it runs)"
    else
        sudo ln -s "$program" "$entry"
        _nlc_record link "$entry" "$program"
        _nlc_say "linked $entry -> $program"
    fi
    _nlc_reload_libvirt
}

function _nlc_reload_libvirt {
    local unit systemctl
    # sudo's secure_path would not find an operator's own systemctl.
    systemctl=$(command -v systemctl || true)
    for unit in virtlxcd libvirtd; do
        if [[ -n $systemctl ]] && "$systemctl" is-active --quiet "$unit"; then
            sudo "$systemctl" reload "$unit"
            _nlc_say "reloaded $unit: it runs the lxc hook from now on"
            return 0
        fi
    done
    _nlc_say "libvirtd is not running: it reads the lxc hook when it starts"
}

function nova_lxc_contrail_install {
    setup_develop "$NOVA_LXC_CONTRAIL_DIR"
    _nlc_link_shim
    _nlc_install_libvirt_hook
}


# nova.conf (stack post-config)
# -----------------------------

function nova_lxc_contrail_configure_nova {
    local option knob
    # configure_neutron_nova edits nova.conf in the background.
    async_wait configure_neutron_nova
    iniset "$NOVA_CONF" DEFAULT compute_driver "$_NLC_COMPUTE_DRIVER"
    iniset "$NOVA_CONF" libvirt virt_type lxc
    iniset "$NOVA_CONF" libvirt vif_driver "$NOVA_LXC_CONTRAIL_VIF_DRIVER"
    for option in "${_NLC_OPTIONS[@]}"; do
        knob=NOVA_LXC_CONTRAIL_${option^^}
        iniset "$NOVA_CONF" lxc_contrail "$option" "${!knob}"
    done
    _NLC_MADE_NOW=()
    _nlc_make_dir "$NOVA_LXC_CONTRAIL_PORTS_DIR" "$STACK_USER"
    _nlc_install_rootwrap_filters
    _nlc_configure_privsep
}

# configure_nova rebuilt nova's rootwrap.d (configure_rootwrap nova) before
# post-config: add this package's filters to it.
function _nlc_install_rootwrap_filters {
    local dir=$NOVA_CONF_DIR/rootwrap.d
    local dest
    dest=$dir/$(basename "$_NLC_ROOTWRAP_FILTERS")
    if [[ ! -d $dir ]]; then
        die $LINENO "$dir does not exist: nova's rootwrap is not configured" \
            "(configure_rootwrap nova), so nova-compute could not start" \
            "nova-lxc-contrail's privsep daemons"
    fi
    sudo install -o root -g root -m 644 \
        "$NOVA_LXC_CONTRAIL_DIR/$_NLC_ROOTWRAP_FILTERS" "$dest"
    _nlc_forget_path file "$dest"
    _nlc_record file "$dest" "$(_nlc_sha256 "$dest")"
}

# nova-compute runs as $STACK_USER: each privsep daemon starts through
# nova's rootwrap (whose sudoers rule configure_rootwrap wrote), reading
# nova-compute's own config file.
function _nlc_configure_privsep {
    local section
    local helper="sudo nova-rootwrap $NOVA_CONF_DIR/rootwrap.conf privsep-helper"
    helper+=" --config-file ${NOVA_CPU_CONF:-$NOVA_CONF_DIR/nova-cpu.conf}"
    for section in "${_NLC_PRIVSEP_SECTIONS[@]}"; do
        iniset "$NOVA_CONF" "$section" helper_command "$helper"
    done
}


# Clouds without a vRouter (DevStack trials, CI): the agent stand-in answers
# the port API on localhost:9091 and keeps the port files, as a DevStack
# service (enable_service nova-lxc-contrail-agent-standin). nova-compute
# starts after post-config, so the agent is there for its first plug.
_NLC_AGENT_STANDIN=nova-lxc-contrail-agent-standin

function nova_lxc_contrail_start_agent_standin {
    if ! is_service_enabled "$_NLC_AGENT_STANDIN"; then
        return 0
    fi
    local program
    program=$(_nlc_program nova-lxc-contrail-agent-standin)
    [[ -n $program ]] || die $LINENO "nova-lxc-contrail-agent-standin is not installed"
    run_process "$_NLC_AGENT_STANDIN" \
        "$program --configure --ports-dir $NOVA_LXC_CONTRAIL_PORTS_DIR"
}


# Verification (stack extra)
# --------------------------

# nova-compute loads its driver, then runs the driver's init_host (which
# checks the configuration against libvirt); only once init_host returned
# does pre_start_hook run update_available_resource, whose resource tracker
# logs "Final resource view" (at DEBUG, DevStack's default) and, on the
# first start, "Compute node record created for". An exception escaping
# init_host ends the service: oslo.log writes its traceback with the
# "ERROR nova " prefix, the last line being "ERROR nova <class>: <message>".
_NLC_INIT_DONE='Final resource view: |Compute node record created for '
_NLC_FATAL_LINE='^ERROR nova [A-Za-z_][A-Za-z0-9_.]*: '

function _nlc_verify_running_compute {
    local conf=$1
    local unit=devstack@n-cpu
    local deadline
    deadline=$((SECONDS + NOVA_LXC_CONTRAIL_VERIFY_TIMEOUT))
    local wanted="Loading compute driver '$_NLC_COMPUTE_DRIVER'"
    local log since first errors fatal state journalctl debug
    if ! command -v systemctl >/dev/null || ! command -v journalctl >/dev/null; then
        _nlc_say "no systemd: cannot check the running nova-compute"
        return 0
    fi
    debug=$(iniget "$conf" DEFAULT debug)
    debug=$(trueorfalse False debug)
    # The journalctl on our PATH, not the one sudo's secure_path finds.
    journalctl=$(command -v journalctl)
    while true; do
        # DevStack's log format colours its lines: drop the escapes.
        log=$(sudo "$journalctl" --unit "$unit" --no-pager --output cat --lines 5000 2>/dev/null |
            sed 's/\x1b\[[0-9;]*m//g' || true)
        # Only what nova-compute logged since it last loaded a driver counts.
        since=$(awk 'index($0, "Loading compute driver") {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' <<< "$log")
        first=$(head -n 1 <<< "$since")
        if [[ $first == *"Loading compute driver"* && $first != *"$wanted"* ]]; then
            die $LINENO "nova-compute ($unit) loaded another driver: $first"
        fi
        errors=$(grep -E "Unable to load the virtualization driver|is not of type|Invalid configuration" <<< "$since" | head -n 5 || true)
        if [[ -n $errors ]]; then
            die $LINENO "nova-compute ($unit) cannot run $_NLC_COMPUTE_DRIVER:
$errors"
        fi
        fatal=$(grep -E "$_NLC_FATAL_LINE" <<< "$since" | tail -n 1 || true)
        if [[ $first == *"$wanted"* && -n $fatal ]]; then
            die $LINENO "nova-compute ($unit) loaded $_NLC_COMPUTE_DRIVER and then" \
                "failed to start (init_host): $fatal"
        fi
        state=$(systemctl is-active "$unit" 2>/dev/null || true)
        if [[ $first == *"$wanted"* && $state == active ]]; then
            if grep -qE "$_NLC_INIT_DONE" <<< "$since"; then
                _nlc_say "nova-compute ($unit) is running with $_NLC_COMPUTE_DRIVER" \
                    "(init_host done: $(grep -oE "$_NLC_INIT_DONE" <<< "$since" | head -n 1))"
                return 0
            fi
            if [[ $debug != True ]]; then
                _nlc_say "WARNING: nova-compute ($unit) loaded $_NLC_COMPUTE_DRIVER;" \
                    "with [DEFAULT] debug = False in $conf its log cannot show" \
                    "that init_host finished: not waiting for it"
                return 0
            fi
        fi
        if [[ $state == failed ]] || ((SECONDS >= deadline)); then
            die $LINENO "nova-compute ($unit) is ${state:-not running} and did not" \
                "report running $_NLC_COMPUTE_DRIVER (init_host done) within" \
                "$NOVA_LXC_CONTRAIL_VERIFY_TIMEOUT s; its last lines (journalctl -u $unit):
$(tail -n 10 <<< "$log")"
        fi
        sleep 2
    done
}

function nova_lxc_contrail_verify {
    local conf=$NOVA_CONF
    local python out configured
    if [[ -f ${NOVA_CPU_CONF:-} ]]; then
        conf=$NOVA_CPU_CONF
    fi
    configured=$(iniget "$conf" DEFAULT compute_driver)
    if [[ $configured != "$_NLC_COMPUTE_DRIVER" ]]; then
        _nlc_say "$conf sets compute_driver = ${configured:-(unset)}," \
            "not $_NLC_COMPUTE_DRIVER (a local.conf override?): not checking it"
        return 0
    fi
    python=$(_nlc_python)
    # (Deprecation warnings of nova's libraries are noise here.)
    if ! out=$(PYTHONWARNINGS=ignore "$python" "$NOVA_LXC_CONTRAIL_DIR/devstack/tools/verify_driver.py" "$conf" 2>&1); then
        die $LINENO "nova cannot load compute_driver = $_NLC_COMPUTE_DRIVER" \
            "from $conf with $python:
$out"
    fi
    _nlc_say "nova loads the driver from $conf: $out"
    _nlc_verify_running_compute "$conf"
    _nlc_say "summary: compute_driver = $configured;" \
        "[libvirt] virt_type = $(iniget "$conf" libvirt virt_type)," \
        "vif_driver = $(iniget "$conf" libvirt vif_driver);" \
        "[lxc_contrail] agent_url = $(iniget "$conf" lxc_contrail agent_url)," \
        "ports_dir = $(iniget "$conf" lxc_contrail ports_dir)"
}


# unstack and clean
# -----------------

# Remove one recorded object if it is still what the plugin made.
function _nlc_remove_entry {
    local kind path a b c same
    read -r kind path a b c <<< "$*"
    case $kind in
        link)
            if [[ -L $path && $(readlink "$path") == "$a" ]]; then
                rm -f "$path" 2>/dev/null || sudo rm -f "$path"
            elif [[ -e $path || -L $path ]]; then
                _nlc_say "keeping $path: it changed since the plugin made it"
            fi
            ;;
        node)
            same=no
            if [[ ($a == c && -c $path) || ($a == b && -b $path) ]]; then
                if [[ $(stat -c '%t:%T' "$path") == "$(printf '%x:%x' "$b" "$c")" ]]; then
                    same=yes
                fi
            fi
            if [[ $same == yes ]]; then
                sudo rm -f "$path"
            elif [[ -e $path ]]; then
                _nlc_say "keeping $path: it changed since the plugin made it"
            fi
            ;;
        file)
            if [[ -f $path && $(_nlc_sha256 "$path") == "$a" ]]; then
                sudo rm -f "$path"
                if [[ $path == /etc/systemd/* ]]; then
                    _nlc_daemon_reload
                fi
            elif [[ -e $path ]]; then
                _nlc_say "keeping $path: it changed since the plugin made it"
            fi
            ;;
        dir)
            if [[ -d $path ]] && ! sudo rmdir "$path" 2>/dev/null; then
                _nlc_say "keeping $path: it holds files the plugin did not write"
                return 1
            fi
            ;;
    esac
    _nlc_forget "$*"
}

function nova_lxc_contrail_remove_created {
    local file entries entry i
    file=$(_nlc_state_file)
    if [[ ! -f $file ]]; then
        return 0
    fi
    mapfile -t entries < "$file"
    for ((i = ${#entries[@]} - 1; i >= 0; i--)); do
        entry=${entries[i]}
        if _nlc_remove_entry "$entry"; then
            _nlc_say "removed $entry"
        fi
    done
    if [[ ! -s $file ]]; then
        rm -f "$file"
        rmdir "$NOVA_LXC_CONTRAIL_STATE_DIR" 2>/dev/null || true
    fi
}

# Ports, bridges and taps are made by nova-compute's VIF driver, not by the
# plugin; once unstack.sh destroyed the instances, this package's own
# cleanup removes those no instance owns any more (and nothing else).
function nova_lxc_contrail_clean_ports {
    local conf=${NOVA_CPU_CONF:-}
    local cli=${DEVSTACK_VENV:-}/bin/nova-lxc-contrail
    if [[ ! -f $conf ]]; then
        conf=${NOVA_CONF:-}
    fi
    if [[ ! -x $cli ]]; then
        cli=$(command -v nova-lxc-contrail || true)
    fi
    if [[ -z $cli || ! -f $conf ]]; then
        return 0
    fi
    if ! sudo "$cli" --config-file "$conf" cleanup; then
        _nlc_say "WARNING: '$cli --config-file $conf cleanup' failed"
    fi
}


# Phases
# ------

if is_service_enabled nova-lxc-contrail; then
    if [[ $1 == stack ]] && ! is_service_enabled n-cpu; then
        if [[ ${2:-} == pre-install ]]; then
            _nlc_say "n-cpu is not enabled on this host: nothing to do"
        fi
    elif [[ $1 == stack ]]; then
        case ${2:-} in
            pre-install)
                _nlc_say "checking this host for libvirt-LXC instances"
                nova_lxc_contrail_check_host
                ;;
            install)
                _nlc_say "installing nova-lxc-contrail"
                nova_lxc_contrail_install
                ;;
            post-config)
                _nlc_say "configuring $NOVA_CONF"
                nova_lxc_contrail_configure_nova
                nova_lxc_contrail_start_agent_standin
                ;;
            extra)
                _nlc_say "checking that nova loads $_NLC_COMPUTE_DRIVER"
                nova_lxc_contrail_verify
                ;;
            test-config)
                # DevStack's tempest setup already turns off what
                # LIBVIRT_TYPE=lxc cannot do.
                ;;
        esac
    elif [[ $1 == unstack ]]; then
        if is_service_enabled "$_NLC_AGENT_STANDIN"; then
            stop_process "$_NLC_AGENT_STANDIN"
        fi
        # Its device nodes, the ports dir, the shim link, the libvirt
        # hook, the nbd rule and the rootwrap filters stay for the next
        # stack.sh (clean removes them).
        :
    elif [[ $1 == clean ]]; then
        nova_lxc_contrail_clean_ports
        nova_lxc_contrail_remove_created
    fi
fi

# shellcheck disable=SC2086
$_NLC_XTRACE
