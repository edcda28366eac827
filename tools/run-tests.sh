#!/bin/bash
# The whole test suite, as CI runs it: lint, unit tests, then the root suites
# (functional, e2e on a private libvirtd, nova's functional stack), each test
# worker inside its own network and mount namespaces. Run as root on Debian 12.
#
#   ./tools/run-tests.sh                 everything
#   ./tools/run-tests.sh unit functional only these suites (lint docs unit
#                                        functional e2e nova_functional
#                                        newest devstack)
set -o errexit -o nounset -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/tools/bootstrap.sh"
# shellcheck disable=SC1091
. "$top/.venv/bin/activate"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(lint docs unit functional e2e nova_functional newest devstack)

# The netlink and os-vif code also runs on the newest releases, beside the
# release's pins (pyroute2 0.8.1, os-vif 5.2.0), in a virtualenv of its own.
NEWEST=(pyroute2 os-vif)
NEWEST_FUNCTIONAL='test_vif_|test_cli_ports'   # what runs pyroute2 and os-vif

passed=0 failed=0 skipped=0
tally() {
    local stats
    stats=$(stestr last --subunit | subunit-stats 2>/dev/null || true)
    passed=$((passed + $(awk '/^Passed tests:/ {print $3}' <<<"$stats")))
    failed=$((failed + $(awk '/^Failed tests:/ {print $3}' <<<"$stats")))
    skipped=$((skipped + $(awk '/^Skipped tests:/ {print $3}' <<<"$stats")))
}

# libvirt leaves a 'machine' cgroup in every hierarchy; the private
# libvirtds of parallel workers cannot tell whose it is, so remove at the end
# those this run created.
machine_cgroups() { ls -d /sys/fs/cgroup/*/machine 2>/dev/null || true; }
cgroups_before=$(machine_cgroups)
# shellcheck disable=SC2317  # called by the EXIT trap
remove_new_machine_cgroups() {
    local dir
    for dir in $(machine_cgroups); do
        grep -qxF "$dir" <<<"$cgroups_before" && continue
        find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}
trap remove_new_machine_cgroups EXIT

failed_suites=()
for suite in "${suites[@]}"; do
    status=0
    echo "=== $suite"
    case $suite in
    lint)
        flake8 || status=1
        shell_files=()
        for f in tools/*.sh tools/devstack_in_lxc/*.sh .ci/run \
                devstack/plugin.sh devstack/settings devstack/override-defaults; do
            [ -e "$f" ] && shell_files+=("$f")
        done
        bashate -i E006 -e E005,E042 "${shell_files[@]}" || status=1
        shellcheck -x "${shell_files[@]}" || status=1
        ;;
    docs)
        # The documentation and the release notes, warnings as errors.
        rm -rf doc/build/html releasenotes/build/html
        sphinx-build -W --keep-going -q -b html doc/source doc/build/html ||
            status=1
        sphinx-build -W --keep-going -q -b html releasenotes/source \
            releasenotes/build/html || status=1
        ;;
    unit)
        stestr --test-path "./nova_lxc_contrail/tests/unit" run || status=1
        tally
        ;;
    functional|e2e|nova_functional)
        # nova's whole stack per worker is heavy for two cores: one worker,
        # so nova's state waits never race the other worker's load.
        workers=2
        [ "$suite" = nova_functional ] && workers=1
        PYTHON="python -m nova_lxc_contrail.tests.sandbox" \
            stestr --test-path "./nova_lxc_contrail/tests/$suite" run \
            --concurrency "$workers" || status=1
        tally
        ;;
    newest)
        newest_venv=$top/.venv-newest
        NOVA_LXC_CONTRAIL_VENV=$newest_venv NOVA_LXC_CONTRAIL_UNPIN="${NEWEST[*]}" \
            "$top/tools/bootstrap.sh"
        "$newest_venv/bin/pip" list 2>/dev/null | grep -iE '^(pyroute2|os.vif) '
        for newest_suite in unit functional e2e; do
            filter=() python=python
            [ "$newest_suite" = functional ] && filter=("$NEWEST_FUNCTIONAL")
            [ "$newest_suite" = unit ] || python="python -m nova_lxc_contrail.tests.sandbox"
            PATH=$newest_venv/bin:$PATH PYTHON=$python \
                stestr --test-path "./nova_lxc_contrail/tests/$newest_suite" \
                run --concurrency 2 "${filter[@]}" || status=1
            tally
        done
        ;;
    devstack)
        # A real stack.sh in a systemd LXC container, the openstack client's
        # server life and Tempest's compute API tests; then everything
        # removed and the host checked unchanged.
        "$top/tools/devstack-in-lxc.sh" all || status=1
        ;;
    *)
        echo "unknown suite: $suite" >&2
        exit 2
        ;;
    esac
    # Named again at the very end, where a log's kept tail shows it.
    [ "$status" = 0 ] || failed_suites+=("$suite")
done

status=0
[ ${#failed_suites[@]} = 0 ] || status=1

if [ "$skipped" -gt 0 ]; then
    echo "$skipped tests were skipped: every test must run here" >&2
    status=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ ${#failed_suites[@]} = 0 ] || echo "suites that failed: ${failed_suites[*]}" >&2
exit $status
