#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the test servers it needs (postfix,
# dovecot, dnsmasq, monitoring plugins, man-db, systemd) and cargo-deb when they are
# missing, then checks formatting and lints, then runs every test and prints the totals.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
bash scripts/install-cargo-deb.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Most tests wait on the processes and servers they start, not on the CPU: three test
# threads a core (libtest's default is one) take about half the time. RUST_TEST_THREADS
# set by the caller wins.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-$(($(nproc) * 3))}"
cargo test --locked --lib --bins --tests 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
