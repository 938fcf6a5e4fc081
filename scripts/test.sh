#!/usr/bin/env bash
# The test command (README "Run the tests"). .ci/run calls it after fmt and clippy.
# It installs what the tests need on a fresh machine (redis-server and redis-tools from
# Debian's packages, for the differential tests), then runs the workspace tests and the
# bounded loom models.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server (Debian) for the differential tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server redis-tools >/dev/null
fi
# Debian's package starts a service on 6379 when it can; the tests start their own servers on
# free ports and never use it.

echo "== cargo test --workspace"
cargo test --workspace --all-targets

echo "== loom models of the pool driver (bounded; see docs/architecture.md for unbounded runs)"
bash scripts/loom.sh

echo "== done"
