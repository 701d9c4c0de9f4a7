#!/usr/bin/env bats
# make install / uninstall honour PREFIX and DESTDIR, and installed tools run.

load ../lib/common

teardown() { assert_no_leftovers; }

@test "install: tools, man pages and data land under DESTDIR/PREFIX and run from there" {
	d=$BATS_TEST_TMPDIR/dest
	run make -C "$OM_ROOT" --no-print-directory install DESTDIR="$d" PREFIX=/opt/om
	show
	[ "$status" -eq 0 ]
	for t in omerta-keygen omerta-wgconf omerta-vpnserve; do
		[ -x "$d/opt/om/bin/$t" ]
		[ -f "$d/opt/om/share/man/man1/$t.1" ]
		"$d/opt/om/bin/$t" --version
	done
	[ -f "$d/opt/om/share/omerta/deps.sh" ]
	[ -d "$d/opt/om/share/omerta/initramfs" ]
	# Installed tools find their data under PREFIX, not in the checkout.
	[ -x "$d/opt/om/share/omerta/initramfs/init" ]
	[ -f "$d/opt/om/share/omerta/common.sh" ]
	"$d/opt/om/bin/omerta-execute" --help | grep -q '^usage: omerta-execute'
	"$d/opt/om/bin/omerta" status --help | grep -q '^usage: omerta-status'
	# (It looks only beside itself: DESTDIR/opt/om/share/omerta, never this checkout.)
	b=$(OMERTA_CACHE_DIR="$BATS_TEST_TMPDIR/cache" "$d/opt/om/bin/omerta-mkinitrd" --base)
	[ -f "$b" ]
	cpio -i --quiet --to-stdout init <"$b" | cmp - "$d/opt/om/share/omerta/initramfs/init"
	for t in omerta omerta-execute omerta-submit omerta-vpn omerta-status omerta-gc omerta-mkinitrd omerta-jail omerta-watch omerta-vmboot; do
		[ -x "$d/opt/om/bin/$t" ]
		[ -f "$d/opt/om/share/man/man1/$t.1" ]
	done
	k=$("$d/opt/om/bin/omerta-keygen")
	[ "$(printf '%s' "$k" | "$d/opt/om/bin/omerta-keygen" --public)" = "$(printf '%s' "$k" | wg pubkey)" ]
	run make -C "$OM_ROOT" --no-print-directory uninstall DESTDIR="$d" PREFIX=/opt/om
	[ "$status" -eq 0 ]
	[ -z "$(find "$d" -type f)" ]
}
