#!/bin/sh
# Before a run (tests/run): remove what an earlier test run left when it was killed
# whole (kill -9, a session cut off, a reboot), so that its leftovers do not read as
# this run's. Only what provably has no live owner goes:
#   - a test namespace omt-*: its name holds the PID of the bats that made it
#     (world_up NAME -> omt-NAME$$-HOST); it goes when no process has that PID;
#   - a killed bats' run folder: each suite's OMERTA_RUN_DIR in it goes through
#     omerta-gc, which removes only jobs whose processes are gone, then the folder.
# Anything else that looks like omerta's is left alone and reported, and the run
# fails at once: it may be a real job, and the suites' leftover checks would only
# fail one by one. Prints one line for each thing removed. Exit 0 clean, 1 not.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$root/bin:$PATH"
# shellcheck source=tests/lib/leftovers.sh
. "$root/tests/lib/leftovers.sh"

alive() { [ -d "/proc/$1" ]; } # PID: any live process (a reused PID errs on the side of keeping)

# Test namespaces: omt-NAME<PID>-HOST (a world_up world) or omt-NAME-<PID> (a suite's
# own); the first run of digits is the PID of the bats (or bench) that made it.
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^omt-[^0-9]*[0-9]'); do
	pid=$(printf '%s\n' "$ns" | sed 's/^omt-[^0-9]*\([0-9][0-9]*\).*/\1/')
	alive "$pid" && continue
	tag=$(printf '%s\n' "$ns" | sed -n 's/^omt-\([a-z]*[0-9][0-9]*\)-\(wan\|inet\|req\|prov\|prov2\)$/\1/p')
	# The world's own servers (by the PIDs it recorded), then its namespaces.
	[ -z "$tag" ] || sh "$root/tests/lib/world.sh" down "$tag"
	ip netns del "$ns" 2>/dev/null || true
	echo "sweep: removed the netns $ns of a test run (PID $pid) that is gone"
done

# Run folders of bats runs that were killed: bats.PID.out names each of its processes.
for d in "${TMPDIR:-/tmp}"/bats-run-*; do
	[ -d "$d" ] || continue
	live=0 seen=0
	for o in "$d"/bats.*.out; do
		[ -e "$o" ] || continue
		p=${o##*/bats.}
		p=${p%.out}
		seen=1
		! alive "$p" || live=1
	done
	# No bats.PID.out yet: a bats that is just starting; leave it.
	if [ "$live" -eq 1 ] || [ "$seen" -eq 0 ]; then continue; fi
	for r in "$d"/file/*/run; do
		[ -d "$r" ] || continue
		OMERTA_RUN_DIR=$r omerta-gc | sed "s|^|sweep: omerta-gc removed |"
	done
	rm -rf "$d"
	echo "sweep: removed ${d##*/}, left by a bats run that is gone"
done

# A test sshd (a provider's) whose bats run folder is gone: its run was killed whole.
for p in $(pgrep -x sshd 2>/dev/null); do
	# (sshd rewrites its command line into one string: "sshd: /usr/sbin/sshd -D -f PATH ...")
	c=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | sed -n 's/.* -f \([^ ]*\).*/\1/p')
	case $c in */bats-run-*) ;; *) continue ;; esac
	[ ! -e "$c" ] || continue
	kill "$p" 2>/dev/null || true
	echo "sweep: stopped sshd $p of a test run that is gone ($c)"
done

# A wireguard-go control socket with no wireguard-go behind it stays when the
# process is killed; nothing listens on it.
for s in /var/run/wireguard/om*.sock; do
	[ -S "$s" ] || continue
	n=${s##*/}
	n=${n%.sock}
	live=0
	for p in $(pgrep -x wireguard-go 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qw -- "$n" && live=1
	done
	[ "$live" -eq 1 ] && continue
	rm -f "$s"
	echo "sweep: removed the socket of a wireguard-go that is gone: $n"
done

left=$(om_leftovers)
if [ -n "$left" ]; then
	echo "sweep: this machine holds omerta's things with a live owner or none known; remove them (omerta gc, or by hand) and run again:" >&2
	printf '%s\n' "$left" | sed 's/^/sweep:   /' >&2
	exit 1
fi
exit 0
