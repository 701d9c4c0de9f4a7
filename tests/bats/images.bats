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
