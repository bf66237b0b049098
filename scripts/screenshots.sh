#!/usr/bin/env bash
# Makes the status page's four screenshots in docs/ (1280 px and 375 px wide, light and
# dark) from a demo installation built by examples/demo_status.rs: nine jobs in three
# groups, 90 days of history with a few incidents, one job failing now. Needs chromium
# and fonts-dejavu-core (scripts/install-test-deps.sh installs them).
# Usage: scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v chromium >/dev/null || { echo "screenshots: chromium is missing (scripts/install-test-deps.sh)" >&2; exit 1; }
cargo build --release --quiet --bin checker --example demo_status
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
target/release/examples/demo_status "$dir/demo"
target/release/checker -f "$dir/demo/settings.toml" status-page --output "$dir/status.html"

# Headless Chromium lays a window out at least 500 px wide: the page is shown in an iframe
# of exactly the width wanted (its own viewport, so the phone layout applies), and the
# screenshot is of that width.
frame() { # width height
    python3 - "$dir/status.html" "$1" "$2" <<'PY'
import html, sys
page = open(sys.argv[1], encoding="utf-8").read()
print('<!DOCTYPE html><html><body style="margin:0"><iframe style="border:0;display:block;'
      f'width:{sys.argv[2]}px;height:{sys.argv[3]}px" srcdoc="{html.escape(page, quote=True)}"></iframe></body></html>')
PY
}
shoot() { # width height scheme(light|dark)
    local n=1
    [ "$3" = dark ] && n=0
    frame "$1" "$2" > "$dir/frame-$1.html"
    chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$dir/profile-$1-$3" --window-size="$1,$2" \
        --blink-settings=preferredColorScheme=$n \
        --screenshot="docs/status-page-$1-$3.png" "file://$dir/frame-$1.html" 2>/dev/null
    echo "docs/status-page-$1-$3.png"
}
shoot 1280 1500 light
shoot 1280 1500 dark
shoot 375 1400 light
shoot 375 1400 dark
