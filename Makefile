# linestation: build, run and test.
#
#   make run      build and start a working line: the central service with
#                 demo data and the kiosk on a simulated line, connected to it
#                 (installs what is missing first; Ctrl-C stops it all)
#   make test     everything CI checks: format, vet, unit and integration tests
#                 with the race detector, fuzzing, and the kiosk under Xvfb
#   make bench    benchmarks with figures and ratios against their baselines
#   make package  a desktop package (tar.xz) built by the fyne tool
#
# Every target installs what it needs through scripts/deps.sh (apt-get; sudo
# only when not root). See README.md.

SHELL := /bin/bash
GO ?= go
MODULE := github.com/linestation/linestation
# fyneDo = true in FyneApp.toml maps to this tag; plain go build/test must pass it.
TAGS := migrated_fynedo
# Fyne's headless test driver for every package that links fyne.io/fyne/v2/app.
TEST_TAGS := ci,$(TAGS)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X $(MODULE)/station.Version=$(VERSION) -X $(MODULE)/station.Commit=$(COMMIT)
BIN := build/linestation
FUZZTIME ?= 4s
FYNE_TOOL := fyne.io/tools/cmd/fyne@v1.7.4

# Independent peers from the npm registry that the tests run against.
NPM_PEERS := node-opcua@2.186.4 zpl-renderer-js@3.4.0

.PHONY: all deps test-deps build run test check unit fuzz screenshots bench package clean

all: build

deps:
	@scripts/deps.sh

# test-deps adds what only the tests need: the npm peers, installed once
# into build/npm, and the pinned MinIO server in build/bin.
test-deps: deps
	@scripts/npm-peers.sh $(NPM_PEERS) >/dev/null
	@scripts/minio.sh >/dev/null

build: deps
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/linestation

run: build
	@scripts/run.sh $(BIN)

test: test-deps check unit fuzz screenshots
	@echo "make test: all checks passed"

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet -tags $(TEST_TAGS) ./...

unit:
	$(GO) test -race -tags $(TEST_TAGS) -timeout 15m ./...

fuzz:
	@scripts/fuzz.sh $(FUZZTIME) $(TEST_TAGS)

# screenshots checks that the headless commands run with no display, then
# runs the real kiosk under Xvfb against the simulated line (failing if its
# window does not come up or a step of the tour fails) and writes a
# screenshot of each main screen to build/screenshots/: sign in, the line
# running, aggregation, a warehouse tree, the station status. kiosk.png is
# the window as it first comes up (the sign in).
screenshots: build
	env -u DISPLAY -u WAYLAND_DISPLAY $(BIN) version >/dev/null
	env -u DISPLAY -u WAYLAND_DISPLAY $(BIN) gs1 parse '(01)00300010123455(17)271100(10)LOT1(21)SER1' >/dev/null
	rm -f build/screenshots/*.png
	scripts/screenshot.sh --tour $(BIN) build/screenshots
	cp build/screenshots/01-sign-in.png build/screenshots/kiosk.png

bench: test-deps
	$(GO) test -tags $(TEST_TAGS) -run '^$$' -bench . -benchmem ./... | tee build/bench.txt

package: deps
	$(GO) run $(FYNE_TOOL) package --os linux --src cmd/linestation --name linestation \
		--tags $(TAGS) --release
	@mkdir -p build && mv -f linestation.tar.xz build/ && echo "package: build/linestation.tar.xz"

clean:
	rm -rf build
