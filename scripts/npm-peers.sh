#!/usr/bin/env bash
# npm-peers.sh installs npm packages that tests use as independent peers
# (a ZPL renderer, an OPC UA server, ...), each into build/npm/<name> under
# the repository (build/ is gitignored), unless the version asked for is
# already there. It prints one line per package: name, version, folder.
#
#   scripts/npm-peers.sh zpl-renderer-js@3.4.0 node-opcua@2.186.4
#
# A spec without a version installs the latest once and keeps it.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 package@version ..." >&2
	exit 2
fi
command -v npm >/dev/null || { echo "npm-peers: npm is not installed: apt-get install -y nodejs npm" >&2; exit 1; }

root="$(cd "$(dirname "$0")/.." && pwd)"
for spec in "$@"; do
	# Split name and version; a scoped name starts with @ (@scope/name@1.2.3).
	rest="${spec#@}"
	if [[ "$rest" == *@* ]]; then
		name="${spec%@*}"
		version="${spec##*@}"
	else
		name="$spec"
		version=""
	fi
	dir="$root/build/npm/$name"
	pkg="$dir/node_modules/$name/package.json"
	have=""
	if [ -f "$pkg" ]; then
		have="$(node -p "require(process.argv[1]).version" "$pkg" 2>/dev/null || true)"
	fi
	if [ -z "$have" ] || { [ -n "$version" ] && [ "$have" != "$version" ]; }; then
		mkdir -p "$dir"
		[ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
		(cd "$dir" && npm install --no-audit --no-fund --loglevel=error "$spec" >&2)
		have="$(node -p "require(process.argv[1]).version" "$pkg")"
	fi
	echo "$name $have $dir"
done
