#!/bin/sh
# make install-provider: makes this machine an omerta provider (omerta-provide(8)).
#   - the account requesters' keys log in as (OMERTA_USER, default omerta): no
#     password, a home that is root's, ~/.ssh/authorized_keys that root edits;
#   - the policy (OMERTA_PROVIDER_CONF, default /etc/omerta/provider.conf), kept if
#     there is one;
#   - one sudoers rule (SUDOERS_FILE, default /etc/sudoers.d/omerta): the account may
#     run "BINDIR/omerta-provide --job CONF" as root, that command exactly;
#   - the audit log's folder, and the systemd units (where systemd runs).
# usage: install-provider.sh [--uninstall]    (root; idempotent)
set -eu
user=${OMERTA_USER:-omerta}
bindir=${BINDIR:-/usr/local/bin}
# The root-only tools' folder (omerta-gc, for the units): PREFIX/sbin, or BINDIR
# itself in a checkout, where every tool is in bin/.
sbindir=${SBINDIR:-$(dirname "$bindir")/sbin}
[ -x "$sbindir/omerta-gc" ] || sbindir=$bindir
conf=${OMERTA_PROVIDER_CONF:-/etc/omerta/provider.conf}
sudoers=${SUDOERS_FILE:-/etc/sudoers.d/omerta}
home=${OMERTA_HOME:-/var/lib/omerta/provider}
unitdir=${UNITDIR:-/etc/systemd/system}
tmpfilesdir=${TMPFILESDIR:-/etc/tmpfiles.d}
share=$(cd "$(dirname "$0")" && pwd)
die() { echo "install-provider: $*" >&2; exit 1; }
# The audit log's folder: the policy's audit_log, or the default one's.
audit_dir() {
	log=$(sed -n 's/^audit_log *= *\([^ #]*\).*/\1/p' "$conf" 2>/dev/null) || log=''
	dirname "${log:-/var/log/omerta/jobs.jsonl}"
}
[ "$(id -u)" -eq 0 ] || die "needs root (sudo make install-provider)"
case $user in '' | -* | *[!a-z0-9_-]*) die "OMERTA_USER: a user name (a-z, 0-9, '_', '-')" ;; esac
[ -x "$bindir/omerta-provide" ] || die "$bindir/omerta-provide is missing (make install first, or BINDIR=)"

if [ "${1:-}" = --uninstall ]; then
	rm -f "$sudoers"
	if getent passwd "$user" >/dev/null; then userdel "$user" 2>/dev/null || true; fi
	if getent group "$user" >/dev/null; then groupdel "$user" 2>/dev/null || true; fi
	rm -rf "$home"
	for u in omerta-gc.service omerta-prune.service omerta-prune.timer; do rm -f "$unitdir/$u"; done
	rm -f "$tmpfilesdir/omerta.conf"
	# The audit log's folder, as install made it (the policy's, or the default), if
	# it is empty: a log in it is kept.
	# (Not one that a package's tmpfiles.d makes: omerta-provider's is its own.)
	for d in "$(audit_dir)" /var/log/omerta; do
		grep -qs "^d $d " /usr/lib/tmpfiles.d/*.conf /etc/tmpfiles.d/*.conf || rmdir "$d" 2>/dev/null || true
	done
	echo "install-provider: removed $user, $sudoers, $home and the units; $conf and the audit log are kept"
	exit 0
fi
[ $# -eq 0 ] || die "usage: install-provider.sh [--uninstall]"
command -v sudo >/dev/null || die "sudo is missing (apt-get install sudo)"

# The account: a shell for sshd to run the forced command with, no password (keys
# only), and a home it cannot write, so that it cannot change its own keys.
if ! getent passwd "$user" >/dev/null; then
	useradd --system --user-group --home-dir "$home" --no-create-home --shell /bin/sh "$user"
fi
# '*': no password can match, and sshd does not take the account for a locked one.
usermod -p '*' "$user"
install -d -m 0755 -o root -g root "$home" "$home/.ssh"
[ -e "$home/.ssh/authorized_keys" ] || {
	printf '# one line a requester: restrict,command="omerta-provide" ssh-ed25519 AAAA... name\n' >"$home/.ssh/authorized_keys"
	chmod 0644 "$home/.ssh/authorized_keys"
}

# The policy: root's and writable by root alone (the privileged half refuses it
# otherwise), readable.
if [ ! -e "$conf" ]; then
	install -d -m 0755 "$(dirname "$conf")"
	sed "s/^account = omerta\$/account = $user/" "$share/provider.conf" >"$conf.tmp"
	chmod 0644 "$conf.tmp"
	mv "$conf.tmp" "$conf"
fi
"$bindir/omerta-provide" check "$conf" >/dev/null || die "$conf: fix it first"

# The one rule: this command, these arguments, nothing else; no pty for it.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp" <<-RULE
# omerta provider (make install-provider): requesters' keys run omerta-provide as
# $user, which runs its privileged half as root through this rule alone.
Defaults!$bindir/omerta-provide !use_pty, !lecture, env_reset
$user ALL=(root) NOPASSWD: $bindir/omerta-provide --job $conf
RULE
visudo -cqf "$tmp" || die "visudo refused the rule"
install -d -m 0755 "$(dirname "$sudoers")"
install -m 0440 "$tmp" "$sudoers"

install -d -m 0750 "$(audit_dir)"

# The boot-time chores (systemd): gc at boot, /run/omerta, the cache's pruning.
if [ -d "$(dirname "$unitdir")" ]; then
	install -d -m 0755 "$unitdir" "$tmpfilesdir"
	for u in omerta-gc.service omerta-prune.service omerta-prune.timer; do
		sed "s|@SBINDIR@|$sbindir|g" "$share/systemd/$u" >"$unitdir/$u"
		chmod 0644 "$unitdir/$u"
	done
	install -m 0644 "$share/systemd/omerta.tmpfiles" "$tmpfilesdir/omerta.conf"
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		systemctl enable omerta-gc.service omerta-prune.timer
	fi
fi
cat <<-DONE
install-provider: $user can run jobs. Next:
  - add each requester's key to $home/.ssh/authorized_keys as
      restrict,command="omerta-provide" ssh-ed25519 AAAA... requester-name
  - in /etc/ssh/sshd_config (the fingerprint for per-key limits, and no pty or
    forwarding even for a key whose line lacks restrict):
      Match User $user
          ExposeAuthInfo yes
          DisableForwarding yes
          PermitTTY no
  - set the limits in $conf (omerta-provide check $conf)
DONE
