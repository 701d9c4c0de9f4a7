#!/usr/bin/env bats
# Issue 16: files in (--input, a disk of the job's own) and files out (--output, an
# ext2 disk read back by omerta-files, never mounted on the host), through real jobs.

load ../lib/common

setup_file() { world_up fl; }
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	sshd_down
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

@test "--output: every hostile tree a root workload plants (kill switch flushed) is refused by name, and nothing lands in or beside DIR" {
	flush=$(sh "$OM_ROOT/tests/lib/nft-flush.sh")
	mkdir "$T/victim"
	# case~what the job plants in $OMERTA_OUT~the reason's words
	while IFS='~' read -r name plant want; do
		[ -n "$name" ] || continue
		vpn "h$name"
		run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/h$name.conf" --timeout 300 \
			--root --output "$T/out-$name" --output-max 1M --output-max-files 20 \
			--script "$flush; cd \"\$OMERTA_OUT\" && mkdir ok && echo fine >ok/file && $plant && sync"
		echo "$name: $status $stderr"
		[ "$status" -eq 125 ]
		[[ "$stderr" == *"omerta execute: output refused: $want"* ]]
		[ ! -e "$T/out-$name" ]
		[ -z "$(ls -A "$T/victim")" ]
		[ "$(ls -A "$T" | grep -c 'partial')" -eq 0 ]
	done <<-CASES
	symlink~ln -s $T/victim evil~a symbolic link: evil
	hardlink~ln ok/file twin~a hard link: ok/file
	fifo~mkfifo pipe~a FIFO: pipe
	device~mknod disk b 8 0~a device node: disk
	setuid~touch s && chmod 4755 s~a setuid, setgid or sticky bit (mode 4755): s
	setgid~mkdir g && chmod 2755 g~a setuid, setgid or sticky bit (mode 2755): g
	control~touch "\$(printf 'a\\033]52;c;x\\007b')"~a name with a control character: a\\x1b]52;c;x\\x07b
	toobig~head -c 2000000 /dev/zero >big~more than 1048576 bytes
	toomany~for i in \$(seq 30); do : >f\$i; done~more than 20 files and directories
	garbage~d=\$(grep -l omerta-out /sys/block/vd*/serial | cut -d/ -f4) && cd / && umount /home/job/out && head -c 4000000 /dev/urandom >/dev/\$d~not an ext2 filesystem
	CASES
}

@test "--output after a timeout: what the job wrote comes back, and the result says so; after a rogue connection nothing does" {
	vpn t1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/t1.conf" --timeout 8 --json \
		--output "$T/out" --script 'echo partial >"$OMERTA_OUT/result.txt"; sleep 600'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 124 ]
	[ "$(cat "$T/out/result.txt")" = partial ]
	[ "$(tail -n 1 <<<"$output" | jq -r .output.status)" = returned ]
	vpn t2
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/t2.conf" --timeout 300 --json --root \
		--output "$T/out2" --script "$(sh "$OM_ROOT/tests/lib/nft-flush.sh"); echo x >\"\$OMERTA_OUT/x\"; sync; ip route replace default via 10.66.0.1 dev eth0; ping -c 1 -W 1 203.0.113.10"
	[ "$status" -eq 121 ]
	[ ! -e "$T/out2" ]
	[ "$(tail -n 1 <<<"$output" | jq -c .output)" = '{"status":"not_returned","reason":"the job ended rogue_connection_detected"}' ]
}

@test "submit --input --output --image debian-python, local and over ssh://: a python job reads its code and data and its out/ arrives byte-exact; the disk and the files never go on a command line" {
	[ -e "$OMERTA_IMAGE_DIR/debian-python.img" ] || omerta-mkimage --debian bookworm \
		--packages python3,python3-pip,curl,ca-certificates --name debian-python >/dev/null 2>&1
	sshd_up
	mkdir -p "$T/data"
	head -c 2000000 /dev/urandom >"$T/data/part1"
	printf 'secret-data-marker\n' >"$T/data/part2"
	cat >"$T/train.py" <<-'PY'
	import hashlib, os
	h = hashlib.sha256()
	for name in sorted(os.listdir("data")):
	    with open(os.path.join("data", name), "rb") as f:
	        h.update(f.read())
	epochs = int(os.environ["EPOCHS"])
	out = os.environ["OMERTA_OUT"]
	with open(os.path.join(out, "model.bin"), "wb") as f:
	    f.write(h.digest() * epochs)
	print("trained", epochs)
	PY
	want=$(cat "$T/data/part1" "$T/data/part2" | sha256sum | cut -d' ' -f1)
	for provider in local ssh://root@192.0.2.2:2222; do
		rm -rf "$T/out"
		run --separate-stderr ip netns exec "$REQ" env OMERTA_SSH_CONFIG="$T/ssh_config" \
			omerta submit --create-vpn --provider "$provider" --endpoint-host 198.51.100.1 --uplink wan \
			--input "$T/train.py" --input "$T/data/" --output "$T/out/" --env EPOCHS=2 \
			--image debian-python --script 'python3 train.py'
		echo "$provider: $output"; echo "$stderr"
		[ "$status" -eq 0 ]
		[ "$output" = "trained 2" ]
		[ "$(od -An -tx1 -v "$T/out/model.bin" | tr -d ' \n')" = "$want$want" ]
		[ "$(ls "$T/out")" = model.bin ]
	done
	run ! grep -q secret-data-marker "$T/sshd.log"
	[ -z "$(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null)" ]
}

@test "omerta-files extract: a hostile stream (from a provider) is refused by name, and DIR gets nothing of it" {
	x() { printf "$1" | omerta-files extract "$T/o"; }
	while IFS='~' read -r stream want; do
		[ -n "$stream" ] || continue
		run --separate-stderr x "$stream"
		echo "$stream: $status $stderr"
		[ "$status" -eq 1 ]
		[ "$stderr" = "omerta-files: output refused: $want" ]
		[ ! -e "$T/o" ]
		[ -z "$(ls -A "$T" | grep partial || true)" ]
	done <<-'CASES'
	omerta-files 1\nf 644 0 3 ../x\nabc\ne\n~a '.' or '..' in a path: ../x
	omerta-files 1\nd 755 0 a\nf 644 0 3 a/../../x\nabc\ne\n~a '.' or '..' in a path: a/../../x
	omerta-files 1\nf 644 0 3 /etc/x\nabc\ne\n~an absolute path: /etc/x
	omerta-files 1\nf 644 0 3 a//b\nabc\ne\n~an empty name in a path: a//b
	omerta-files 1\nf 644 0 3 nodir/x\nabc\ne\n~nodir/x: its directory did not come first
	omerta-files 1\nf 4755 0 3 x\nabc\ne\n~a setuid, setgid or sticky bit (mode 4755): x
	omerta-files 1\nf 644 0 3 x\nabcf 644 0 3 x\nabc\ne\n~x: named twice
	omerta-files 1\nf 644 0 3 a\033b\nabc\ne\n~a name with a control character: a\x1bb
	omerta-files 1\nf 644 0 10 x\nabc~the stream ended inside x
	omerta-files 1\nd 755 0 a\nf 644 0 3 a/x\nabc~the stream ended before its end record (the job's output did not all arrive)
	omerta-files 1\nl 777 0 x\ne\n~an unknown record
	omerta-files 1\nf 644 0 -3 x\n~a bad size
	omerta-files 1\nf 644 0 99999999999 x\n~more than 1073741824 bytes
	omerta-files 1\ns 9999999\n~a frame of 9999999 bytes
	omerta-files 1\nx not returned: the job ended error\n~not returned: the job ended error
	CASES
	# A name DIR holds already is a refusal, not an overwrite, and nothing is moved.
	mkdir "$T/o2"
	echo mine >"$T/o2/keep"
	run --separate-stderr bash -c 'printf "omerta-files 1\nf 644 0 3 new\nabcf 644 0 5 keep\ntheire\n" | omerta-files extract "$1"' _ "$T/o2"
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-files: output refused: $T/o2/keep exists already (nothing was written)" ]
	[ "$(ls -A "$T/o2")" = keep ]
	[ "$(cat "$T/o2/keep")" = mine ]
	# The job's stdout frames pass through, before and after the tree.
	run --separate-stderr bash -c 'printf "omerta-files 1\ns 4\nout\nd 700 0 d\nf 600 100 2 d/f\nhie\ns 3\nend" | omerta-files extract "$1"' _ "$T/o3"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'out\nend')" ]
	[ "$(cat "$T/o3/d/f")" = hi ]
	[ "$(stat -c '%a %Y' "$T/o3/d/f")" = "600 100" ]
	[ "$(stat -c %a "$T/o3/d")" = 700 ]
}

@test "execute --input and --output: bad paths get one line and 125 before anything is built" {
	vpn b1
	e() { ip netns exec "$PROV" omerta execute --vpn-config "$T/b1.conf" --script true "$@"; }
	touch "$T/f"
	# An input holding a link that a later guest path would go through.
	mkdir "$T/src" "$T/victim"
	ln -s "$T/victim" "$T/src/l"
	while IFS='~' read -r args want; do
		[ -n "$args" ] || continue
		eval "set -- $args"
		run --separate-stderr e "$@"
		echo "$args: $status $stderr"
		[ "$status" -eq 125 ]
		[ "$stderr" = "omerta execute: $want" ]
	done <<-CASES
	--input $T/nope~--input $T/nope: no such file or directory
	--input $T/f:../x~--input $T/f:../x: the guest path must be relative to /home/job, without '.' or '..' (give PATH:GUESTPATH)
	--input $T/f:/etc/x~--input $T/f:/etc/x: the guest path must be relative to /home/job, without '.' or '..' (give PATH:GUESTPATH)
	--input $T/f:out~--input $T/f:out: out is the job's output directory
	--input /dev/null~--input /dev/null: not a file or a directory
	--output $T/f~--output $T/f: not a directory
	--output $T/no/such~--output $T/no/such: its parent is not a directory
	--output $T/o --output-max 0~--output-max: from 1 byte to 1099511627776 bytes, not '0'
	--output $T/o --output-max 12Q~--output-max must be a size (bytes, or 512M, 2G), not '12Q'
	--output $T/o --output-max-files 0~--output-max-files must be a number from 1 to 10000000, not '0'
	--output -~--output - is for --bundle; give a directory
	--input $T/src --input $T/f:src/l/planted~--input $T/f:src/l/planted: src/l/planted goes through a link of an input given before
	CASES
	[ -z "$(ls -A "$OMERTA_DISK_DIR" 2>/dev/null)" ]
	[ -z "$(ls -A "$T/victim")" ]
}

@test "--disk MIB: the work directory and an image's overlay go on a scratch disk, so a job at --memory 128 writes 300 MiB; without it they are RAM" {
	vpn d1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/d1.conf" --timeout 600 --memory 128 \
		--disk 1024 --script 'head -c 314572800 /dev/zero >/home/job/big && wc -c </home/job/big && df -m /home/job | tail -n 1 | awk "{print (\$2 > 900)}"'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '314572800\n1')" ]
	# Without --disk the same write cannot fit the guest's RAM.
	vpn d2
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/d2.conf" --timeout 600 --memory 128 \
		--script 'head -c 314572800 /dev/zero >/home/job/big; echo "rc=$?"'
	echo "$output"
	[ "$output" != "rc=0" ]
	# An image's overlay on it: 200 MiB written under /usr/local (root's), at --memory 256.
	vpn d3
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/d3.conf" --timeout 600 \
		--image debian-python --disk 512 --root --script 'head -c 209715200 /dev/zero >/usr/local/big && wc -c </usr/local/big'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 209715200 ]
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/d3.conf" --script true --disk 8
	[ "$status" -eq 125 ]
	[ "$stderr" = "omerta execute: --disk must be a number from 16 to 1048576, not '8'" ]
}

@test "omerta-files extract: the sender's modes less our umask; a read-only directory still lands in an existing DIR; a C1 control in a reason is not passed on; 66 names deep is refused" {
	run --separate-stderr bash -c 'umask 022; printf "omerta-files 1\nd 777 0 ww\nf 666 0 1 ww/f\nxe\n" | omerta-files extract "$1"' _ "$T/m"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$T/m/ww") $(stat -c %a "$T/m/ww/f")" = "755 644" ]
	# Existing DIR, a read-only directory in the tree: the tree moves in first, then
	# gets its modes; a refusal after part of it would have moved puts it all back.
	mkdir "$T/e"
	run --separate-stderr bash -c 'printf "omerta-files 1\nd 555 0 ro\nf 644 0 1 ro/y\nyd 000 0 zero\nf 644 0 1 zero/z\nze\n" | omerta-files extract "$1"' _ "$T/e"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/e/ro/y")" = y ]
	[ "$(stat -c %a "$T/e/ro") $(stat -c %a "$T/e/zero")" = "555 0" ]
	[ -z "$(ls -A "$T/e" | grep partial || true)" ]
	mkdir "$T/e2"
	mkdir "$T/e2/b"
	run --separate-stderr bash -c 'printf "omerta-files 1\nd 000 0 a\nf 644 0 1 a/x\nxd 755 0 b\ne\n" | omerta-files extract "$1"' _ "$T/e2"
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-files: output refused: $T/e2/b exists already (nothing was written)" ]
	[ "$(ls -A "$T/e2")" = b ]
	run --separate-stderr bash -c 'printf "omerta-files 1\nx \302\2333J\233m\n" | omerta-files extract "$1"' _ "$T/c1"
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-files: output refused: ??3J?m" ]
	deep=$(printf 'd/%.0s' $(seq 66))
	run --separate-stderr bash -c 'printf "omerta-files 1\nf 644 0 1 %sx\nxe\n" "$2" | omerta-files extract "$1"' _ "$T/deep" "$deep"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"a path deeper than 65 names"* ]]
	[ ! -e "$T/deep" ]
	[ ! -e "$T/c1" ]
	[ -z "$(ls -A "$T" | grep partial || true)" ]
}
