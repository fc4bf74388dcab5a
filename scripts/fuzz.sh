#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target of the module for a short time each, so that
# `make test` catches a parser that panics on input its seeds never had.
#
# usage: scripts/fuzz.sh DURATION TAGS
set -euo pipefail
fuzztime=${1:-4s}
tags=${2:-}
go=${GO:-go}

found=0
for pkg in $($go list -tags "$tags" ./...); do
	dir=$($go list -tags "$tags" -f '{{.Dir}}' "$pkg")
	grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
	for target in $($go test -tags "$tags" -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		found=$((found + 1))
		echo "fuzz: $pkg $target for $fuzztime"
		if ! out=$($go test -tags "$tags" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
			echo "$out"
			echo "fuzz: $target in $pkg failed; the failing input is saved under testdata/fuzz/$target in that package;"
			echo "fuzz: rerun with: $go test -tags $tags -run '$target' $pkg"
			exit 1
		fi
	done
done
echo "fuzz: $found targets ran without a failure"
