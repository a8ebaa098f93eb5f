# mk/install.mk: `make install` and `make uninstall`, included from the top Makefile.
#
#   make install                       build release, then install under /usr
#   make install DESTDIR=/tmp/stage    stage for a package: files land in /tmp/stage/usr/...
#   make install PREFIX=/usr/local     elsewhere; the installed unit's ExecStart follows
#   make install SKIP_BUILD=1          install the binaries already in RELEASE_BIN_DIR
#   make uninstall                     remove exactly what install put (same PREFIX, DESTDIR)
#
# As root, build first as yourself so .build stays yours:
#   make release && sudo make install SKIP_BUILD=1
#
# /etc/necd is created whatever PREFIX is, because that is where necd and necctl look.
# After a real install (no DESTDIR) the system still has to pick the files up:
#   systemd-sysusers necd.conf && systemd-tmpfiles --create necd.conf
#   systemctl daemon-reload && udevadm control --reload
#   systemctl enable --now necd.socket necd.service

PREFIX          ?= /usr
DESTDIR         ?=
SYSCONFDIR      ?= /etc
# Where `swift build -c release` leaves the executables (a symlink SwiftPM maintains).
RELEASE_BIN_DIR ?= .build/release
# Non-empty: do not build, install what RELEASE_BIN_DIR holds (for tests and packagers
# that built already; a missing binary is an error, never a silent skip).
SKIP_BUILD      ?=
INSTALL         ?= install
GZIP            ?= gzip

necd_sbindir    := $(PREFIX)/sbin
necd_bindir     := $(PREFIX)/bin
necd_unitdir    := $(PREFIX)/lib/systemd/system
necd_mandir     := $(PREFIX)/share/man
necd_docdir     := $(PREFIX)/share/doc/necd

# Everything install puts, one entry each: KIND:MODE:SOURCE:TARGET (TARGET without
# DESTDIR). uninstall walks this same list, so the two cannot drift.
#   file  copied as it is
#   unit  copied with ExecStart= pointed at the necd installed here, so PREFIX can change
#   man   compressed with gzip -9n (no name or time stamp: reproducible)
#   dir   created empty; uninstall removes it only if it is still empty
NECD_INSTALL_MANIFEST := \
	file:0755:$(RELEASE_BIN_DIR)/necd:$(necd_sbindir)/necd \
	file:0755:$(RELEASE_BIN_DIR)/necctl:$(necd_bindir)/necctl \
	unit:0644:systemd/necd.service:$(necd_unitdir)/necd.service \
	file:0644:systemd/necd.socket:$(necd_unitdir)/necd.socket \
	file:0644:systemd/necd.sysusers:$(PREFIX)/lib/sysusers.d/necd.conf \
	file:0644:systemd/necd.tmpfiles:$(PREFIX)/lib/tmpfiles.d/necd.conf \
	file:0644:systemd/50-necd-pcscd.rules:$(PREFIX)/share/polkit-1/rules.d/50-necd-pcscd.rules \
	file:0644:udev/95-necd-readers.rules:$(PREFIX)/lib/udev/rules.d/95-necd-readers.rules \
	file:0644:udev/blacklist-pn533.conf:$(PREFIX)/lib/modprobe.d/necd-blacklist-pn533.conf \
	man:0644:man/necctl.1:$(necd_mandir)/man1/necctl.1.gz \
	man:0644:man/necd.toml.5:$(necd_mandir)/man5/necd.toml.5.gz \
	man:0644:man/necd-protocol.7:$(necd_mandir)/man7/necd-protocol.7.gz \
	man:0644:man/necd.8:$(necd_mandir)/man8/necd.8.gz \
	file:0644:docs/necd.toml.example:$(necd_docdir)/necd.toml.example \
	dir:0755:-:$(necd_docdir) \
	dir:0755:-:$(SYSCONFDIR)/necd

.PHONY: install uninstall

# The release build is a prerequisite unless SKIP_BUILD is set; `release` is the top
# Makefile's target (swift build -c release).
install: $(if $(SKIP_BUILD),,release)
	@set -e; set -f; \
	staged=$$(mktemp); trap 'rm -f "$$staged"' EXIT; \
	for entry in $(NECD_INSTALL_MANIFEST); do \
	  saved_ifs=$$IFS; IFS=:; set -- $$entry; IFS=$$saved_ifs; \
	  kind=$$1; mode=$$2; source=$$3; target='$(DESTDIR)'$$4; \
	  if [ "$$kind" = dir ]; then \
	    echo "$(INSTALL) -d -m $$mode $$target"; \
	    $(INSTALL) -d -m "$$mode" "$$target"; \
	    continue; \
	  fi; \
	  if [ ! -f "$$source" ]; then \
	    echo "mk/install.mk: $$source is missing (make release builds the binaries; systemd/ and udev/ come with the source)" >&2; \
	    exit 1; \
	  fi; \
	  case $$kind in \
	    file) from=$$source; note= ;; \
	    unit) sed -E 's#^(ExecStart=[-@:+!]*)[^ ]*/necd( |$$)#\1$(necd_sbindir)/necd\2#' "$$source" >"$$staged"; \
	          from=$$staged; note=" (ExecStart=$(necd_sbindir)/necd)" ;; \
	    man)  $(GZIP) -9n -c "$$source" >"$$staged"; from=$$staged; note=" (gzip -9n)" ;; \
	    *)    echo "mk/install.mk: unknown kind $$kind in NECD_INSTALL_MANIFEST" >&2; exit 1 ;; \
	  esac; \
	  echo "$(INSTALL) -D -m $$mode $$source $$target$$note"; \
	  $(INSTALL) -D -m "$$mode" "$$from" "$$target"; \
	done; \
	if [ -z '$(DESTDIR)' ]; then \
	  echo "next: systemd-sysusers necd.conf; systemd-tmpfiles --create necd.conf;"; \
	  echo "      systemctl daemon-reload; udevadm control --reload;"; \
	  echo "      systemctl enable --now necd.socket necd.service"; \
	fi

uninstall:
	@set -e; set -f; dirs=; \
	for entry in $(NECD_INSTALL_MANIFEST); do \
	  saved_ifs=$$IFS; IFS=:; set -- $$entry; IFS=$$saved_ifs; \
	  target='$(DESTDIR)'$$4; \
	  if [ "$$1" = dir ]; then dirs="$$dirs $$target"; continue; fi; \
	  if [ -e "$$target" ] || [ -L "$$target" ]; then echo "rm -f $$target"; rm -f "$$target"; fi; \
	done; \
	for dir in $$dirs; do \
	  [ -d "$$dir" ] || continue; \
	  if rmdir "$$dir" 2>/dev/null; then echo "rmdir $$dir"; \
	  else echo "kept $$dir: not empty (holds files install did not put there)"; fi; \
	done
