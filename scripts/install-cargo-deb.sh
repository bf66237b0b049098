#!/usr/bin/env bash
# Installs cargo-deb, the tool that builds checker's Debian package (scripts/build-deb.sh),
# at the pinned version below, with `cargo install --locked`. Skipped when that version is
# already installed. Needs only the Rust toolchain and crates.io; no root.
# Usage: scripts/install-cargo-deb.sh
set -euo pipefail

VERSION=3.8.0

log() { echo "install-cargo-deb: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH; install the Rust toolchain first"

# `cargo deb --version` prints e.g. "cargo-deb 3.8.0"; anything else means install it.
if have=$(cargo deb --version 2>/dev/null) && [ "${have##* }" = "$VERSION" ]; then
    log "cargo-deb $VERSION: already installed"
    exit 0
fi
log "cargo install --locked cargo-deb --version $VERSION (builds it from source: a few minutes)"
cargo install --locked --quiet cargo-deb --version "$VERSION" </dev/null \
    || die "cargo install cargo-deb $VERSION failed"
have=$(cargo deb --version 2>/dev/null) || die "cargo-deb was installed but \`cargo deb --version\` fails"
[ "${have##* }" = "$VERSION" ] || die "cargo-deb reports \"$have\", expected $VERSION"
log "installed cargo-deb $VERSION"
