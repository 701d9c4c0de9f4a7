#!/usr/bin/env bats
# Provider mode (omerta-provide): strangers' keys on a real sshd, logging in as a real
# unprivileged account that make install-provider made, with one sudo rule; the
# policy's limits, the queue, cgroups, cancel, the audit log and the boot-time units.
# Two providers: 192.0.2.2 ($PROV) and 198.18.0.2 ($PROV2), each its own sshd.

load ../lib/common

setup_file() {
	world_up pv
	export U=omtp$$ H=/tmp/omt-home-$$ F=$BATS_FILE_TMPDIR
	export SUDOERS_FILE=/etc/sudoers.d/omt-$$
	# The account, its rule and its (empty) keys, as a provider makes them: make
	# install-provider, with this file's paths.
	OMERTA_PROVIDER_CONF=$F/p1.conf OMERTA_HOME=$H UNITDIR=$F/units TMPFILESDIR=$F/tmpfiles \
		make -C "$OM_ROOT" --no-print-directory install-provider OMERTA_USER="$U" BINDIR="$OM_BIN" SBINDIR="$OM_SBIN" >"$F/install.log"
	# The second provider's policy: a second rule, its path exactly.
	printf '%s ALL=(root) NOPASSWD: %s/omerta-provide --job %s/p2.conf\n' "$U" "$OM_BIN" "$F" >>"$SUDOERS_FILE"
	visudo -cqf "$SUDOERS_FILE"
	ssh-keygen -q -t ed25519 -N '' -C requester-a -f "$F/key_a"
	ssh-keygen -q -t ed25519 -N '' -C requester-b -f "$F/key_b"
	{
		printf 'restrict,command="omerta-provide" %s\n' "$(cat "$F/key_a.pub")"
		printf 'restrict,command="omerta-provide --key bee" %s\n' "$(cat "$F/key_b.pub")"
	} >"$H/.ssh/authorized_keys"
	provider_up 1 "$PROV" 192.0.2.2
	provider_up 2 "$PROV2" 198.18.0.2
}

teardown_file() {
	local p
	for p in "$F"/sshd*.pid; do [ ! -f "$p" ] || kill "$(cat "$p")" 2>/dev/null || true; done
	sleep 0.2
	OMERTA_USER=$U BINDIR=$OM_BIN SBINDIR=$OM_SBIN OMERTA_PROVIDER_CONF=$F/p1.conf OMERTA_HOME=$H \
		UNITDIR=$F/units TMPFILESDIR=$F/tmpfiles sh "$OM_ROOT/share/install-provider.sh" --uninstall >/dev/null
	world_down
	run ! getent passwd "$U"
	[ ! -e "$SUDOERS_FILE" ]
	[ ! -e "$H" ]
	# The audit log's folder that install made (the default one) goes too when empty.
	[ ! -d /var/log/omerta ] || [ -n "$(ls -A /var/log/omerta)" ] || grep -qs '^d /var/log/omerta ' /usr/lib/tmpfiles.d/*.conf
}

setup() {
	T=$BATS_TEST_TMPDIR
	mkdir -p "$OMERTA_RUN_DIR"
	policy 1
	policy 2
	: >"$F/jobs1.jsonl"
	: >"$F/jobs2.jsonl"
}

teardown() {
	vm_teardown
	OMERTA_RUN_DIR=$F/run2 assert_no_leftovers
	[ -z "$(ls "$OMERTA_RUN_DIR/provide" 2>/dev/null)" ]
}

# provider_up N NS ADDR: sshd N in NS on ADDR:2222, the account's keys only, with
# ExposeAuthInfo (the key's fingerprint reaches omerta-provide) and policy pN.conf.
provider_up() {
	mkdir -p /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$F/host$1"
	cat >"$F/sshd$1.conf" <<-CONF
	ListenAddress $3
	Port 2222
	HostKey $F/host$1
	AuthorizedKeysFile $H/.ssh/authorized_keys
	AllowUsers $U
	PermitRootLogin no
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	ExposeAuthInfo yes
	PidFile none
	SetEnv PATH=$OM_SBIN:$OM_BIN:/usr/sbin:/usr/bin:/sbin:/bin OMERTA_PROVIDER_CONF=$F/p$1.conf
	CONF
	sh "$OM_ROOT/tests/lib/netns-cgroups.sh" "$2" /usr/sbin/sshd -D -f "$F/sshd$1.conf" -E "$F/sshd$1.log" &
	echo $! >"$F/sshd$1.pid"
	for _ in $(seq 50); do ip netns exec "$REQ" nc -z -w 1 "$3" 2222 2>/dev/null && break; sleep 0.1; done
	cat >>"$F/ssh_config" <<-CONF
	Host $3
	  User $U
	  Port 2222
	  IdentitiesOnly yes
	  UserKnownHostsFile $F/known_hosts
	  StrictHostKeyChecking accept-new
	CONF
}

# policy N [LINES...]: provider N's policy, this file's directories, and LINES.
policy() {
	local n=$1
	shift
	{
		printf 'account = %s\n' "$U"
		# The defaults of these tests, unless LINES set them.
		for d in "slots = 2" "queue = 8" "max_memory = 1024"; do
			printf '%s\n' "$@" | grep -q "^${d%% *} " || printf '%s\n' "$d"
		done
		# Each provider its own run folder (its queue); the first is the suite's.
		if [ "$n" = 1 ]; then printf 'run_dir = %s\n' "$OMERTA_RUN_DIR"; else printf 'run_dir = %s/run2\n' "$F"; fi
		printf 'cache_dir = %s\ndisk_dir = %s\n' "$OMERTA_CACHE_DIR" "$OMERTA_DISK_DIR"
		printf 'audit_log = %s/jobs%s.jsonl\n' "$F" "$n"
		printf '%s\n' "$@"
	} >"$F/p$n.conf"
	chmod 644 "$F/p$n.conf"
}

# rssh KEY ARGS...: the requester's ssh with KEY (a or b).
rssh() {
	local k=$1
	shift
	ip netns exec "$REQ" ssh -F "$F/ssh_config" -i "$F/key_$k" -o BatchMode=yes "$@"
}

# submit KEY PROVIDER_ADDR ARGS...: omerta submit over SSH with KEY.
submit() {
	local k=$1 a=$2
	shift 2
	printf 'Host *\n  IdentityFile %s/key_%s\n' "$F" "$k" >"$T/ssh_$k"
	cat "$F/ssh_config" >>"$T/ssh_$k"
	ip netns exec "$REQ" env OMERTA_SSH_CONFIG="$T/ssh_$k" omerta submit --create-vpn \
		--provider "ssh://$U@$a:2222" --endpoint-host 198.51.100.1 --uplink wan "$@"
}

# audit N: provider N's audit log, each line checked to be one JSON object.
audit() {
	jq -c . "$F/jobs$1.jsonl"
}

@test "provider: install-provider made an unprivileged account and one sudo rule for one fixed command" {
	getent passwd "$U" | grep -q ":/bin/sh$"
	[ "$(id -u "$U")" -ne 0 ]
	# No password: '*' matches none (and the account is not locked for sshd).
	[ "$(getent shadow "$U" | cut -d: -f2)" = '*' ]
	# The account cannot change its own keys: its home and ~/.ssh are root's.
	[ "$(stat -c %U "$H")" = root ]
	[ "$(stat -c %U:%a "$H/.ssh/authorized_keys")" = root:644 ]
	run ! su -s /bin/sh "$U" -c "echo x >>'$H/.ssh/authorized_keys'"
	# What sudo allows the account: omerta-provide --job CONF, nothing else.
	run sudo -l -U "$U"
	echo "$output"
	[[ "$output" == *"(root) NOPASSWD: $OM_BIN/omerta-provide --job $F/p1.conf"* ]]
	[ "$(printf '%s\n' "$output" | grep -c 'NOPASSWD:')" -eq 2 ]
	run ! su -s /bin/sh "$U" -c "sudo -n id"
	run ! su -s /bin/sh "$U" -c "sudo -n $OM_BIN/omerta-provide --job /tmp/other.conf"
	run ! su -s /bin/sh "$U" -c "sudo -n $OM_SBIN/omerta-execute --help"
	[ -f "$F/units/omerta-gc.service" ]
	grep -q "ExecStart=$OM_SBIN/omerta-gc" "$F/units/omerta-gc.service"
	grep -q 'restrict,command="omerta-provide"' "$F/install.log"
}

@test "provider: a requester's key runs a job through the account; the audit log has its line, with its fingerprint" {
	policy 1 "uid_range = 62000-62009"
	run --separate-stderr submit a 192.0.2.2 --json --description "provider job" \
		--script 'wget -qO- http://203.0.113.10/cgi-bin/ip; exit 7'
	echo "$output"; echo "$stderr"
	[ "$status" -eq 7 ]
	# QEMU ran as a uid of the policy's range.
	printf '%s\n' "$output" | jq -s -e 'map(select(.event == "started")) | .[0].uid >= 62000 and .[0].uid <= 62009' >/dev/null
	printf '%s\n' "$output" | jq -e 'select(.event == "result") | .status == "completed" and .exit_code == 7' >/dev/null
	printf '%s\n' "$output" | jq -e -s '[.[] | select(.event == "output") | .data] | join("") | test("198.51.100.1")' >/dev/null
	audit 1
	[ "$(audit 1 | wc -l)" -eq 1 ]
	fp=$(ssh-keygen -lf "$F/key_a.pub" | awk '{print $2}')
	audit 1 | jq -e --arg fp "$fp" --arg u "$U" '.key == $fp and .sudo_user == $u and .status == "completed"
		and .exit_code == 7 and .description == "provider job" and .granted.memory_mib == 256
		and .granted.timeout_s == 600 and .requested.timeout_s == null and .tunnel.tx_bytes > 0
		and .blocked_frames == 0 and (.started_ms | type) == "number"' >/dev/null
	# The key's half ran as the account: sshd says whom it let in, and no session of root's.
	grep -q "Accepted publickey for $U" "$F/sshd1.log"
	run ! grep -q "for root" "$F/sshd1.log"
}

@test "provider: a shell, another command, a pty, port forwarding, unknown options, a 2 GiB header: 125 and nothing left" {
	# No command: an interactive login.
	run rssh a 192.0.2.2 </dev/null
	show
	[ "$status" -eq 125 ]
	[[ "$output" == *"no command: this key runs omerta jobs only"* ]]
	run rssh a 192.0.2.2 sh -c id
	[ "$status" -eq 125 ]
	[[ "$output" == *"only omerta-provide --bundle is allowed"* ]]
	run rssh a 192.0.2.2 omerta-execute --bundle
	[ "$status" -eq 125 ]
	run rssh a 192.0.2.2 'omerta-provide --bundle --job-id x; id'
	[ "$status" -eq 125 ]
	[[ "$output" == *"only omerta-provide --bundle and its options"* ]]
	run rssh a 192.0.2.2 omerta-provide --bundle --job-id x --vpn-config /etc/shadow
	[ "$status" -eq 125 ]
	[[ "$output" == *"only omerta-provide --bundle and its options"* ]]
	run rssh a 192.0.2.2 omerta-provide --bundle --job-id x --vpn-config x
	[ "$status" -eq 125 ]
	[[ "$output" == *"unknown option '--vpn-config'"* ]]
	run rssh a 192.0.2.2 omerta-provide --bundle --job-id x --output /etc
	[ "$status" -eq 125 ]
	# A pty: restrict gives none; ssh -tt then gives up (255, which omerta submit
	# reports as 125), and nothing ran (no audit line for the job "tty").
	run rssh a -tt 192.0.2.2 omerta-provide --bundle --job-id tty </dev/null
	show
	[[ "$output" == *"PTY allocation request failed"* ]]
	[ "$status" -eq 125 ] || [ "$status" -eq 255 ]
	# A header of 2 GiB with no newline: refused at its 256th byte.
	run bash -c "head -c 2147483648 /dev/zero | tr '\\0' a | ip netns exec $REQ ssh -F $F/ssh_config -i $F/key_a -o BatchMode=yes 192.0.2.2 omerta-provide --bundle --job-id big"
	[ "$status" -eq 125 ]
	[[ "$output" == *"a bundle header over 255 bytes"* ]]
	# A header that says 2 GiB of input: over max_input, before a byte of it is read.
	run bash -c "printf 'omerta-bundle 1 10 10 0 0 2147483648\n' | ip netns exec $REQ ssh -F $F/ssh_config -i $F/key_a -o BatchMode=yes 192.0.2.2 omerta-provide --bundle --job-id big2"
	[ "$status" -eq 125 ]
	[[ "$output" == *"max_input 1073741824: the input disk's 2147483648 bytes are over it"* ]]
	# Port forwarding: restrict refuses it; the tunnel carries nothing.
	port=$((20000 + $$ % 10000))
	ip netns exec "$REQ" ssh -F "$F/ssh_config" -i "$F/key_a" -o BatchMode=yes -N -L "127.0.0.1:$port:203.0.113.10:80" 192.0.2.2 &
	fwd=$!
	for _ in $(seq 50); do ip netns exec "$REQ" nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.1; done
	run ip netns exec "$REQ" curl -s -m 5 "http://127.0.0.1:$port/"
	kill "$fwd"; wait "$fwd" || true
	[[ "$output" != *"hello from the internet host"* ]]
	grep -q "refused local port forward\|administratively prohibited\|forwarding disabled\|not permitted" "$F/sshd1.log"
	# The audit log: one refused line for each request that reached the policy.
	audit 1
	[ "$(audit 1 | jq -r .status | sort -u)" = refused ]
	audit 1 | jq -s -e 'any(.[]; .job_id == "big2" and (.reason | test("max_input")))' >/dev/null
	audit 1 | jq -s -e 'any(.[]; .job_id == "big" and (.reason | test("over 255 bytes")))' >/dev/null
	audit 1 | jq -s -e 'all(.[]; .status == "refused" and .granted == null)' >/dev/null
}

@test "provider: a key without restrict still gets no terminal" {
	cp "$H/.ssh/authorized_keys" "$T/keys"
	printf 'command="omerta-provide" %s\n' "$(cat "$F/key_a.pub")" >"$H/.ssh/authorized_keys"
	run rssh a -tt 192.0.2.2 omerta-provide --bundle --job-id x </dev/null
	cp "$T/keys" "$H/.ssh/authorized_keys"
	echo "$output"
	[ "$status" -eq 125 ]
	[[ "$output" == *"no terminal"* ]]
}

@test "provider: options outside the policy are refused before anything is built, naming the limit" {
	policy 1 "max_cpu = 1" "max_timeout = 60" "default_timeout = 30" "allow_root = no" "images = debian-python" "max_disk = 64"
	run --separate-stderr submit a 192.0.2.2 --memory 2048 --script 'echo never'
	echo "$stderr"
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"refused: max_memory 1024: --memory 2048 is over it"* ]]
	[[ "$output" != *never* ]]
	run --separate-stderr submit a 192.0.2.2 --cpu 2 --script 'echo never'
	[[ "$stderr" == *"max_cpu 1: --cpu 2"* ]]
	run --separate-stderr submit a 192.0.2.2 --timeout 61 --script 'echo never'
	[[ "$stderr" == *"max_timeout 60: --timeout 61"* ]]
	run --separate-stderr submit a 192.0.2.2 --root --script 'echo never'
	[[ "$stderr" == *"allow_root no"* ]]
	run --separate-stderr submit a 192.0.2.2 --image tiny --script 'echo never'
	[[ "$stderr" == *"images: --image tiny is not allowed"* ]]
	run --separate-stderr submit a 192.0.2.2 --disk 65 --script 'echo never'
	[[ "$stderr" == *"max_disk 64: --disk 65"* ]]
	# A queue's folder on a path others may write is refused (a folder on it could be
	# swapped for a link).
	mkdir -m 777 "$T/open"
	policy 1 "run_dir = $T/open/run"
	sed -i '0,/^run_dir = /{/^run_dir = /d}' "$F/p1.conf"
	run --separate-stderr submit a 192.0.2.2 --script 'echo never'
	echo "$stderr"
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"the queue's folder, or one on its path, is not root's alone"* ]]
	rm -rf "$T/open"
	policy 1 "max_cpu = 1" "max_timeout = 60" "default_timeout = 30" "allow_root = no" "images = debian-python" "max_disk = 64"
	# With --json the refusal is a result record too.
	run --separate-stderr submit a 192.0.2.2 --json --memory 4096 --script 'echo never'
	[ "$status" -eq 125 ]
	printf '%s\n' "$output" | jq -e 'select(.event == "result") | .status == "refused" and (.reason | test("max_memory"))' >/dev/null
	[ "$(audit 1 | jq -r .status | sort | uniq -c | awk '{print $1, $2}')" = "8 refused" ]
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	# A key's own section: key b (named by its command's --key bee) may have more.
	policy 1 "max_cpu = 1" "[key bee]" "max_memory = 2048" "max_cpu = 2"
	run --separate-stderr submit b 192.0.2.2 --memory 1536 --cpu 2 --script 'echo bee-ok'
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = bee-ok ]
	audit 1 | tail -n 1 | jq -e '.key_name == "bee" and .granted.memory_mib == 1536 and .granted.cpu == 2' >/dev/null
}

@test "provider: two providers, two slots each, take eight jobs from one fan-out line; at most two run at once on each" {
	printf '%s\n' "ssh://$U@192.0.2.2:2222" "ssh://$U@198.18.0.2:2222" >"$T/providers"
	printf 'Host *\n  IdentityFile %s/key_a\n' "$F" >"$T/ssh_a"
	cat "$F/ssh_config" >>"$T/ssh_a"
	for i in 1 2 3 4 5 6 7 8; do printf 'sleep 3; echo job-%s-done\n' "$i" >"$T/job$i.sh"; done
	run --separate-stderr ip netns exec "$REQ" env OMERTA_SSH_CONFIG="$T/ssh_a" \
		sh "$OM_ROOT/examples/fanout.sh" "$T/providers" "$T"/job?.sh -- --endpoint-host 198.51.100.1 --uplink wan
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.status == "completed") | .job' | sort | tr '\n' ' ')" = \
		"$(printf '%s ' "$T"/job?.sh)" ]
	for i in 1 2 3 4 5 6 7 8; do printf '%s\n' "$output" | grep -q "job-$i-done"; done
	[[ "$stderr" == *"queued, position"* ]]
	for n in 1 2; do
		audit "$n"
		[ "$(audit "$n" | wc -l)" -eq 4 ]
		# The most jobs that overlapped in time on this provider: 2.
		most=$(audit "$n" | jq -s '[.[] | [.started_ms, 1], [.ended_ms, -1]] | sort | reduce .[] as $e ({n: 0, m: 0};
			.n += $e[1] | .m = ([.m, .n] | max)) | .m')
		[ "$most" -eq 2 ]
		audit "$n" | jq -s -e 'map(select(.queue_position > 0)) | length >= 1' >/dev/null
	done
}

@test "provider: with the queue at 1, the jobs past the slots and the queue are refused with a reason" {
	policy 1 "queue = 1"
	printf 'Host *\n  IdentityFile %s/key_a\n' "$F" >"$T/ssh_a"
	cat "$F/ssh_config" >>"$T/ssh_a"
	printf '%s\n' "ssh://$U@192.0.2.2:2222" >"$T/providers"
	for i in 1 2 3 4 5; do printf 'sleep 6; echo job-%s-done\n' "$i" >"$T/job$i.sh"; done
	run --separate-stderr ip netns exec "$REQ" env OMERTA_SSH_CONFIG="$T/ssh_a" \
		sh "$OM_ROOT/examples/fanout.sh" "$T/providers" "$T"/job?.sh -- --endpoint-host 198.51.100.1 --uplink wan
	echo "$output"; echo "$stderr"
	[ "$(printf '%s\n' "$output" | jq -s 'map(select(.status == "completed")) | length')" -eq 3 ]
	[ "$(printf '%s\n' "$output" | jq -s 'map(select(.status == "refused" and (.reason | test("queue full")))) | length')" -eq 2 ]
	[[ "$stderr" == *"queue full: all 2 slots busy and 1 waiting (queue = 1)"* ]]
	[ "$(audit 1 | jq -s 'map(select(.status == "refused")) | length')" -eq 2 ]
}

@test "provider: a job that allocates past its cgroup's memory ends memory_exceeded; the other job and the host are untouched" {
	policy 1 "memory_overhead = 16"
	submit a 192.0.2.2 --script 'sleep 4; echo neighbour-ok' >"$T/n.out" 2>"$T/n.err" &
	npid=$!
	run --separate-stderr submit a 192.0.2.2 --json --memory 256 \
		--script 'head -c 230000000 /dev/zero >/tmp/fill; echo filled'
	echo "$output" | tail -n 3; echo "$stderr"
	[ "$status" -eq 126 ]
	printf '%s\n' "$output" | jq -e 'select(.event == "result") | .status == "memory_exceeded" and (.reason | test("memory cgroup"))' >/dev/null
	wait "$npid"
	[ "$(cat "$T/n.out")" = neighbour-ok ]
	audit 1 | jq -s -e 'map(select(.status == "memory_exceeded" and .oom_kills > 0)) | length == 1' >/dev/null
	audit 1 | jq -s -e 'map(select(.status == "completed")) | length == 1' >/dev/null
	# The host's own processes: sshd and this bats still run.
	kill -0 "$(cat "$F/sshd1.pid")"
}

@test "provider: killing the requester's ssh mid-job stops the provider's VM within 2 s, and nothing is left" {
	submit a 192.0.2.2 --script 'echo started; sleep 60' >"$T/k.out" 2>"$T/k.err" &
	spid=$!
	for _ in $(seq 300); do grep -q started "$T/k.out" 2>/dev/null && break; sleep 0.1; done
	grep -q started "$T/k.out"
	OMERTA_PROVIDER_CONF=$F/p1.conf omerta-provide status --json | jq -e '.busy == 1 and (.jobs | length) == 1' >/dev/null
	run env OMERTA_PROVIDER_CONF="$F/p1.conf" omerta status
	[[ "$output" == *"provider	1/2 slots busy	0/8 waiting"* ]]
	q=$(pgrep -x qemu-system-x86 | head -n 1)
	[ -n "$q" ]
	s=$(pgrep -x ssh -P "$(pgrep -P "$spid" | tr '\n' ',' | sed 's/,$//')" 2>/dev/null | head -n 1 || true)
	[ -n "$s" ] || s=$(pgrep -x ssh | head -n 1)
	kill -9 "$s"
	t0=$(date +%s%N)
	while kill -0 "$q" 2>/dev/null; do
		[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ] || { echo "QEMU still runs 2 s after the kill"; false; }
		sleep 0.05
	done
	echo "VM gone in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	wait "$spid" || true
	for _ in $(seq 100); do [ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ] && break; sleep 0.1; done
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
	for _ in $(seq 50); do [ "$(audit 1 | wc -l)" -eq 1 ] && break; sleep 0.1; done
	audit 1 | jq -e '.status != "completed"' >/dev/null
}

@test "provider: Ctrl-C (SIGINT) to the requester's omerta submit stops the provider's VM within 2 s" {
	submit a 192.0.2.2 --script 'echo started; sleep 60' >"$T/k.out" 2>"$T/k.err" &
	spid=$!
	for _ in $(seq 300); do grep -q started "$T/k.out" 2>/dev/null && break; sleep 0.1; done
	grep -q started "$T/k.out"
	q=$(pgrep -x qemu-system-x86 | head -n 1)
	[ -n "$q" ]
	# The submit itself: the child of the background subshell (ip netns exec and env
	# exec into it).
	sub=$(pgrep -P "$spid" | head -n 1)
	[ -n "$sub" ]
	grep -q omerta-submit "/proc/$sub/cmdline"
	kill -INT "$sub"
	t0=$(date +%s%N)
	while kill -0 "$q" 2>/dev/null; do
		[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ] || { echo "QEMU still runs 2 s after SIGINT"; false; }
		sleep 0.05
	done
	# Not "run wait": run's subshell is not the job's parent, and its wait reads a
	# status that bash may not have yet (it said 255 while submit still cleaned up).
	local st=0
	wait "$spid" || st=$?
	echo "submit: $st; its stderr: $(cat "$T/k.err")"
	[ "$st" -eq 130 ]
	for _ in $(seq 100); do [ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ] && break; sleep 0.1; done
	[ -z "$(ls "$OMERTA_RUN_DIR/exec" 2>/dev/null)" ]
}

@test "provider: the units pass systemd-analyze verify; gc at boot removes a dead job; pruning keeps the cache under its cap" {
	cp "$F/units/"*.service "$F/units/"*.timer "$T/"
	# Their Documentation= pages, as make install puts them.
	mkdir -p "$T/man/man1" "$T/man/man7" "$T/man/man8"
	for m in "$OM_ROOT"/man/*.[178]; do ln -s "$m" "$T/man/man${m##*.}/"; done
	run env MANPATH="$T/man" systemd-analyze verify "$T/omerta-gc.service" "$T/omerta-prune.service" "$T/omerta-prune.timer"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^d /run/omerta 0755 root root' "$F/tmpfiles/omerta.conf"
	# A dead job: execute killed with -9 mid-job (a reboot leaves the same).
	vpnconf=$T/v.conf
	ip netns exec "$REQ" omerta-vpnserve up --job deadjob --endpoint-host 198.51.100.1 --owner $$ >"$vpnconf"
	ip netns exec "$PROV" omerta execute --job-id deadjob --vpn-config "$vpnconf" --script 'sleep 60' >"$T/d.out" 2>&1 &
	e=$!
	for _ in $(seq 300); do [ -e "$OMERTA_RUN_DIR/exec/deadjob/state" ] && pgrep -x qemu-system-x86 >/dev/null && break; sleep 0.1; done
	kill -9 "$e"; wait "$e" || true
	ip netns exec "$REQ" omerta-vpnserve down --job deadjob >/dev/null
	# What the unit runs, line by line, as systemd would (in the provider's namespace).
	grep '^ExecStart=' "$T/omerta-gc.service" | sed 's/^ExecStart=//' >"$T/cmds"
	[ "$(wc -l <"$T/cmds")" -eq 1 ]
	while read -r c; do
		ip netns exec "$PROV" env OMERTA_PROVIDER_CONF="$F/p1.conf" $c
	done <"$T/cmds" >"$T/gc.out"
	cat "$T/gc.out"
	grep -q "provider	deadjob" "$T/gc.out"
	[ ! -e "$OMERTA_RUN_DIR/exec/deadjob" ]
	# The cache: six base images of 1 MiB, one used just now; the cap 3.5 MiB.
	c=$T/cache
	mkdir "$c"
	for i in 1 2 3 4 5 6; do
		head -c 1048576 /dev/zero >"$c/base-sh-6.1-$i.cpio"
		touch -d "@$(( $(date +%s) - 10000 + i * 100 ))" "$c/base-sh-6.1-$i.cpio"
	done
	touch "$c/base-sh-6.1-1.cpio"
	cmd=$(sed -n 's/^ExecStart=//p' "$T/omerta-prune.service" | sed 's/512M/3584K/')
	OMERTA_CACHE_DIR=$c $cmd >"$T/prune.out"
	cat "$T/prune.out"
	[ "$(du -cb "$c"/base-* | tail -n 1 | cut -f1)" -le $((3584 * 1024)) ]
	[ -e "$c/base-sh-6.1-1.cpio" ]
	[ -e "$c/base-sh-6.1-6.cpio" ]
	[ ! -e "$c/base-sh-6.1-2.cpio" ]
	[ "$(wc -l <"$T/prune.out")" -eq 3 ]
}
