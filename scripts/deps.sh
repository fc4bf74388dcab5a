#!/usr/bin/env bash
# deps.sh installs what building, running and testing linestation needs on a
# Debian machine: the C headers Fyne's GLFW driver links against, Xvfb and
# screenshot tools for the kiosk's headless runs, and the real peers the tests
# start on loopback (chrony, socat, xmllint, Node.js for the independent
# OPC UA server and ZPL renderer). It installs only what is missing and uses
# sudo only when not root. Safe to run again: it does nothing when all is there.
set -euo pipefail

packages=(
	# cgo + Fyne (GLFW, OpenGL, X11)
	gcc libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev
	# a display for headless runs and screenshots
	xvfb xauth imagemagick x11-utils
	# test peers: NTP server, pseudo-terminals, XML schema validation
	chrony faketime socat libxml2-utils
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
# Node.js and npm run the independent test peers (node-opcua, zpl-renderer-js).
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if ((${#missing[@]} == 0)); then
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps.sh: these Debian packages are missing: ${missing[*]}" >&2
		echo "deps.sh: run as root (or install sudo) so that they can be installed" >&2
		exit 1
	fi
	sudo="sudo"
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# chrony's package starts a system daemon; the tests run their own instances
# on loopback with -x (never touching the clock), so the system one is not needed.
echo "deps.sh: done" >&2
