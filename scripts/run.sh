#!/usr/bin/env bash
# run.sh is `make run`: a working line in one command. It starts, with the
# binary built by `make build`:
#
#   1. the central service (linestation serve) on loopback, its data in
#      build/run/central, its log in build/run/central.log;
#   2. the demo master data in it, through its ERP API as an ERP would
#      (linestation demo seed, with an ERP token from 'serve erp add'): two
#      products, the demo users with their PINs (printed here), and an
#      order released to line-1;
#   3. the kiosk on the simulated line, its ledger and config in
#      build/run/station, enrolled with a code from 'serve station add
#      line-1' and connected to that central: it pulls the master data,
#      reserves its serials from the central and sends it its journal.
#
# Running it again reuses what is there (nothing is recorded twice). Ctrl-C
# (or closing the kiosk) stops everything. Delete build/run to start again
# with fresh demo data. Without a display (a fresh server or a container)
# the kiosk runs in a virtual one (Xvfb), screenshot every 5 seconds.
#
# usage: scripts/run.sh BINARY [KIOSK ARGS...]
#   RUN_DIR=dir            where the data lives (default build/run)
#   RUN_CENTRAL_ADDR=a:p   where the central listens (default 127.0.0.1:8440)
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift

dir=${RUN_DIR:-build/run}
addr=${RUN_CENTRAL_ADDR:-127.0.0.1:8440}
url="http://$addr"
line=line-1
mkdir -p "$dir/central" "$dir/station" build/screenshots
central_dir=$(cd "$dir/central" && pwd)
station_dir=$(cd "$dir/station" && pwd)
log="$dir/central.log"
cfg="$station_dir/station.toml"

say() { echo "run.sh: $*"; }

if [ -f "$dir/station.db" ]; then
	say "note: $dir/station.toml and $dir/station.db are from a standalone run of an earlier version; they are not used any more (delete them)"
fi
if [ ! -f "$central_dir/central.db" ] && [ -f "$station_dir/station.db" ]; then
	say "the station's ledger in $station_dir belongs to a central service whose data ($central_dir) is gone." >&2
	say "delete $dir to start again with fresh demo data: rm -rf $dir" >&2
	exit 1
fi

# Everything started here is stopped on the way out, whatever the way.
central="" kiosk="" xvfb="" shooter="" tmp=""
cleanup() {
	set +e
	if [ -n "$kiosk" ]; then
		kill -TERM "$kiosk" 2>/dev/null # it may be stopping on Ctrl-C by itself
		for _ in $(seq 1 150); do
			kill -0 "$kiosk" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$kiosk" 2>/dev/null; then
			# Rare: Fyne 2.7's GLFW driver can deadlock on quit. Every record
			# is durable once written, so killing it loses nothing.
			say "the kiosk did not stop within 15 s (a shutdown race in the GUI toolkit); killing it (nothing recorded is lost)"
			kill -KILL "$kiosk" 2>/dev/null
		fi
		wait "$kiosk" 2>/dev/null
	fi
	[ -n "$shooter" ] && kill "$shooter" 2>/dev/null
	[ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null
	if [ -n "$central" ]; then
		kill -TERM "$central" 2>/dev/null # it may have stopped on Ctrl-C by itself
		wait "$central" 2>/dev/null
		say "central service stopped"
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The central service, with a config of its own in its folder (its
# working directory, so that no linestation-central.toml from elsewhere is
# read): the DSCSA exchange runs for the demo company, writing the EPCIS
# documents of shipments for the demo partner as files.
central_cfg="$central_dir/linestation-central.toml"
if [ ! -f "$central_cfg" ]; then
	cat >"$central_cfg" <<EOF
# The central service of 'make run' (written by scripts/run.sh). Edit it
# freely; 'linestation serve --init' writes every setting, commented.

[dscsa]
# The demo company (the owner of the demo site in 'linestation demo seed').
gln = "0300010000015"
contact = "qa@demo-pharma.example"
# Documents for partners delivered as files land here, one folder each.
files = "dscsa-outbound"
EOF
	say "wrote $central_cfg"
fi
say "starting the central service on $url (data $dir/central, log $log)"
(cd "$central_dir" && exec "$bin" serve --config "$central_cfg" --listen "$addr" --data .) >"$log" 2>&1 &
central=$!
for _ in $(seq 1 300); do
	grep -q "central service .* on $url" "$log" && break
	if ! kill -0 "$central" 2>/dev/null; then
		wait "$central" 2>/dev/null || true
		central=""
		say "the central service did not start:" >&2
		tail -n 5 "$log" >&2
		if grep -q "address already in use" "$log"; then
			say "$addr is taken: set RUN_CENTRAL_ADDR=127.0.0.1:PORT" >&2
		elif grep -q "is in use by" "$log"; then
			say "another 'make run' (or serve) still runs on $dir/central: stop it first" >&2
		fi
		exit 1
	fi
	sleep 0.1
done
grep -q "central service .* on $url" "$log" || { say "the central service did not come up within 30 s; see $log" >&2; exit 1; }

serve() { (cd "$central_dir" && "$bin" serve "$@" --config "$central_cfg" --data .); }

# 2. The demo master data, through the ERP API with a fresh ERP token (the
# previous one is revoked; no token is kept on disk).
token=$(serve erp add make-run --replace | grep -E '^lst_' || true)
[ -n "$token" ] || { say "could not get an ERP token from 'linestation serve erp add'" >&2; exit 1; }
LINESTATION_ERP_TOKEN=$token "$bin" demo seed --central "$url" --line "$line"

# 3. The station: a config of its own, enrolled once.
if [ ! -f "$cfg" ]; then
	cat >"$cfg" <<EOF
# The station of 'make run' (written by scripts/run.sh): the simulated line,
# connected to the central service that make run starts. Edit it freely;
# run.sh only fills in central.url and, to enroll, central.enrollment_code.
# Every other setting has its default ('linestation kiosk --init' writes
# them all, commented).

[station]
id = "$line"
line = "$line"
db = "station.db"

[central]
url = "$url"
enrollment_code = ""
credential_file = "station.credential"
EOF
	say "wrote $cfg"
fi
sed -i "s|^url = .*|url = \"$url\"|" "$cfg"
if [ ! -f "$station_dir/station.credential" ]; then
	out=$(serve station add "$line" 2>&1) || out=$(serve station add "$line" --new-code 2>&1) || { echo "$out" >&2; exit 1; }
	code=$(echo "$out" | grep -Eo '^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$' || true)
	[ -n "$code" ] || { echo "$out" >&2; say "no enrollment code in the answer of 'serve station add'" >&2; exit 1; }
	sed -i "s|^enrollment_code = .*|enrollment_code = \"$code\"|" "$cfg"
	say "station $line gets enrollment code $code (used once, at the kiosk's first start)"
else
	say "station $line is enrolled already (credential $station_dir/station.credential)"
fi

# 4. The kiosk: Ctrl-C, or leaving kiosk mode, ends make run.
say "starting the kiosk (ledger $station_dir/station.db); Ctrl-C stops everything"
set -- --config "$cfg" "$@"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
	say "no display found (DISPLAY is not set): the kiosk runs in a virtual display (Xvfb);"
	say "a screenshot is written to build/screenshots/run.png every 5 seconds"
	tmp=$(mktemp -d)
	# In a session of its own, so that Ctrl-C reaches the kiosk, which then
	# closes cleanly, and not the display under it.
	setsid Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.log" &
	xvfb=$!
	for _ in $(seq 1 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
	export DISPLAY=":$(head -n1 "$tmp/display")"
	(while sleep 5; do import -window root build/screenshots/run.png 2>/dev/null || true; done) &
	shooter=$!
fi
# In the background, so that the traps above run at once on Ctrl-C (the
# kiosk gets it too, and closes itself; cleanup waits for it).
"$bin" kiosk "$@" <&0 &
kiosk=$!
status=0
wait "$kiosk" || status=$?
kiosk=""
exit "$status"
