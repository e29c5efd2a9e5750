#!/usr/bin/env bash
# The README's report screenshots: `stalllog report` of a stall and of an OOM sample, rendered
# by headless chromium (Debian's `chromium` package) at 1280x1000, the first screen only.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shot() {  # sample, name
  stalllog report "$1" -o "$tmp/$2.html"
  chromium --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
    --window-size=1280,1000 --screenshot="docs/screenshots/$2.png" "file://$tmp/$2.html" 2>/dev/null
}
shot sample_logs/corpus/lkml/kmallocwd-2017-too_many_isolated-congestion_wait.txt report-stall
shot sample_logs/qemu/6.1.0-56-amd64-global-oom-serial.log.xz report-oom
ls -l docs/screenshots
