#!/usr/bin/env bash
# Runs the pool driver's loom models (crates/pool/tests/loom.rs), then the planted-bug model,
# which must be caught. Each model carries its own preemption bound (exhaustive where that is
# cheap, 3 for the three-thread models), chosen so the whole run takes well under 2 minutes on
# 2 cores. Set LOOM_MAX_PREEMPTIONS to override every model's bound (unset it and edit the
# models' bounds to None for a fully exhaustive run; see docs/architecture.md).
#
# `--cfg loom` recompiles the dependency tree, so it builds in its own target dir
# (POOL_LOOM_TARGET_DIR, default target/loom) to keep the normal build cache intact.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${POOL_LOOM_TARGET_DIR:-target/loom}"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"

echo "== loom models (pool driver)"
cargo test -p pool --release --test loom -- --nocapture --test-threads 1

echo "== loom planted bug (bb8 #67 clone): the model must fail"
cargo test -p pool --release --test loom --features planted-bug-lost-grant -- --nocapture
