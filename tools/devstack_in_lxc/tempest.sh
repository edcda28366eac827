#!/bin/bash
# Tempest's compute API tests against the DevStack cloud (run as the stack
# user inside the container by tools/devstack-in-lxc.sh test). DevStack
# installed Tempest (47.0.0, from its PyPI release) in its tox venv and wrote
# etc/tempest.conf: what libvirt-LXC cannot do is off there, by Tempest's own
# feature flags (local.conf's test-config section), so Tempest skips those
# tests itself, each with its reason. Prints pass/fail/skip counts and every
# skip reason.
set -euo pipefail

regex=${NLC_TEMPEST_REGEX:-'^tempest\.api\.compute\.'}
# With no Tempest flag: auto-allocated networks need an external network
# this cloud has none of; nova 34's instance usage audit log API answers 400
# on a compute host name ("'nlc-devstack' is not a 'uuid'"), whatever the
# hypervisor. And the two cold migrations without a destination: this
# driver reports COMPUTE_SAME_HOST_COLD_MIGRATE, so nova may keep the
# server on its host (it did, in CI), which these tests count as a failure
# (libvirt's semantics); the exercise cold migrates to the named other host.
exclude=${NLC_TEMPEST_EXCLUDE_REGEX-'\.(test_auto_allocate_network|test_instance_usage_audit_log)\.|MigrationsAdminTest\.test_cold_migration(_with_swap)?\b'}
concurrency=${NLC_TEMPEST_CONCURRENCY:-2}
cd /opt/stack/tempest
tempest=.tox/tempest/bin/tempest
stestr=.tox/tempest/bin/stestr
[[ -x $tempest ]] || { echo "Tempest is not installed in /opt/stack/tempest/.tox/tempest"; exit 1; }

echo "tempest: $($tempest --version 2>&1)"
echo "tempest: feature flags that skip tests on this cloud:"
grep -E '^\[|= *False' etc/tempest.conf | awk '/^\[/ {s=$0; next} {print "  " s " " $0}' |
    grep -E 'compute-feature-enabled|network-feature-enabled|service_available|validation' || true

echo "tempest: running $regex, excluding ${exclude:-nothing}"
rc=0
$tempest run --regex "$regex" ${exclude:+--exclude-regex "$exclude"} \
    --concurrency "$concurrency" > tempest-run.log 2>&1 || rc=$?
grep -E '^(=+|Totals|Worker Balance| - )' tempest-run.log | sed -n '/Totals/,/Worker/p' || true
echo "tempest: skipped, by reason:"
grep -oE 'SKIPPED: .*' tempest-run.log | sort | uniq -c | sort -rn || true
if (( rc != 0 )); then
    echo "tempest: failures:"
    $stestr last --subunit | .tox/tempest/bin/subunit2pyunit 2>&1 |
        grep -E '^(FAIL|ERROR):' | sort -u || true
    grep -B2 -A30 -E '^(FAIL|ERROR):|Traceback' tempest-run.log | head -200 || true
fi
exit $rc
