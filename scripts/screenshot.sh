#!/usr/bin/env bash
# screenshot.sh starts the real kiosk binary in a virtual X display (Xvfb)
# and takes screenshots of it with ImageMagick's import. It fails when the
# window does not appear, so that `make test` proves the kiosk really opens
# on a machine with GLFW, Mesa and X11.
#
# usage: scripts/screenshot.sh BINARY OUT.png [KIOSK ARGS...]
#          one screenshot once the window is up
#        scripts/screenshot.sh --tour BINARY OUTDIR
#          the main screens of a first run on the simulated line, with a
#          ledger in a temporary folder: the kiosk runs with --tour, this
#          script sends it commands on standard input and, after each
#          "shown NAME" it prints, writes OUTDIR/NN-NAME.png
#
# Environment: SCREENSHOT_TIMEOUT (seconds to wait for the window, 60),
# SCREENSHOT_SETTLE (seconds to let frames render before a shot, 1),
# SCREENSHOT_SIZE (the virtual screen, 1024x768).
set -euo pipefail

tour=""
if [ "${1:-}" = "--tour" ]; then
	tour=1
	shift
fi
bin=$1 out=$2
shift 2
title=${SCREENSHOT_WINDOW:-linestation}
wait_s=${SCREENSHOT_TIMEOUT:-60}
settle_s=${SCREENSHOT_SETTLE:-1}
size=${SCREENSHOT_SIZE:-1024x768}

tmp=$(mktemp -d)
cleanup() {
	[ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
	[ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "screenshot.sh: $*" >&2
	if [ -s "$tmp/app.log" ]; then
		echo "screenshot.sh: the kiosk's output:" >&2
		tail -n 40 "$tmp/app.log" >&2
	fi
	exit 1
}

# Let Xvfb choose a free display number and tell us which.
Xvfb -displayfd 3 -screen 0 "${size}x24" -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 1 100); do
	[ -s "$tmp/display" ] && break
	sleep 0.1
done
if [ ! -s "$tmp/display" ]; then
	cat "$tmp/xvfb.log" >&2
	fail "Xvfb did not start"
fi
export DISPLAY=":$(head -n1 "$tmp/display")"
export LANG=${LANG:-en_US.UTF-8}

if [ -n "$tour" ]; then
	mkdir -p "$out"
	# A station of its own: the simulated line, a fresh ledger, default faults.
	cat >"$tmp/station.toml" <<-EOF
		[station]
		db = "station.db"
		[devices.sim]
		units_per_min = 600
	EOF
	mkfifo "$tmp/in"
else
	mkdir -p "$(dirname "$out")"
fi

# start runs the kiosk in the background.
start() {
	if [ -n "$tour" ]; then
		rm -f "$tmp/station.db"*
		"$bin" kiosk --config "$tmp/station.toml" --tour --fullscreen <"$tmp/in" >"$tmp/out" 2>"$tmp/app.log" &
		app_pid=$!
		exec 4>"$tmp/in" # keep the kiosk's standard input open
	else
		"$bin" "$@" >"$tmp/app.log" 2>&1 &
		app_pid=$!
	fi
}

# A display that is slow to answer (a busy machine) can make GLFW fail to
# initialise: the kiosk then exits at once. Such a start is tried again once.
found=""
for attempt in 1 2; do
	start "$@"
	for _ in $(seq 1 $((wait_s * 10))); do
		if ! kill -0 "$app_pid" 2>/dev/null; then
			wait "$app_pid" 2>/dev/null || true
			[ "$attempt" = 1 ] && grep -q "GLFW" "$tmp/app.log" 2>/dev/null && break
			fail "$bin exited before its window came up"
		fi
		if xwininfo -root -tree 2>/dev/null | grep -q "\"$title\""; then
			found=1
			break
		fi
		sleep 0.1
	done
	[ -n "$found" ] && break
	kill -0 "$app_pid" 2>/dev/null && fail "no window titled \"$title\" within ${wait_s}s"
	[ -n "$tour" ] && exec 4>&-
	echo "screenshot.sh: the kiosk could not open its window (GLFW); trying once more" >&2
	sleep 1
done
[ -n "$found" ] || fail "no window titled \"$title\" within ${wait_s}s"

if [ -z "$tour" ]; then
	sleep "$settle_s" # let the first frames render
	import -window root "$out"
	echo "screenshot.sh: window \"$title\" is up; screenshot written to $out"
	exit 0
fi

# await PREFIX waits for the kiosk to print a line starting with PREFIX
# and prints that line; "error: ..." or the kiosk's exit fails.
seen=0
await() {
	local want=$1 line
	for _ in $(seq 1 $((wait_s * 20))); do
		while IFS= read -r line; do
			seen=$((seen + 1))
			case "$line" in
			"error:"*) fail "tour: $line" ;;
			"$want"*)
				echo "$line"
				return 0
				;;
			esac
		done < <(tail -n +"$((seen + 1))" "$tmp/out")
		kill -0 "$app_pid" 2>/dev/null || fail "the kiosk exited while waiting for \"$want\""
		sleep 0.05
	done
	fail "tour: no \"$want\" within ${wait_s}s"
}

shots=0
# step COMMAND ANSWER [SHOT]: send a tour command, wait for its answer,
# then take the screenshot SHOT.
step() {
	echo "$1" >&4
	await "$2" >/dev/null
	if [ -n "${3:-}" ]; then
		sleep "$settle_s"
		shots=$((shots + 1))
		local file
		file="$out/$(printf '%02d' "$shots")-$3.png"
		import -window root "$file"
		echo "screenshot.sh: $3 -> $file"
	fi
}

step "show signin" "shown signin" sign-in
step "signin" "shown run"
step "start" "started"
step "wait 40" "commissioned"
sleep 2 # the counters keep moving
step "show run" "shown run" line-run
step "pack 6" "packed 6"
step "show packing" "shown packing" aggregation
step "pack 4" "packed 4"
step "close" "closed"
step "lookup" "shown warehouse" warehouse-tree
step "show status" "shown status" status
step "ship" "shipped"
exec 4>&- # end of the tour: the kiosk quits
for _ in $(seq 1 100); do
	kill -0 "$app_pid" 2>/dev/null || break
	sleep 0.1
done
echo "screenshot.sh: $shots screenshots of the kiosk written to $out"
