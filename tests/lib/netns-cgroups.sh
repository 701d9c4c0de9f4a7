#!/bin/sh
# netns-cgroups.sh NS CMD [ARG...]: CMD in the network namespace NS with this host's
# cgroup hierarchies. ip netns exec mounts a sysfs of the namespace's own, with
# nothing at /sys/fs/cgroup, and a provider's omerta-provide puts each job in a
# cgroup: the same hierarchies (the host's own groups) are mounted again, in that
# mount namespace alone. Every step execs, so CMD keeps this script's PID: a caller
# that starts it with & stops CMD by $!.
set -eu
[ $# -ge 2 ] || { echo "usage: netns-cgroups.sh NS CMD [ARG...]" >&2; exit 2; }
ns=$1
shift
m=$(awk '$3 == "cgroup" || $3 == "cgroup2" { print $3, $2, $4 }' /proc/self/mounts)
# shellcheck disable=SC2016 # the inner shell's variables
exec ip netns exec "$ns" env OMT_CG="$m" sh -c 'mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup &&
	printf "%s\n" "$OMT_CG" | while read -r t d o; do mkdir -p "$d" && mount -t "$t" -o "$o" "$t" "$d"; done &&
	unset OMT_CG && exec "$@"' sh "$@"
