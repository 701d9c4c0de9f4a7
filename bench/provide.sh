#!/bin/sh
# bench/provide.sh [TAG]: what provider mode costs a job (issue 17), side by side in
# one run: `omerta submit --script true` with --provider local, and over SSH to a
# provider's unprivileged account (omerta-provide, its sudo rule, the policy, the
# queue, a cgroup, the audit line), BENCH_JOBS times each (default 5), alternating;
# the medians of the whole submit's wall time and their ratio. Prints a markdown
# section. With TAG, uses that test world (bench/run.sh's); without, makes its own.
# Needs root; makes a bench account, a sudoers file and an sshd, and removes them.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
u=omtb$$
home=/tmp/omt-bench-home-$$
sudoers=/etc/sudoers.d/omt-bench-$$
sshpid=''
bench_down() {
	[ -z "$sshpid" ] || kill "$sshpid" 2>/dev/null || true
	sleep 0.2
	OMERTA_USER=$u BINDIR=$PWD/bin OMERTA_PROVIDER_CONF=$t/p.conf OMERTA_HOME=$home SUDOERS_FILE=$sudoers \
		UNITDIR=$t/units TMPFILESDIR=$t/tmpfiles sh share/install-provider.sh --uninstall >/dev/null 2>&1 || true
}
bench_start provide bprv "$@"
n=${BENCH_JOBS:-5}
chmod 755 "$t"
bench_world
OMERTA_USER=$u BINDIR=$PWD/bin OMERTA_PROVIDER_CONF=$t/p.conf OMERTA_HOME=$home SUDOERS_FILE=$sudoers \
	UNITDIR=$t/units TMPFILESDIR=$t/tmpfiles sh share/install-provider.sh >/dev/null
cat >"$t/p.conf" <<-CONF
account = $u
run_dir = $OMERTA_RUN_DIR/provider
audit_log = $t/jobs.jsonl
CONF
[ -z "${OMERTA_CACHE_DIR:-}" ] || echo "cache_dir = $OMERTA_CACHE_DIR" >>"$t/p.conf"
ssh-keygen -q -t ed25519 -N '' -f "$t/host"
ssh-keygen -q -t ed25519 -N '' -f "$t/key"
printf 'restrict,command="omerta-provide" %s\n' "$(cat "$t/key.pub")" >"$home/.ssh/authorized_keys"
mkdir -p /run/sshd
cat >"$t/sshd.conf" <<-CONF
ListenAddress 192.0.2.2
Port 2222
HostKey $t/host
AuthorizedKeysFile $home/.ssh/authorized_keys
AllowUsers $u
UsePAM no
ExposeAuthInfo yes
PidFile none
SetEnv PATH=$PWD/bin:/usr/sbin:/usr/bin:/sbin:/bin OMERTA_PROVIDER_CONF=$t/p.conf
CONF
cat >"$t/ssh.conf" <<-CONF
Host 192.0.2.2
  User $u
  Port 2222
  IdentityFile $t/key
  IdentitiesOnly yes
  UserKnownHostsFile $t/known_hosts
  StrictHostKeyChecking accept-new
CONF
# The provider's sshd, with the host's cgroup hierarchies (tests/lib/netns-cgroups.sh).
sh tests/lib/netns-cgroups.sh "$prov" /usr/sbin/sshd -D -f "$t/sshd.conf" &
sshpid=$!
for _ in $(seq 50); do ip netns exec "$req" nc -z -w 1 192.0.2.2 2222 2>/dev/null && break; sleep 0.1; done

# wall ARGS...: one submit's wall time (ms), or nothing when it did not complete.
wall() {
	t0=$(date +%s%N)
	if ip netns exec "$req" env OMERTA_SSH_CONFIG="$t/ssh.conf" omerta submit --create-vpn \
		--endpoint-host 198.51.100.1 --uplink wan --script true "$@" >/dev/null 2>&1; then
		echo $((($(date +%s%N) - t0) / 1000000))
	fi
}
wall --provider local >/dev/null
wall --provider "ssh://$u@192.0.2.2:2222" >/dev/null
for _ in $(seq "$n"); do
	wall --provider local >>"$t/local"
	wall --provider "ssh://$u@192.0.2.2:2222" >>"$t/ssh"
done
med() { sort -n "$1" | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "-"}'; }
range() { sort -n "$1" | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", b / a; else print "-" }'; }
: >>"$t/local"
: >>"$t/ssh"
cat <<-MD
	### Provider mode: a job submitted locally and to a provider's account, $n each, alternating

	| path | median wall ms | range | ratio to local |
	|---|---|---|---|
	| \`--provider local\` | $(med "$t/local") | $(range "$t/local") | 1.00 |
	| \`--provider ssh://\` (omerta-provide, sudo, policy, queue, cgroup, audit) | $(med "$t/ssh") | $(range "$t/ssh") | $(ratio "$(med "$t/local")" "$(med "$t/ssh")") |

	$(wc -l <"$t/local") and $(wc -l <"$t/ssh") of $n jobs completed; the audit log has $(wc -l <"$t/jobs.jsonl" 2>/dev/null || echo 0) lines.
MD
