# necd: the two commands are `make demo` and `make test`. Both install what they need.
#
#   make demo      build, start a private pcscd with virtual readers, tap virtual cards
#   make test      build and run every test inside a private virtual-reader environment
#   make build     debug build only
#   make release   release build (what benchmarks and installs use)

SWIFT        ?= swift
PREFIX       ?= /usr
DESTDIR      ?=
# Debian packages the build, the tests and the demo need. A minimal Debian 12 has none of
# them; among the less obvious: iproute2 for `ss` (the rig finds free vpcd ports with it),
# util-linux for unshare/setpriv, procps for pgrep, systemd for systemd-analyze and
# systemd-socket-activate; udev for udevadm (the rules check), nodejs for the polkit
# rule's syntax check, groff-base and man-db for the man pages' render checks, libccid
# (pcscd's usual driver) for its reader list the udev rules are checked against;
# python3-prometheus-client reads /metrics in its test; chromium, chromium-driver and
# python3-selenium for the tests of the browser pages.
APT_PACKAGES := pcscd libpcsclite-dev libsqlite3-dev vsmartcard-vpcd pcsc-tools sqlite3 \
                python3 util-linux procps systemd iproute2 \
                udev nodejs groff-base man-db libccid python3-prometheus-client \
                chromium chromium-driver python3-selenium
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build release test demo clean

all: build

# Installs only what is missing, so a machine that has everything is not touched.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	scripts/run-tests

demo: deps
	$(SWIFT) build
	scripts/demo

clean:
	rm -rf .build

include mk/install.mk
