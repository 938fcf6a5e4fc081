#!/usr/bin/env bash
# The test command (README "Run the tests"). .ci/run calls it after fmt and clippy.
# It installs what the tests need on a fresh machine (redis-server and redis-tools from
# Debian's packages, for the differential tests), then runs the workspace tests and the
# bounded loom models.
#
# Every stage has a time limit, so a hang (issue #10: a timer re-armed at the same instant
# forever made `cargo test` spin) fails with a message naming the stage instead of running
# into CI's 90-minute limit. The limits are generous (CI takes about 5 minutes today, cold
# build included) and can be raised for a slow machine:
#   POOLSIM_TEST_MINUTES (default 40): cargo test --workspace --all-targets, cold build included
#   POOLSIM_LOOM_MINUTES (default 20): scripts/loom.sh, its own cold build included
# See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# stage NAME MINUTES COMMAND...: runs COMMAND; fails naming NAME if it takes longer.
# `timeout` without --foreground runs COMMAND in a process group of its own and signals the
# whole group, so the test binary that hangs is stopped too, not only cargo (with
# --foreground only cargo would be). TERM first, KILL 30 s later.
stage() {
    local name=$1 minutes=$2
    shift 2
    echo "== $name (time limit ${minutes} min)"
    local rc=0
    timeout --kill-after=30s "${minutes}m" "$@" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "FAILED: stage '$name' did not finish within its time limit of ${minutes} min" \
            "and was stopped (a hang or a spin; the last 'Running' line above names the test" \
            "binary it was in)" >&2
        exit 1
    elif [ "$rc" -ne 0 ]; then
        echo "FAILED: stage '$name' (exit status $rc)" >&2
        exit "$rc"
    fi
}

if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server (Debian) for the differential tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server redis-tools >/dev/null
fi
# Debian's package starts a service on 6379 when it can; the tests start their own servers on
# free ports and never use it.

stage "cargo test --workspace" "${POOLSIM_TEST_MINUTES:-40}" \
    cargo test --workspace --all-targets

stage "loom models of the pool driver (bounded; see docs/architecture.md for unbounded runs)" \
    "${POOLSIM_LOOM_MINUTES:-20}" bash scripts/loom.sh

echo "== done"
