#!/usr/bin/env bats
# make install / uninstall honour PREFIX and DESTDIR and the FHS layout (user tools in
# bin, root-only ones in sbin, the guest's files in lib/omerta, shared sh in
# share/omerta), and installed tools run from there.

load ../lib/common

teardown() { assert_no_leftovers; }

# Where a tool lands, and its man page: the root-only tools (section 8, as wg(8)) in
# sbin, the rest in bin. omerta-provide is the forced command of an unprivileged
# account, so it is in bin (sshd's PATH), with its page in section 8 (the admin's).
root_tool() {
	case $1 in
	omerta-vpnserve | omerta-jail | omerta-vmboot | omerta-execute | omerta-submit | omerta-gc | omerta-mkimage | omerta-vpn) return 0 ;;
	esac
	return 1
}
dir() { if root_tool "$2"; then printf '%s/sbin\n' "$1"; else printf '%s/bin\n' "$1"; fi; }
page() {
	if root_tool "$2" || [ "$2" = omerta-provide ]; then
		printf '%s/man8/%s.8\n' "$1" "$2"
	else
		printf '%s/man1/%s.1\n' "$1" "$2"
	fi
}

@test "install: tools, man pages and data land under DESTDIR/PREFIX in the FHS layout and run from there" {
	d=$BATS_TEST_TMPDIR/dest
	run make -C "$OM_ROOT" --no-print-directory install DESTDIR="$d" PREFIX=/opt/om
	show
	[ "$status" -eq 0 ]
	for t in omerta-keygen omerta-wgconf omerta-vpnserve; do
		[ -x "$(dir "$d/opt/om" "$t")/$t" ]
		[ -f "$(page "$d/opt/om/share/man" "$t")" ]
		"$(dir "$d/opt/om" "$t")/$t" --version
	done
	# The build's own helpers are not installed; the guest's files are under lib.
	[ ! -e "$d/opt/om/share/omerta/deps.sh" ]
	[ ! -e "$d/opt/om/share/omerta/install-provider.sh" ]
	[ ! -e "$d/opt/om/share/omerta/initramfs" ]
	[ -x "$d/opt/om/lib/omerta/initramfs/init" ]
	[ -x "$d/opt/om/lib/omerta/initramfs/omerta-guest" ]
	[ -f "$d/opt/om/share/omerta/common.sh" ]
	"$d/opt/om/sbin/omerta-execute" --help | grep -q '^usage: omerta-execute'
	"$d/opt/om/bin/omerta" status --help | grep -q '^usage: omerta-status'
	# The dispatcher in bin reaches the root-only tools in sbin.
	"$d/opt/om/bin/omerta" execute --help | grep -q '^usage: omerta-execute'
	"$d/opt/om/bin/omerta" gc --help | grep -q '^usage: omerta-gc'
	# (It looks only beside itself: DESTDIR/opt/om/lib/omerta, never this checkout.)
	b=$(OMERTA_CACHE_DIR="$BATS_TEST_TMPDIR/cache" "$d/opt/om/bin/omerta-mkinitrd" --base)
	[ -f "$b" ]
	cpio -i --quiet --to-stdout init <"$b" | cmp - "$d/opt/om/lib/omerta/initramfs/init"
	for t in omerta omerta-execute omerta-submit omerta-vpn omerta-status omerta-gc omerta-mkinitrd omerta-jail omerta-watch omerta-vmboot omerta-provide omerta-escape omerta-files omerta-mkimage; do
		[ -x "$(dir "$d/opt/om" "$t")/$t" ] || { echo "$t is not in $(dir "$d/opt/om" "$t")"; false; }
		[ -f "$(page "$d/opt/om/share/man" "$t")" ] || { echo "no page for $t"; false; }
	done
	# Nothing is in both, and nothing else: every installed tool is one of these.
	[ "$(find "$d/opt/om/bin" "$d/opt/om/sbin" -type f | wc -l)" -eq 17 ]
	k=$("$d/opt/om/bin/omerta-keygen")
	[ "$(printf '%s' "$k" | "$d/opt/om/bin/omerta-keygen" --public)" = "$(printf '%s' "$k" | wg pubkey)" ]
	run make -C "$OM_ROOT" --no-print-directory uninstall DESTDIR="$d" PREFIX=/opt/om
	[ "$status" -eq 0 ]
	[ -z "$(find "$d" -type f)" ]
}

@test "install: UNITDIR, TMPFILESDIR and SYSUSERSDIR get the units (naming SBINDIR), the state folders and the account" {
	d=$BATS_TEST_TMPDIR/dest
	run make -C "$OM_ROOT" --no-print-directory install DESTDIR="$d" PREFIX=/usr UNITDIR=/lib/systemd/system \
		TMPFILESDIR=/usr/lib/tmpfiles.d SYSUSERSDIR=/usr/lib/sysusers.d
	show
	[ "$status" -eq 0 ]
	grep -qx 'ExecStart=/usr/sbin/omerta-gc' "$d/lib/systemd/system/omerta-gc.service"
	grep -q '^ExecStart=/usr/sbin/omerta-gc --cache-max ' "$d/lib/systemd/system/omerta-prune.service"
	run ! grep -r '@[A-Z]*@' "$d/lib/systemd/system"
	grep -qx 'd /run/omerta 0755 root root -' "$d/usr/lib/tmpfiles.d/omerta.conf"
	grep -qx 'd /var/cache/omerta 0755 root root -' "$d/usr/lib/tmpfiles.d/omerta.conf"
	grep -q '^u omerta - ' "$d/usr/lib/sysusers.d/omerta-provider.conf"
	# systemd-tmpfiles makes the state (as the package's install does) and it is root's.
	r=$BATS_TEST_TMPDIR/root
	mkdir -p "$r"
	systemd-tmpfiles --root="$r" --create "$d/usr/lib/tmpfiles.d/omerta.conf" "$d/usr/lib/tmpfiles.d/omerta-provider.conf"
	[ "$(stat -c %U:%a "$r/var/lib/omerta/provider/.ssh")" = root:755 ]
	[ "$(stat -c %U:%a "$r/var/lib/omerta/provider/.ssh/authorized_keys")" = root:644 ]
	[ "$(stat -c %a "$r/var/log/omerta")" = 750 ]
	[ -d "$r/run/omerta" ]
	[ -d "$r/var/cache/omerta" ]
	[ -d "$r/var/lib/omerta/images" ]
	run make -C "$OM_ROOT" --no-print-directory uninstall DESTDIR="$d" PREFIX=/usr UNITDIR=/lib/systemd/system \
		TMPFILESDIR=/usr/lib/tmpfiles.d SYSUSERSDIR=/usr/lib/sysusers.d
	[ "$status" -eq 0 ]
	[ -z "$(find "$d" -type f)" ]
}

@test "install: the build honours CPPFLAGS, CFLAGS and LDFLAGS (dpkg-buildflags)" {
	b=$BATS_TEST_TMPDIR/b
	mkdir -p "$b"
	run make -C "$OM_ROOT" --no-print-directory -n -B bin/omerta-keygen CPPFLAGS=-DOMT_CPP_MARK CFLAGS=-DOMT_C_MARK LDFLAGS=-Wl,-z,omtmark
	[ "$status" -eq 0 ]
	[[ "$output" == *"-DOMT_CPP_MARK"* ]]
	[[ "$output" == *"-DOMT_C_MARK"* ]]
	[[ "$output" == *"-Wl,-z,omtmark"* ]]
	# A caller's own _FORTIFY_SOURCE level replaces ours rather than redefining it
	# (an error under WERROR).
	run make -C "$OM_ROOT" --no-print-directory -n -B bin/omerta-keygen CPPFLAGS=-D_FORTIFY_SOURCE=3
	[ "$status" -eq 0 ]
	[[ "$output" == *"-D_FORTIFY_SOURCE=3"* ]]
	[[ "$output" != *"-D_FORTIFY_SOURCE=2"* ]]
	run make -C "$OM_ROOT" --no-print-directory -n -B bin/omerta-keygen
	[[ "$output" == *"-D_FORTIFY_SOURCE=2"* ]]
}
