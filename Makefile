# omerta: small C tools and POSIX sh workflows that run a requester's job in a
# throwaway QEMU VM whose only way out is the requester's WireGuard tunnel.
#
#   make            build every tool into bin/ (they run from the checkout)
#   make check      every test: C unit tests, fuzz corpus replay, bats suites, examples
#   make check-long the load tests: 8 concurrent jobs, 200 sequential jobs (root)
#   make check-kernel  make kernel, then the suites that boot VMs with that kernel (root)
#   make deps       install the Debian packages omerta needs (root)
#   make demo       a real job through a real per-job VPN (root)
#   make images     the default job image, debian-python (root; Debian mirror)
#   make fuzz       ten minutes of libFuzzer per parser (clang; FUZZ_SECONDS=N, FUZZ="door ctl")
#   make bench      benchmarks (bench/README.md)
#   make install    PREFIX=/usr/local DESTDIR= (UNITDIR= TMPFILESDIR= SYSUSERSDIR= for the units)
#   make deb        the Debian packages omerta and omerta-provider, into build/deb (debian/)
#   make kernel     omerta's own guest kernel from Debian's linux-source, booted from then on (root)
#   make install-provider   the provider's account, policy and sudo rule (root; omerta-provide(8))
#   WERROR=1        warnings are errors (CI)
#   SAN=address,undefined   build and test under sanitizers

VERSION   := 0.1.0
# The layout (FHS): tools users run in BINDIR, the root-only ones in SBINDIR, the
# guest's files (its /init and its static helper) in LIBDIR, the workflows' shared sh
# in DATADIR. The workflows and omerta-mkinitrd find them from where they themselves
# are (PREFIX/bin or PREFIX/sbin), so the same layout runs from a checkout (all in
# bin/) and from any PREFIX.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
LIBDIR    ?= $(PREFIX)/lib/omerta
DATADIR   ?= $(PREFIX)/share/omerta
MANDIR    ?= $(PREFIX)/share/man
UNITDIR   ?=
TMPFILESDIR ?=
SYSUSERSDIR ?=
CC        ?= cc
PKG_CONFIG ?= pkg-config

SODIUM_CFLAGS := $(shell $(PKG_CONFIG) --cflags libsodium 2>/dev/null)
SODIUM_LIBS   := $(shell $(PKG_CONFIG) --libs libsodium 2>/dev/null || echo -lsodium)

WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
            -Wvla -Wpointer-arith -Wcast-qual -Wundef
# _FORTIFY_SOURCE only where the caller sets none: a second -D of it with another
# level is a redefinition, an error under WERROR.
HARDEN   := -fstack-protector-strong -fPIE -fstack-clash-protection \
            $(if $(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,-D_FORTIFY_SOURCE=2)
OPT      ?= -O2 -g
# CPPFLAGS, CFLAGS and LDFLAGS are the caller's (dpkg-buildflags) and come last, so
# that theirs win.
CPPFLAGS ?=
CFLAGS   ?=
LDFLAGS  ?=
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -DOMERTA_VERSION='"$(VERSION)"' $(OPT) $(WARN) \
              -Ilib $(SODIUM_CFLAGS) $(if $(SAN),,$(HARDEN)) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS)
ifeq ($(WERROR),1)
ALL_CFLAGS += -Werror
endif
ifneq ($(SAN),)
ALL_CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SAN)
endif

TOOLS    := omerta-keygen omerta-wgconf omerta-vpnserve omerta-mkinitrd omerta-jail omerta-vmboot omerta-watch omerta-escape omerta-files omerta-mkimage omerta-provide
SCRIPTS  := omerta omerta-execute omerta-submit omerta-vpn omerta-status omerta-gc
# The root-only tools (their pages are in section 8) go to SBINDIR; the rest, which a
# user or the provider's account runs, to BINDIR. omerta-provide is the forced command
# of an unprivileged account, found on sshd's PATH, which has no sbin.
ROOT_TOOLS := $(filter-out omerta-provide,$(patsubst man/%.8,%,$(wildcard man/*.8)))
USER_TOOLS := $(filter-out $(ROOT_TOOLS),$(TOOLS) $(SCRIPTS))
LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(LIB_SRC:lib/%.c=build/lib/%.o)
BINS     := $(TOOLS:%=bin/%)
FUZZ     := wgconf key state door ctl frame num kmod jrec ext2 image policy
MANPAGES := $(wildcard man/*.1)
MAN7     := $(wildcard man/*.7)
MAN8     := $(wildcard man/*.8)

.PHONY: all check check-long check-kernel deps deps-kernel demo images fuzz bench install install-provider uninstall-provider uninstall clean deb kernel FORCE

all: $(BINS) initramfs/omerta-guest build/unit build/fuzz-replay build/nft-flush

# The guest's helper runs inside the VM, where there is no libc to link against:
# static, and never built with sanitizers. Linked with musl (musl-tools) it is 80 KB
# instead of glibc's 700: the guest kernel unpacks every byte at every boot and
# pages it in at each of /init's calls, both slow under TCG. musl's headers come
# first; the kernel's uapi headers (linux/, asm/, asm-generic/) are reached through
# a folder that holds only them, so no glibc header can slip in.
GUEST_CC ?= $(shell command -v musl-gcc 2>/dev/null)
GUEST_INC := build/guest-include
# The libc-only core of lib/, built for the host (in libomerta.a) and for the guest.
CORE_SRC := lib/om_nl.c lib/om_ctl.c lib/om_num.c lib/om_keyb64.c
initramfs/omerta-guest: initramfs/omerta-guest.c $(CORE_SRC) lib/om_nl.h lib/om_ctl.h lib/om_num.h lib/om_key.h
	@if [ -z "$(GUEST_CC)" ]; then echo "omerta-guest: musl-gcc is missing (sudo make deps: musl-tools)" >&2; exit 1; fi
	@mkdir -p $(GUEST_INC)
	@for d in linux asm-generic; do ln -sfn /usr/include/$$d $(GUEST_INC)/$$d; done
	@ln -sfn /usr/include/$$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/asm $(GUEST_INC)/asm
	$(GUEST_CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(if $(filter 1,$(WERROR)),-Werror) \
		-idirafter $(GUEST_INC) -Ilib -fstack-protector-strong -ffile-prefix-map=$(CURDIR)=. \
		-static -s -o $@ $< $(CORE_SRC)

# The tests' attacker: flushes the guest's nf_tables from a root workload, carried in
# its script (tests/lib/nft-flush.sh). No libc, so it is a few hundred bytes.
build/nft-flush: tests/lib/nft-flush.c
	@mkdir -p build
	$(CC) -std=c11 -Os $(WARN) $(if $(filter 1,$(WERROR)),-Werror) -ffreestanding -fno-stack-protector \
		-fno-asynchronous-unwind-tables -nostdlib -static -no-pie -s -Wl,--build-id=none -Wl,-n -o $@ $<

# Rebuild everything when the flags change (e.g. SAN= on, then off).
build/flags: FORCE
	@mkdir -p build
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@

build/lib/%.o: lib/%.c lib/*.h build/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/libomerta.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

bin/%: bin/%.c build/libomerta.a build/flags
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< build/libomerta.a $(SODIUM_LIBS)

build/unit: tests/unit/*.c tests/unit/*.h build/libomerta.a build/flags
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -Itests/unit -o $@ tests/unit/*.c build/libomerta.a $(SODIUM_LIBS)

# The fuzz targets linked to a plain main() that replays the corpus.
build/fuzz-replay: tests/fuzz/*.c build/libomerta.a build/flags
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/fuzz/*.c build/libomerta.a $(SODIUM_LIBS)

deps:
	@sh share/deps.sh

# sudo make check: install what is missing (as root), build, run every test.
check: $(if $(filter 0,$(shell id -u)),deps)
	@$(MAKE) --no-print-directory all
	@sh tests/run

# sudo make check-long: the load tests (8 concurrent jobs, 200 sequential jobs with
# leak checks), about 12 minutes here on Debian's kernel (OMERTA_KERNEL picks
# another). CI runs it last, on omerta's own kernel.
check-long: $(if $(filter 0,$(shell id -u)),deps)
	@$(MAKE) --no-print-directory all
	@OMERTA_SUITES=tests/long sh tests/run

demo: $(if $(filter 0,$(shell id -u)),deps)
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh

# sudo make images: the default image, debian-python (python3, pip, curl,
# ca-certificates from Debian 12), into $(or $(OMERTA_IMAGE_DIR),/var/lib/omerta/images); about 30 s
# from this machine's Debian mirror. The first job with --image debian-python does
# the same.
images: $(if $(filter 0,$(shell id -u)),deps)
	@$(MAKE) --no-print-directory all
	bin/omerta-mkimage --debian bookworm --packages python3,python3-pip,curl,ca-certificates --name debian-python

fuzz: all
	@sh tests/fuzz/run.sh $(or $(FUZZ_SECONDS),600) $(FUZZ)

bench: all
	@sh bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/initramfs $(DESTDIR)$(DATADIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(USER_TOOLS:%=bin/%) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(ROOT_TOOLS:%=bin/%) $(DESTDIR)$(SBINDIR)/
	install -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 share/common.sh share/provider.conf $(DESTDIR)$(DATADIR)/
	install -m 0755 initramfs/init initramfs/omerta-guest $(DESTDIR)$(LIBDIR)/initramfs/
ifneq ($(UNITDIR),)
	install -d $(DESTDIR)$(UNITDIR)
	for u in omerta-gc.service omerta-prune.service omerta-prune.timer; do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' share/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
endif
ifneq ($(TMPFILESDIR),)
	install -d $(DESTDIR)$(TMPFILESDIR)
	install -m 0644 share/systemd/omerta.tmpfiles $(DESTDIR)$(TMPFILESDIR)/omerta.conf
	install -m 0644 share/systemd/omerta-provider.tmpfiles $(DESTDIR)$(TMPFILESDIR)/omerta-provider.conf
endif
ifneq ($(SYSUSERSDIR),)
	install -d $(DESTDIR)$(SYSUSERSDIR)
	install -m 0644 share/systemd/omerta-provider.sysusers $(DESTDIR)$(SYSUSERSDIR)/omerta-provider.conf
endif

# sudo make install-provider: this machine serves strangers over SSH (omerta-provide(8)):
# the account (OMERTA_USER=omerta), the policy, one sudo rule, the units. After install.
install-provider:
	OMERTA_USER=$(or $(OMERTA_USER),omerta) BINDIR=$(BINDIR) SBINDIR=$(SBINDIR) sh share/install-provider.sh

uninstall-provider:
	OMERTA_USER=$(or $(OMERTA_USER),omerta) BINDIR=$(BINDIR) SBINDIR=$(SBINDIR) sh share/install-provider.sh --uninstall

uninstall:
	rm -f $(USER_TOOLS:%=$(DESTDIR)$(BINDIR)/%) $(ROOT_TOOLS:%=$(DESTDIR)$(SBINDIR)/%)
	rm -f $(MANPAGES:man/%=$(DESTDIR)$(MANDIR)/man1/%) $(MAN7:man/%=$(DESTDIR)$(MANDIR)/man7/%) $(MAN8:man/%=$(DESTDIR)$(MANDIR)/man8/%)
	rm -f $(DESTDIR)$(DATADIR)/common.sh $(DESTDIR)$(DATADIR)/provider.conf
	rm -f $(DESTDIR)$(LIBDIR)/initramfs/init $(DESTDIR)$(LIBDIR)/initramfs/omerta-guest
	-rmdir $(DESTDIR)$(DATADIR) $(DESTDIR)$(LIBDIR)/initramfs $(DESTDIR)$(LIBDIR) 2>/dev/null
	$(if $(UNITDIR),rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,omerta-gc.service omerta-prune.service omerta-prune.timer))
	$(if $(TMPFILESDIR),rm -f $(DESTDIR)$(TMPFILESDIR)/omerta.conf $(DESTDIR)$(TMPFILESDIR)/omerta-provider.conf)
	$(if $(SYSUSERSDIR),rm -f $(DESTDIR)$(SYSUSERSDIR)/omerta-provider.conf)

# make deb: the Debian packages (debian/), built outside the checkout so that the
# tree stays clean: build/deb/omerta_*.deb and omerta-provider_*.deb. Needs
# dpkg-dev and debhelper (make deps installs them).
deb:
	@sh share/mkdeb.sh build/deb

# sudo make kernel: omerta's own guest kernel (share/mkkernel.sh), from linux-source-6.1,
# into $(or $(OMERTA_CACHE_DIR),/var/cache/omerta)/kernel; about 4 minutes on 2 cores. Jobs boot it
# from then on (omerta-mkinitrd --which-kernel says which and why; OMERTA_KERNEL
# overrides).
kernel: $(if $(filter 0,$(shell id -u)),deps-kernel)
	@sh share/mkkernel.sh

deps-kernel:
	@sh share/deps.sh kernel

# sudo make check-kernel: make kernel, then every suite that boots a VM again, with
# that kernel (make check covers Debian's), and tests/kernel (the kernel itself: its
# options, its choice, the same bytes as tests/kernel/builds records for its key).
# CI runs it after make check; about 20 minutes here.
VM_SUITES = battery door exits faults files images mkinitrd output provider seams-state \
	seams secrets trust watch workflows workloads
check-kernel: $(if $(filter 0,$(shell id -u)),deps deps-kernel)
	@$(MAKE) --no-print-directory all
	@k=$$(sh share/mkkernel.sh) && OMERTA_KERNEL=$$k \
		OMERTA_SUITES="$(foreach s,$(VM_SUITES),tests/bats/$(s).bats) tests/kernel" sh tests/run

clean:
	rm -rf build $(BINS) initramfs/omerta-guest
