#!/usr/bin/env bash
# Installs, with apt-get, what scripts/bench.py needs beyond the test dependencies: nginx
# (the real web server the HTTP benchmark runs checker and curl against), curl, and GNU
# time (peak memory of a command). The
# benchmark starts its own nginx with its own config; the package's service is not
# started. Idempotent; no prompts.
set -euo pipefail

log() { echo "install-bench-deps: $*" >&2; }

missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -eq 0 ]; then
    log "nothing to install"
    exit 0
fi
log "installing: ${missing[*]}"
# Keep the packages' services from starting (no init system here, and port 80 is not ours).
policy=/usr/sbin/policy-rc.d
made_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    made_policy=true
fi
trap '[ "$made_policy" = true ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# A service started anyway (no policy honoured) is stopped: the benchmark runs its own.
if pgrep -x nginx >/dev/null 2>&1 && [ -e /run/nginx.pid ]; then
    kill "$(cat /run/nginx.pid)" 2>/dev/null || true
fi
[ -x /usr/sbin/nginx ] || { log "ERROR: nginx did not install"; exit 1; }
log "done"
