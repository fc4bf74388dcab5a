#!/usr/bin/env bash
# minio.sh installs the MinIO server that the backup tests run against (a
# real S3-compatible server on loopback) into build/bin, once, at the
# version pinned below, and prints its path. It builds from source with the
# Go module proxy: about 3 minutes (up to 9 on a busy 2-core machine) the
# first time, nothing after. The tests find build/bin/minio by themselves.
#
#   scripts/minio.sh            # prints .../build/bin/minio
#
# MinIO publishes no semantic versions to the module proxy; the pin is the
# pseudo-version of the commit the tests were written against (2026-02-12).
set -euo pipefail

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build/bin"
stamp="$bin/minio.version"

if [ -x "$bin/minio" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MINIO_VERSION" ]; then
	echo "$bin/minio"
	exit 0
fi

command -v "${GO:-go}" >/dev/null || { echo "minio.sh: go is not installed" >&2; exit 1; }
mkdir -p "$bin"
echo "minio.sh: installing the MinIO server $MINIO_VERSION into $bin (a few minutes, once)" >&2
# go install pkg@version ignores this module's go.mod; GOFLAGS from the
# caller (-mod=..., -tags) would only get in its way.
GOFLAGS="" GOBIN="$bin" "${GO:-go}" install "github.com/minio/minio@$MINIO_VERSION" >&2
echo "$MINIO_VERSION" >"$stamp"
echo "$bin/minio"
