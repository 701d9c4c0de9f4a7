#!/usr/bin/env bats
# Issue 16: real software in a job. --image runs the workload in a root filesystem
# that omerta-mkimage built (Debian's python3, pip, curl, ca-certificates), mounted
# read-only in the guest under a writable overlay, after the tunnel is verified.
# The default image is built once into build/images (about 30 s, from the machine's
# Debian mirror) and kept there for later runs.

load ../lib/common

setup_file() {
	world_up im
	if [ ! -e "$OMERTA_IMAGE_DIR/debian-python.img" ]; then
		omerta-mkimage --debian bookworm --packages python3,python3-pip,curl,ca-certificates \
			--name debian-python >/dev/null 2>&1
	fi
}
teardown_file() { world_down; }

setup() {
	mkdir -p "$OMERTA_RUN_DIR"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	rm -rf "/etc/netns/$REQ"
	sshd_down
	vm_teardown
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	[ -z "$(ls -A "$OMERTA_DISK_DIR" 2>/dev/null)" ]
}

vpn() {
	ip netns exec "$REQ" omerta-vpnserve up --job "$1" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$T/$1.conf"
}

@test "execute --image debian-python: the image's python3, pip and curl run as the job's user, with /proc, /dev, /tmp and the work directory" {
	vpn i1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/i1.conf" --timeout 300 \
		--image debian-python --language python --script '
import os, ssl, subprocess, sys
print(sys.version_info[:2] >= (3, 11), os.getuid(), os.getcwd(), os.environ["HOME"])
print(ssl.OPENSSL_VERSION.split()[0])
print(subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[0])
print(subprocess.run(["pip3", "--version"], capture_output=True, text=True).stdout.split()[0])
open("/tmp/t", "w").write("x"); open("/home/job/w", "w").write("y")
print(os.path.exists("/proc/self"), os.path.exists("/dev/null"), open("/etc/passwd").read().count("job:x:1000"))'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'True 1000 /home/job /home/job\nOpenSSL\ncurl\npip\nTrue True 1')" ]
}

@test "the README's curl example, as written, in the default image: plain HTTP, and HTTPS with the test world's CA given to the job" {
	line=$(grep -o "omerta submit --create-vpn --provider local --image debian-python --script 'curl -s https://example.com/'" "$OM_ROOT/README.md")
	[ -n "$line" ]
	cp "${TMPDIR:-/tmp}/omt-world-$TAG/ca.pem" "$T/ca.pem"
	# The requester's resolver: the internet host's, which answers every name with
	# 203.0.113.10 (ip netns exec shows this file as the namespace's resolv.conf).
	mkdir -p "/etc/netns/$REQ"
	printf 'nameserver 203.0.113.10\n' >"/etc/netns/$REQ/resolv.conf"
	# HTTPS: the job trusts the test CA it is given (an --input and curl's own variable).
	run --separate-stderr ip netns exec "$REQ" sh -c "$line --input '$T/ca.pem' --env CURL_CA_BUNDLE=/home/job/ca.pem"
	echo "status $status: $output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from the internet host" ]
	# Without the CA the same request fails as TLS must (curl's 60).
	run --separate-stderr ip netns exec "$REQ" sh -c "${line%\'}; echo curl=\$?'"
	[ "$output" = "curl=60" ]
	# Plain HTTP, the same line with http://.
	run --separate-stderr ip netns exec "$REQ" sh -c "${line/https:/http:}"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from the internet host" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/vpn" 2>/dev/null)" ]
}

@test "pip install of a wheel served by the internet host works inside the job, and the package imports" {
	www=${TMPDIR:-/tmp}/omt-world-$TAG/www
	python3 - "$www/omertatest-1.0-py3-none-any.whl" <<-'PY'
	import base64, hashlib, sys, zipfile
	files = {
	    "omertatest/__init__.py": b'VALUE = "wheel-ok"\n',
	    "omertatest-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: omertatest\nVersion: 1.0\n",
	    "omertatest-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: omerta-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
	}
	record = ""
	for name, data in files.items():
	    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
	    record += f"{name},sha256={digest},{len(data)}\n"
	record += "omertatest-1.0.dist-info/RECORD,,\n"
	with zipfile.ZipFile(sys.argv[1], "w") as z:
	    for name, data in files.items():
	        z.writestr(name, data)
	    z.writestr("omertatest-1.0.dist-info/RECORD", record)
	PY
	vpn p1
	run --separate-stderr ip netns exec "$PROV" omerta execute --vpn-config "$T/p1.conf" --timeout 300 \
		--image debian-python --script '
		pip install --quiet --user --break-system-packages --no-index --disable-pip-version-check \
			http://203.0.113.10/omertatest-1.0-py3-none-any.whl &&
		python3 -c "import omertatest; print(omertatest.VALUE)"'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "wheel-ok" ]
	rm -f "$www/omertatest-1.0-py3-none-any.whl"
}

@test "mkimage --from-tar: a tarball's root (busybox) runs a job; the same inputs give the same bytes; over ssh:// the image FILE travels after the bundle" {
	mkdir -p "$T/root/bin" "$T/root/etc"
	cp /bin/busybox "$T/root/bin/busybox"
	ln -s busybox "$T/root/bin/sh"
	ln -s busybox "$T/root/bin/cat"
	printf 'tiny-image-marker\n' >"$T/root/etc/marker"
	touch -d @1600000000 "$T/root/etc/marker" "$T/root/bin/busybox"
	tar -C "$T/root" --owner=0 --group=0 --numeric-owner --mtime=@1600000000 --sort=name -cf "$T/root.tar" .
	run --separate-stderr omerta-mkimage --from-tar "$T/root.tar" --memory 128 -o "$T/tiny.img"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$T/tiny.img" ]
	[[ "$stderr" == *"omerta-mkimage: built "* ]]
	run omerta-mkimage info "$T/tiny.img"
	[ "$(awk -F'\t' '$1=="memory"{print $2}' <<<"$output")" = 128 ]
	# A second build is the cache's; with the cache emptied, the same bytes again.
	sum=$(sha256sum <"$T/tiny.img")
	run --separate-stderr omerta-mkimage --from-tar - --memory 128 -o "$T/tiny2.img" <"$T/root.tar"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"cached"* ]]
	rm -rf "$OMERTA_CACHE_DIR/images"
	run --separate-stderr omerta-mkimage --from-tar "$T/root.tar" --memory 128 -o "$T/tiny3.img"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"built"* ]]
	[ "$(sha256sum <"$T/tiny3.img")" = "$sum" ]
	[ "$(sha256sum <"$T/tiny2.img")" = "$sum" ]
	# A job in it, over SSH, the image sent by the requester.
	sshd_up
	run --separate-stderr ip netns exec "$REQ" env OMERTA_SSH_CONFIG="$T/ssh_config" \
		omerta submit --create-vpn --provider ssh://root@192.0.2.2:2222 --endpoint-host 198.51.100.1 --uplink wan \
		--image "$T/tiny.img" --script 'cat /etc/marker; id -u'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'tiny-image-marker\n1000')" ]
	run ! grep -q tiny-image-marker "$T/sshd.log"
	sshd_down
}

@test "bad images: no header, a forged header, memory below the image's need, no such name: one line and 125, nothing built" {
	vpn b1
	e() { ip netns exec "$PROV" omerta execute --vpn-config "$T/b1.conf" --script true "$@"; }
	head -c 8192 /dev/urandom >"$T/junk.img"
	{ printf 'omerta-image 1\nfs squashfs\nmemory 128\nhooks /bin/evil\n'; head -c 8192 /dev/zero; } | head -c 8192 >"$T/forged.img"
	{ printf 'omerta-image 1\nfs ext4\nmemory 128\n'; head -c 8192 /dev/zero; } | head -c 8192 >"$T/ext4.img"
	while IFS='~' read -r args want; do
		[ -n "$args" ] || continue
		eval "set -- $args"
		run --separate-stderr e "$@"
		echo "$args: $status $stderr"
		[ "$status" -eq 125 ]
		[ "$stderr" = "omerta execute: $want" ]
	done <<-CASES
	--image $T/junk.img~--image $T/junk.img: $T/junk.img: not an omerta image (no 'omerta-image 1' header)
	--image $T/forged.img~--image $T/forged.img: $T/forged.img: an unknown key in the image header
	--image $T/ext4.img~--image $T/ext4.img: $T/ext4.img: the image's fs must be squashfs, once
	--image $T/nope.img~--image $T/nope.img: no such file
	--image no-such-image~--image no-such-image: no such image in $OMERTA_IMAGE_DIR (omerta-mkimage list)
	--image debian-python --memory 128~--memory 128 is below what the image debian-python needs: 256 MiB
	--image ../x~--image ../x: no such file
	CASES
	[ -z "$(ls -A "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	run --separate-stderr omerta-mkimage --debian 'bookworm;rm' -o "$T/x.img"
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-mkimage: --debian: 'bookworm;rm' is not a suite name (bookworm, trixie, ...)" ]
	run --separate-stderr omerta-mkimage --debian bookworm --packages 'curl,-oops' -o "$T/x.img"
	[ "$status" -eq 1 ]
	[ "$stderr" = "omerta-mkimage: --packages: '-oops' is not a Debian package name" ]
	run --separate-stderr omerta-mkimage --from-tar "$T/junk.img" --name ../evil
	[ "$status" -eq 1 ]
	[ ! -e "$T/x.img" ]
}

@test "submit --create-vpn --image debian-python: getent hosts and python's getaddrinfo resolve through the tunnel by default" {
	mkdir -p "/etc/netns/$REQ"
	printf 'nameserver 203.0.113.10\n' >"/etc/netns/$REQ/resolv.conf"
	run --separate-stderr ip netns exec "$REQ" omerta submit --create-vpn --provider local --image debian-python \
		--script 'getent hosts files.example | cut -d" " -f1; python3 -c "import socket; print(socket.getaddrinfo(\"pypi.example\", 443, socket.AF_INET)[0][4][0])"'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '203.0.113.10\n203.0.113.10')" ]
}
