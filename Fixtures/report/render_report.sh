#!/bin/sh
# Renders a segc report (report.html of `segc reproduce` or `segc eval --report`) to a PNG
# with headless Chromium, to look at what a reader sees. Not used by CI (CI has no Chromium).
#
#   Fixtures/report/render_report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
#
# Needs the Debian package `chromium` (apt-get install -y chromium). The page is loaded
# from file:// with networking disabled by proxy, so a report that needed the network
# would render with holes. HEIGHT defaults to 6000 px (the page is long; Chromium clips
# the screenshot to the window).
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH] [HEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
width=${3:-1400}
height=${4:-6000}
if [ ! -f "$report" ]; then
    echo "error: $report: no such file" >&2
    exit 1
fi
browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
    echo "error: chromium not found (apt-get install -y chromium)" >&2
    exit 1
fi
abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# --proxy-server to a closed port: any network fetch fails instead of silently working.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$tmp/profile" --proxy-server="127.0.0.1:9" \
    --window-size="$width,$height" --screenshot="$tmp/shot.png" "file://$abs" >/dev/null 2>"$tmp/log" || {
    cat "$tmp/log" >&2
    echo "error: $report: chromium failed" >&2
    exit 1
}
mv "$tmp/shot.png" "$out"
echo "wrote $out (${width}x${height})"
