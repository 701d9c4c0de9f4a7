#!/usr/bin/env bats
# make install / uninstall honour PREFIX and DESTDIR, and installed tools run.

load ../lib/common

teardown() { assert_no_leftovers; }

# The man page a tool installs: section 8 for the tools that need root, as wg(8).
page() {
	case $2 in
	omerta-vpnserve | omerta-jail | omerta-vmboot | omerta-execute | omerta-submit | omerta-gc | omerta-mkimage | omerta-vpn | omerta-provide)
		printf '%s/man8/%s.8\n' "$1" "$2" ;;
	*) printf '%s/man1/%s.1\n' "$1" "$2" ;;
	esac
}

@test "install: tools, man pages and data land under DESTDIR/PREFIX and run from there" {
	d=$BATS_TEST_TMPDIR/dest
	run make -C "$OM_ROOT" --no-print-directory install DESTDIR="$d" PREFIX=/opt/om
	show
	[ "$status" -eq 0 ]
	for t in omerta-keygen omerta-wgconf omerta-vpnserve; do
		[ -x "$d/opt/om/bin/$t" ]
		[ -f "$(page "$d/opt/om/share/man" "$t")" ]
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
	for t in omerta omerta-execute omerta-submit omerta-vpn omerta-status omerta-gc omerta-mkinitrd omerta-jail omerta-watch omerta-vmboot omerta-provide; do
		[ -x "$d/opt/om/bin/$t" ]
		[ -f "$(page "$d/opt/om/share/man" "$t")" ]
	done
	k=$("$d/opt/om/bin/omerta-keygen")
	[ "$(printf '%s' "$k" | "$d/opt/om/bin/omerta-keygen" --public)" = "$(printf '%s' "$k" | wg pubkey)" ]
	run make -C "$OM_ROOT" --no-print-directory uninstall DESTDIR="$d" PREFIX=/opt/om
	[ "$status" -eq 0 ]
	[ -z "$(find "$d" -type f)" ]
}
