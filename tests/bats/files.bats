#!/usr/bin/env bats
# Issue 16: files in (--input, a disk of the job's own) and files out (--output, an
# ext2 disk read back by omerta-files, never mounted on the host), through real jobs.

load ../lib/common

setup_file() { world_up fl; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
	export OMERTA_DISK_DIR=$T/disks
}

teardown() {
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	[ -z "$(ls "$OMERTA_DISK_DIR" 2>/dev/null)" ]
}

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

@test "execute --input --output: a file and a tree in, the job's own, and what it leaves in \$OMERTA_OUT back byte-exact with modes and times" {
	vpn f1
	mkdir -p "$T/data/sub"
	head -c 3000000 /dev/urandom >"$T/data/sub/blob"
	printf 'print-me\n' >"$T/train.sh"
	chmod 0751 "$T/train.sh"
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/f1.conf" --timeout 300 \
		--input "$T/train.sh" --input "$T/data:inputs/d" --output "$T/out" --script '
		set -e
		cd /home/job
		cat train.sh; stat -c "%U %a" train.sh inputs/d/sub/blob
		echo x >>inputs/d/new
		sha256sum <inputs/d/sub/blob | cut -d" " -f1 >"$OMERTA_OUT/blob.sum"
		mkdir -p "$OMERTA_OUT/deep/er"
		cp inputs/d/sub/blob "$OMERTA_OUT/deep/er/blob"
		chmod 0640 "$OMERTA_OUT/deep/er/blob"
		touch -d @1500000000 "$OMERTA_OUT/deep/er/blob"'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'print-me\njob 751\njob %s' "$(stat -c %a "$T/data/sub/blob")")" ]
	cmp "$T/data/sub/blob" "$T/out/deep/er/blob"
	[ "$(cat "$T/out/blob.sum")" = "$(sha256sum <"$T/data/sub/blob" | cut -d' ' -f1)" ]
	[ "$(stat -c '%a %Y' "$T/out/deep/er/blob")" = "640 1500000000" ]
	[ "$(find "$T/out" | wc -l)" -eq 5 ]
	# The inputs are the job's copy: the requester's files did not change.
	[ ! -e "$T/data/new" ]
}
