#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the test servers it needs (postfix,
# dovecot, monitoring plugins) when they are missing, then checks formatting and lints,
# then runs every test. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
