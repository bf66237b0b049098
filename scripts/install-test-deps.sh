#!/usr/bin/env bash
# Installs, with apt-get, the system packages the integration tests need, and only those
# that are missing: postfix and dovecot-imapd (real mail servers for tests/it/mail.rs),
# monitoring-plugins-basic (real Nagios plugins), dnsmasq-base (a real DNS server for the
# dns check's tests; the binary alone, no service started), openssl (certificates for the
# test mail servers) and python3; for the Debian package's test (tests/it/package.rs),
# man-db (man -l), systemd (systemd-analyze verify; nothing is started), dpkg-dev
# (dpkg-shlibdeps, which cargo-deb uses for the package's Depends), binutils (strip) and
# passwd (useradd, which the package's postinst uses); for the metrics and Alertmanager
# tests, prometheus (promtool) and prometheus-alertmanager (run on loopback by the tests,
# never as a service); for the status page's rendering tests and screenshots, chromium
# (headless) and fonts-dejavu-core. Idempotent; safe in CI
# (no stdin, no prompts). Exits non-zero, loudly, when something cannot be installed.
set -euo pipefail

log() { echo "install-test-deps: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# package -> a file whose presence proves the package is usable
declare -A PROBE=(
    [postfix]=/usr/sbin/postfix
    [dovecot-imapd]=/usr/lib/dovecot/imap
    [monitoring-plugins-basic]=/usr/lib/nagios/plugins/check_tcp
    [dnsmasq-base]=/usr/sbin/dnsmasq
    [openssl]=/usr/bin/openssl
)
PACKAGES=(postfix dovecot-imapd monitoring-plugins-basic dnsmasq-base openssl)
# The Debian package's test.
PROBE+=(
    [man-db]=/usr/bin/man
    [systemd]=/usr/bin/systemd-analyze
    [dpkg-dev]=/usr/bin/dpkg-shlibdeps
    [binutils]=/usr/bin/strip
    [passwd]=/usr/sbin/useradd
)
PACKAGES+=(man-db systemd dpkg-dev binutils passwd)
# The metrics tests (promtool check metrics) and the Alertmanager channel's test.
PROBE+=(
    [prometheus]=/usr/bin/promtool
    [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager
)
PACKAGES+=(prometheus prometheus-alertmanager)
# The status page rendered by a real browser (tests/it/statuspage.rs, scripts/screenshots.sh).
PROBE+=(
    [chromium]=/usr/bin/chromium
    [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
)
PACKAGES+=(chromium fonts-dejavu-core)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
        && [ -e "${PROBE[$pkg]}" ]; then
        log "$pkg: already installed"
    else
        missing+=("$pkg")
    fi
done
# Any python3 on PATH will do (pyenv, a CI image's own...); install Debian's otherwise.
if command -v python3 >/dev/null 2>&1; then
    log "python3: already available ($(command -v python3))"
else
    missing+=(python3)
fi

if [ "${#missing[@]}" -eq 0 ]; then
    log "nothing to install"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and apt-get is not available; install them by hand"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
        "${SUDO[@]}" true 2>/dev/null || die "missing ${missing[*]}: need root; sudo asks for a password (run this script as root or with passwordless sudo)"
    else
        die "missing ${missing[*]}: need root to install them and sudo is not available (run this script as root)"
    fi
fi

export DEBIAN_FRONTEND=noninteractive
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
    # Without this, postfix's install asks what kind of mail server to configure.
    log "preseeding postfix: main_mailer_type = No configuration"
    echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections \
        || die "debconf-set-selections failed"
fi

log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null || die "apt-get update failed"
log "apt-get install ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null \
    || die "apt-get install ${missing[*]} failed"

# Trust apt's exit status, but also check that what the tests use is really there.
for pkg in "${PACKAGES[@]}"; do
    if printf '%s\n' "${missing[@]}" | grep -qx "$pkg"; then
        [ -e "${PROBE[$pkg]}" ] || die "$pkg was installed but ${PROBE[$pkg]} is missing"
    fi
done
command -v python3 >/dev/null 2>&1 || die "python3 was installed but is not on PATH"
log "installed: ${missing[*]}"
