#!/usr/bin/env bash
# run.sh starts the kiosk built by `make build` on the simulated line, with
# its ledger and config in build/run/ (created on the first start, with the
# demo products, an order released to the line and the demo users, whose
# ids and PINs the kiosk prints). Without a display (a fresh server or a
# container) it starts a virtual one with Xvfb and says how to look at it,
# so `make run` works everywhere.
#
# usage: scripts/run.sh BINARY [KIOSK ARGS...]
#   RUN_DIR=dir  where the config and the ledger live (default build/run)
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift

dir=${RUN_DIR:-build/run}
mkdir -p "$dir"
if [ ! -f "$dir/station.toml" ]; then
	(cd "$dir" && "$bin" kiosk --init >/dev/null)
	echo "run.sh: wrote $dir/station.toml (devices.mode = \"sim\": a simulated line runs inside the kiosk); edit it to change the station"
fi
set -- --config "$dir/station.toml" "$@"
echo "run.sh: the station's ledger is $dir/station.db; delete it to start again with the demo data"

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
	exec "$bin" kiosk "$@"
fi

echo "run.sh: no display found (DISPLAY is not set): starting the kiosk in a virtual display (Xvfb)."
echo "run.sh: a screenshot is written to build/screenshots/run.png every 5 seconds; press Ctrl-C to stop."
mkdir -p build/screenshots
tmp=$(mktemp -d)
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.log" &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
export DISPLAY=":$(head -n1 "$tmp/display")"
( while sleep 5; do import -window root build/screenshots/run.png 2>/dev/null || true; done ) &
shooter=$!
trap 'kill $shooter $xvfb 2>/dev/null; rm -rf "$tmp"' EXIT
"$bin" kiosk "$@"
