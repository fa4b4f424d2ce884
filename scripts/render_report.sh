#!/usr/bin/env bash
# Renders a remix report to a PNG with headless Chromium, to look at it as a person would.
#
#   bash scripts/render_report.sh work/report.html [out.png] [height]
#
# Needs Debian's chromium (apt-get install -y chromium).
set -euo pipefail
page=$(realpath "$1")
out=${2:-${page%.html}.png}
height=${3:-6000}
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,"$height" \
  --screenshot="$out" "file://$page" 2>/dev/null
echo "wrote $out"
