#!/usr/bin/env bash
# Builds checker's Debian package with cargo-deb: a release build, then the man pages
# (`checker manpages`) and the bash, zsh and fish completions (`checker completions`)
# made from that binary, then `cargo deb --no-build`. Generated files go under the target
# folder, never into the repository. Prints the path of the .deb on its last line.
#
# Usage: scripts/build-deb.sh [--binary FILE] [--output DIR] [--fast]
#   --binary FILE  package this already built checker instead of building a release
#                  (the package test passes the binary the test suite built); it is
#                  staged in a temporary target folder, so the repository's is untouched
#   --output DIR   where the .deb goes (default: target/debian)
#   --fast         quicker, lighter compression (a bigger .deb)
# Needs cargo-deb: scripts/install-cargo-deb.sh installs the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "build-deb: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

binary="" output="" fast=()
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift 2 ;;
        --output) [ $# -ge 2 ] || die "--output needs a folder"; output=$2; shift 2 ;;
        --fast) fast=(--fast); shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument \"$1\" (see --help)" ;;
    esac
done

cargo deb --version >/dev/null 2>&1 || die "cargo-deb is missing: run scripts/install-cargo-deb.sh"
command -v gzip >/dev/null 2>&1 || die "gzip is missing"

stage=""
cleanup() { if [ -n "$stage" ]; then rm -rf "$stage"; fi; }
trap cleanup EXIT

if [ -n "$binary" ]; then
    [ -x "$binary" ] || die "--binary $binary is not an executable file"
    binary=$(realpath "$binary")
    # cargo-deb reads target/release/ paths from $CARGO_TARGET_DIR/release/.
    stage=$(mktemp -d "${TMPDIR:-/tmp}/checker-deb.XXXXXX")
    export CARGO_TARGET_DIR="$stage"
    mkdir -p "$stage/release"
    cp "$binary" "$stage/release/checker"
    strip_args=(--strip)
else
    log "cargo build --release --locked"
    cargo build --release --locked
    strip_args=()
fi
if [ -z "$stage" ]; then
    # Where cargo put it: CARGO_TARGET_DIR, a target-dir in a cargo config, or ./target.
    target_dir=$(cargo metadata --no-deps --format-version 1 --locked \
        | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4) \
        || die "cargo metadata failed"
    [ -n "$target_dir" ] || die "cargo metadata did not say where the target folder is"
    release="$target_dir/release"
else
    release="$stage/release"
fi
bin="$release/checker"
gen="$release/packaging"
rm -rf "$gen"
mkdir -p "$gen/man" "$gen/completions"

log "man pages and completions from $bin"
"$bin" manpages "$gen/man" >/dev/null || die "\`checker manpages\` failed"
gzip -9n "$gen"/man/*.1
"$bin" completions bash >"$gen/completions/checker" || die "bash completions failed"
"$bin" completions zsh >"$gen/completions/_checker" || die "zsh completions failed"
"$bin" completions fish >"$gen/completions/checker.fish" || die "fish completions failed"

out_args=()
if [ -n "$output" ]; then
    mkdir -p "$output"
    out_args=(--output "$(realpath "$output")")
fi
log "cargo deb --no-build"
deb=$(cargo deb --no-build "${strip_args[@]}" "${fast[@]}" "${out_args[@]}") \
    || die "cargo deb failed"
echo "$deb" | tail -n 1
