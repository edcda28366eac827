#!/bin/sh
# Runs in the DevStack container at boot (nlc-cgroups.service): mounts the
# cgroup v1 controllers this container belongs to that LXC left unmounted.
# LXC 5 assumes cpu and cpuacct are co-mounted (systemd's layout); on hosts
# where they are separate hierarchies it mounts neither, and libvirt-LXC
# needs both. Mounted from inside, each shows the container's own subtree.
set -e
changed=
while IFS=: read -r _ controllers _; do
    [ -n "$controllers" ] || continue
    case $controllers in name=*) continue ;; esac
    for c in $(echo "$controllers" | tr , ' '); do
        if ! grep -qE "^cgroup /sys/fs/cgroup/[^ ]+ cgroup [^ ]*\b$c\b" /proc/self/mounts; then
            if [ -z "$changed" ]; then
                mount -o remount,rw /sys/fs/cgroup
                changed=1
            fi
            dir=/sys/fs/cgroup/$controllers
            [ -L "$dir" ] && rm "$dir"
            mkdir -p "$dir"
            mountpoint -q "$dir" || mount -t cgroup -o "$controllers" cgroup "$dir"
            echo "mounted cgroup $controllers at $dir"
            break
        fi
    done
done < /proc/self/cgroup
if [ -n "$changed" ]; then
    mount -o remount,ro /sys/fs/cgroup
fi
