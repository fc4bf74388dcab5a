#!/usr/bin/env bash
# screenshot.sh starts the real kiosk binary in a virtual X display (Xvfb),
# waits for its window to come up, and writes a screenshot of the screen.
# It fails when the window does not appear, so that `make test` proves the
# kiosk really opens on a machine with GLFW, Mesa and X11.
#
# usage: scripts/screenshot.sh BINARY OUT.png [KIOSK ARGS...]
set -euo pipefail

bin=$1 out=$2
shift 2
title=${SCREENSHOT_WINDOW:-linestation}
wait_s=${SCREENSHOT_TIMEOUT:-60}
settle_s=${SCREENSHOT_SETTLE:-2}

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
cleanup() {
	[ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
	[ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Let Xvfb choose a free display number and tell us which.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 1 100); do
	[ -s "$tmp/display" ] && break
	sleep 0.1
done
if [ ! -s "$tmp/display" ]; then
	echo "screenshot.sh: Xvfb did not start:" >&2
	cat "$tmp/xvfb.log" >&2
	exit 1
fi
export DISPLAY=":$(head -n1 "$tmp/display")"

LANG=${LANG:-en_US.UTF-8} "$bin" "$@" >"$tmp/app.log" 2>&1 &
app_pid=$!

found=""
for _ in $(seq 1 $((wait_s * 10))); do
	if ! kill -0 "$app_pid" 2>/dev/null; then
		echo "screenshot.sh: $bin exited before its window came up; its output:" >&2
		cat "$tmp/app.log" >&2
		exit 1
	fi
	if xwininfo -root -tree 2>/dev/null | grep -q "\"$title\""; then
		found=1
		break
	fi
	sleep 0.1
done
if [ -z "$found" ]; then
	echo "screenshot.sh: no window titled \"$title\" within ${wait_s}s; the app's output:" >&2
	cat "$tmp/app.log" >&2
	exit 1
fi
sleep "$settle_s" # let the first frames render
import -window root "$out"
echo "screenshot.sh: window \"$title\" is up; screenshot written to $out"
