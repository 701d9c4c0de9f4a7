#!/usr/bin/env bats
# The Debian packages (debian/, make deb): they build, lintian finds nothing, two
# builds in different folders give the same bytes, and the whole life of an install
# works on this machine: apt-get install, a job through its own VPN from the
# installed paths alone, removal while a job runs (the job ends, nothing is left),
# purge (nothing of omerta's is left at all).
#
# With OMERTA_INSTALLED=1 (the suites against an installed package) the packages
# are not removed: the test proves instead that what is installed is this
# checkout's build, unchanged, and runs the job from it.

load ../lib/common

setup_file() {
	world_up deb
	F=$BATS_FILE_TMPDIR
	export F
	# Builds in two folders: the second's path differs from the first's in length
	# and name, so any path a build records shows as a difference.
	sh "$OM_ROOT/share/mkdeb.sh" "$F/one" >"$F/one.list"
	sh "$OM_ROOT/share/mkdeb.sh" "$F/a-second-folder/two" >"$F/two.list"
}

teardown_file() {
	# Should a test stop half-way, what it installed goes (never an install it found).
	if [ -f "$F/installed-here" ] && dpkg-query -W omerta >/dev/null 2>&1; then
		installed apt-get purge -y -qq omerta-provider omerta >/dev/null 2>&1 || true
	fi
	world_down
}

teardown() {
	[ -z "${job_pid:-}" ] || kill "$job_pid" 2>/dev/null || true
	vm_teardown
}

# The installed tools alone: the checkout's bin/ is not on this PATH, and the job's
# folders are the packaged defaults (what tmpfiles.d made), not the suite's.
installed() {
	env -u OMERTA_RUN_DIR -u OMERTA_CACHE_DIR -u OMERTA_DISK_DIR -u OMERTA_IMAGE_DIR \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

submit() {
	installed ip netns exec "$REQ" omerta submit --create-vpn --provider local --endpoint-host 198.51.100.1 \
		--uplink wan "$@"
}

@test "deb: make deb builds omerta and omerta-provider, the same bytes twice, FHS paths, exact dependencies, lintian clean" {
	[ "$(wc -l <"$F/one.list")" -eq 4 ]
	for p in omerta omerta-provider; do
		a=$(ls "$F"/one/${p}_*.deb)
		b=$(ls "$F"/a-second-folder/two/${p}_*.deb)
		# Reproducible: the same bytes from two folders.
		cmp "$a" "$b"
		# FHS: tools in /usr/bin and /usr/sbin, the guest's files in /usr/lib/omerta,
		# data in /usr/share/omerta; nothing else but docs, man pages, conffiles and
		# systemd's folders.
		dpkg-deb -c "$a" | awk '$1 !~ /^d/ { print $6 }' >"$F/$p.files"
		cat "$F/$p.files"
		run grep -vE '^\./(usr/bin/omerta(-[a-z]+)?|usr/sbin/omerta-[a-z]+|usr/lib/omerta/initramfs/(init|omerta-guest)|usr/share/omerta/common\.sh|usr/share/man/man[178]/omerta[-a-z]*\.[178]\.gz|usr/share/doc/'"$p"'/(changelog\.gz|copyright)|usr/lib/tmpfiles\.d/'"$p"'\.conf|usr/lib/sysusers\.d/omerta-provider\.conf|lib/systemd/system/omerta-(gc\.service|prune\.service|prune\.timer)|etc/omerta/provider\.conf|etc/sudoers\.d/omerta|usr/share/lintian/overrides/'"$p"')$' "$F/$p.files"
		[ "$status" -eq 1 ] || { echo "not in the layout: $output"; false; }
		# The build's own helper is not packaged, nor any ELF file as data.
		run grep -E 'deps\.sh|install-provider' "$F/$p.files"
		[ "$status" -eq 1 ]
	done
	# Each root-only tool (in sbin) has its page in section 8, each in bin in 1 or 8.
	cat "$F/omerta.files" "$F/omerta-provider.files" >"$F/all.files"
	for t in $(sed -n 's|^\./usr/sbin/||p' "$F/all.files"); do
		grep -qx "./usr/share/man/man8/$t.8.gz" "$F/all.files" || { echo "$t: no page in section 8"; false; }
	done
	for t in $(sed -n 's|^\./usr/bin/||p' "$F/all.files"); do
		grep -qE "^\./usr/share/man/man[18]/$t\.[18]\.gz$" "$F/all.files" || { echo "$t: no page"; false; }
	done
	[ "$(grep -c '^\./usr/s\{0,1\}bin/' "$F/all.files")" -eq 17 ]
	# The exact dependencies, each one a program a tool runs (the libraries' versions
	# are dpkg-shlibdeps'): nothing missing, nothing extra.
	v=$(dpkg-parsechangelog -l "$OM_ROOT/debian/changelog" -S Version)
	d=$(dpkg-deb -f "$F"/one/omerta_*.deb Depends | sed 's/ (>= [^)]*)//g')
	[ "$d" = "e2fsprogs, iproute2, jq, nftables, openssh-client, squashfs-tools, systemd | systemd-tmpfiles, wireguard-go, wireguard-tools, libc6, libsodium23" ] || { echo "omerta: $d"; false; }
	d=$(dpkg-deb -f "$F"/one/omerta-provider_*.deb Depends | sed 's/ (>= [^)]*)//g')
	[ "$d" = "busybox-static, e2fsprogs, linux-image-cloud-amd64 | linux-image-amd64, omerta (= $v), qemu-system-x86, sudo, systemd | systemd-tmpfiles, systemd | systemd-standalone-sysusers | systemd-sysusers, libc6, libsodium23" ] || { echo "omerta-provider: $d"; false; }
	[ "$(dpkg-deb -f "$F"/one/omerta_*.deb Recommends)" = mmdebstrap ]
	[ "$(dpkg-deb -f "$F"/one/omerta-provider_*.deb Architecture)" = amd64 ]
	# lintian: no error, no warning (the one override is the guest's static helper).
	run lintian --fail-on error,warning "$F"/one/omerta_*.deb "$F"/one/omerta-provider_*.deb
	show
	[ "$status" -eq 0 ]
	run grep -E '^[EW]: ' <<<"$output"
	[ "$status" -eq 1 ]
}

@test "deb: the installed package runs a job through its own VPN from its own paths" {
	if [ -z "${OMERTA_INSTALLED:-}" ]; then
		# This machine must not have omerta installed: this test installs, removes and
		# purges it (run the suites with OMERTA_INSTALLED=1 against an install).
		run dpkg-query -W -f '${db:Status-Abbrev}' omerta omerta-provider
		[[ "$output" != *ii* ]] || { echo "omerta is installed here: OMERTA_INSTALLED=1 make check, or remove it"; false; }
		touch "$F/installed-here"
		run apt-get install -y -qq "$F"/one/omerta_*.deb "$F"/one/omerta-provider_*.deb
		show
		[ "$status" -eq 0 ]
	else
		# The installed packages are this checkout's build, unchanged since.
		for p in omerta omerta-provider; do
			[ "$(dpkg-query -W -f '${Version}' "$p")" = "$(dpkg-deb -f "$F"/one/${p}_*.deb Version)" ]
			dpkg-deb --ctrl-tarfile "$F"/one/${p}_*.deb | tar -xOf - ./md5sums >"$F/$p.md5"
			diff <(sort "$F/$p.md5") <(sort "/var/lib/dpkg/info/$p.md5sums")
			run dpkg --verify "$p"
			[ -z "$output" ] || { echo "$output"; false; }
		done
	fi
	[ "$(installed sh -c 'command -v omerta-submit')" = /usr/sbin/omerta-submit ]
	[ "$(installed sh -c 'command -v omerta-provide')" = /usr/bin/omerta-provide ]
	# What the package's tmpfiles.d and sysusers.d made.
	getent passwd omerta | grep -q ':/var/lib/omerta/provider:/bin/sh$'
	[ "$(stat -c %U:%a /var/lib/omerta/provider/.ssh/authorized_keys)" = root:644 ]
	[ "$(stat -c %U:%a /var/lib/omerta/disks)" = root:700 ]
	[ -d /run/omerta ]
	[ -d /var/cache/omerta ]
	# The one rule, and nothing else for the account.
	run sudo -l -U omerta
	[[ "$output" == *"(root) NOPASSWD: /usr/bin/omerta-provide --job /etc/omerta/provider.conf"* ]]
	[ "$(printf '%s\n' "$output" | grep -c 'NOPASSWD:')" -eq 1 ]
	[ "$(printf '%s\n' "$output" | grep -c '^ *(')" -eq 1 ]
	installed omerta-provide check >/dev/null
	# shellcheck disable=SC2016 # the guest's
	run submit --script 'echo "from $(uname -r)"; printf "GET /cgi-bin/ip HTTP/1.0\r\n\r\n" | nc -w 5 203.0.113.10 80 | tail -n 1; exit 3'
	show
	[ "$status" -eq 3 ]
	# The guest ran the kernel omerta chose (Debian's newest, or omerta's own where
	# make kernel built one in /var/cache/omerta).
	k=$(installed omerta-mkinitrd --which-kernel | cut -f1)
	[[ "$output" == *"from ${k##*/vmlinuz-}"* ]]
	# The internet sees the requester's exit, never the provider.
	[ "$(printf '%s\n' "$output" | tail -n 1)" = 198.51.100.1 ]
	# The base image came from the packaged guest files.
	b=$(ls /var/cache/omerta/base-*.cpio* | head -n 1)
	cpio -i --quiet --to-stdout init <"$b" | cmp - /usr/lib/omerta/initramfs/init
}

@test "deb: removing the packages ends a running job and leaves nothing running; purging leaves nothing of omerta's" {
	[ -z "${OMERTA_INSTALLED:-}" ] || {
		# Against an install, removal is the installer's to do; what this suite can
		# prove is that omerta-gc --all, which the packages' prerm runs, ends a job.
		submit --script 'echo started; sleep 600' >"$BATS_TEST_TMPDIR/out" 2>&1 &
		job_pid=$!
		for _ in $(seq 600); do grep -q started "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
		grep -q started "$BATS_TEST_TMPDIR/out"
		run installed omerta-gc --all
		show
		[ "$status" -eq 0 ]
		[[ "$output" == *"ended	execute "* ]]
		for _ in $(seq 300); do kill -0 "$job_pid" 2>/dev/null || break; sleep 0.1; done
		run ! kill -0 "$job_pid"
		job_pid=''
		return 0
	}
	dpkg -L omerta omerta-provider | sort -u >"$BATS_TEST_TMPDIR/files"
	# A job that would run for ten minutes.
	submit --script 'echo started; sleep 600' >"$BATS_TEST_TMPDIR/out" 2>&1 &
	job_pid=$!
	for _ in $(seq 600); do grep -q started "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
	grep -q started "$BATS_TEST_TMPDIR/out"
	[ -n "$(pgrep -x qemu-system-x86)" ]
	run installed apt-get remove -y -qq omerta-provider omerta
	show
	[ "$status" -eq 0 ]
	# The job is over (within the grace the prerm gives), its VM too.
	for _ in $(seq 300); do kill -0 "$job_pid" 2>/dev/null || break; sleep 0.1; done
	run ! kill -0 "$job_pid"
	job_pid=''
	[ -z "$(pgrep -x qemu-system-x86)" ]
	OMERTA_RUN_DIR=/run/omerta assert_no_leftovers
	# Removed, not purged: the conffiles stay, the tools are gone.
	[ -f /etc/omerta/provider.conf ]
	[ ! -e /usr/sbin/omerta-execute ]
	run installed apt-get purge -y -qq omerta-provider omerta
	show
	[ "$status" -eq 0 ]
	for p in omerta omerta-provider; do
		run dpkg-query -W -f '${db:Status-Abbrev}' "$p"
		[ "$status" -ne 0 ] || [ "$output" = "un " ] || { echo "$p: $output"; false; }
	done
	# Nothing of omerta's: no file the packages had, no state, no account, no unit.
	while read -r f; do
		case $f in /usr/bin | /usr/sbin | /usr/lib | /usr/share | /usr/share/* | /lib | /lib/systemd* | /etc | /etc/sudoers.d | /usr/lib/tmpfiles.d | /usr/lib/sysusers.d | /usr | /. | /usr/share/man/man*) [ -d "$f" ] && continue ;; esac
		[ ! -e "$f" ] || { echo "left: $f"; false; }
	done <"$BATS_TEST_TMPDIR/files"
	for d in /etc/omerta /etc/sudoers.d/omerta /var/lib/omerta /var/log/omerta /var/cache/omerta /run/omerta /usr/lib/omerta /usr/share/omerta; do
		[ ! -e "$d" ] || { echo "left: $d"; false; }
	done
	run getent passwd omerta
	[ "$status" -ne 0 ]
	run getent group omerta
	[ "$status" -ne 0 ]
	# Nor anywhere a package, its scripts or its tools write (not the checkouts or
	# scratch of whoever runs this).
	run find /etc /usr /lib /var/lib /var/cache /var/log /var/spool /run -xdev -name '*omerta*' -print
	[ -z "$output" ] || { echo "left: $output"; false; }
}
