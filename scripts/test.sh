#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration
# tests that run real containers (root needed for most; rootless ones switch
# to an unprivileged uid themselves). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets -q -- -D warnings
# Containers are cheap but the machine has 2 cores; 4 test threads keep the
# suite quick without starving the kernel work each container does.
cargo test --workspace -q -- --test-threads 4
