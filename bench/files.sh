#!/bin/sh
# bench/files.sh [TAG]: files in and out of a job (issue 16), side by side in one run:
# BENCH_FILES_MIB (default 1024) MiB in through --input, the same out through
# --output, the same through the job's stdout channel, and a host cp of the same
# bytes (the floor). Each as MiB/s over the time the bytes took: for --input the
# input disk's build (the result's timings_ms.input_disk) plus the guest's read;
# for --output the guest's write and sync plus the trip home (timings_ms.output);
# for stdout the job's wall time less an empty job's, its bytes read raw.
# Prints a markdown section. With TAG, uses that test world (bench/run.sh's); without,
# makes its own. Needs root.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_down() {
	for j in fin fout fstd; do ip netns exec "$req" omerta-vpnserve down --job "$j" >/dev/null 2>&1 || true; done
}
bench_start files bfile "$@"
mib=${BENCH_FILES_MIB:-1024}
: "${OMERTA_DISK_DIR:=$t/disks}"
export OMERTA_DISK_DIR
bench_world

head -c $((mib * 1048576)) /dev/urandom >"$t/data.bin"
# The floor: a host cp of the same bytes, page cache warm as the others' are.
sync
t0=$(date +%s%N)
cp "$t/data.bin" "$t/copy.bin"
sync
cp_ms=$((($(date +%s%N) - t0) / 1000000))
rm -f "$t/copy.bin"

# The input disk's own cost: a one-line file's disk, 5 times, the median (the issue's
# bound: 50 ms plus the copy of the bytes).
om_die() { echo "files: $*" >&2; exit 1; }
# shellcheck source=share/common.sh
. share/common.sh
echo hi >"$t/small"
for _ in 1 2 3 4 5; do
	rm -f "$t/small.img"
	t0=$(date +%s%N)
	(om_input_disk "$t/small.img" "$t/small.d" "'$t/small'")
	echo $((($(date +%s%N) - t0) / 1000000))
done | sort -n | sed -n 3p >"$t/small.ms"

# job NAME ARGS...: one job through a real tunnel at --memory 256; its JSON in $t/NAME.json.
job() {
	n=$1
	shift
	ip netns exec "$req" omerta-vpnserve up --job "$n" --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/$n.conf"
	ip netns exec "$prov" omerta execute --vpn-config "$t/$n.conf" --memory 256 --timeout 3000 --json "$@" \
		>"$t/$n.json" 2>"$t/$n.err" || true
	ip netns exec "$req" omerta-vpnserve down --job "$n" >/dev/null 2>&1 || true
}
res() { tail -n 1 "$t/$1.json" | jq -r "$2"; }
# The guest's own seconds, printed by the workload as "secs S".
secs() { jq -r 'select(.event == "output" and .stream == "stdout") | .data' "$t/$1.json" | sed -n 's/^secs //p'; }

# shellcheck disable=SC2016 # expanded in the guest
job fin --input "$t/data.bin" --script 't0=$(cut -d" " -f1 /proc/uptime); cat data.bin >/dev/null;
	t1=$(cut -d" " -f1 /proc/uptime); echo "secs $(echo "$t1 $t0" | awk "{print \$1 - \$2}")"'
# shellcheck disable=SC2016
job fout --output "$t/out" --script 't0=$(cut -d" " -f1 /proc/uptime); head -c '$((mib * 1048576))' /dev/zero >"$OMERTA_OUT/data.bin"; sync;
	t1=$(cut -d" " -f1 /proc/uptime); echo "secs $(echo "$t1 $t0" | awk "{print \$1 - \$2}")"' 
# stdout: raw (as a user reads it), timed here: the job's wall time less an empty
# job's, side by side.
wall() {
	ip netns exec "$req" omerta-vpnserve up --job fstd --endpoint-host 198.51.100.1 --keepalive 5 --owner $$ >"$t/fstd.conf"
	t0=$(date +%s%N)
	ip netns exec "$prov" omerta execute --vpn-config "$t/fstd.conf" --memory 256 --timeout 3000 --script "$1" \
		>/dev/null 2>"$t/fstd.err" || true
	echo $((($(date +%s%N) - t0) / 1000000))
	ip netns exec "$req" omerta-vpnserve down --job fstd >/dev/null 2>&1 || true
}
std_empty=$(wall true)
std_full=$(wall "head -c $((mib * 1048576)) /dev/zero")

in_ms=$(awk -v b="$(res fin .timings_ms.input_disk)" -v g="$(secs fin)" 'BEGIN{print int(b + g * 1000)}')
out_ms=$(awk -v b="$(res fout .timings_ms.output)" -v g="$(secs fout)" 'BEGIN{print int(b + g * 1000)}')
std_ms=$((std_full - std_empty))
rate() { awk -v m="$mib" -v ms="$1" 'BEGIN{ if (ms > 0) printf "%.1f", m * 1000 / ms; else print "-" }'; }
cat <<-MD
	### Files in and out, $mib MiB, --memory 256 ($(res fin .status), $(res fout .status))

	| path | ms | MiB/s | parts |
	|---|---|---|---|
	| host \`cp\` (the floor) | $cp_ms | $(rate "$cp_ms") | |
	| \`--input\` | $in_ms | $(rate "$in_ms") | input disk $(res fin .timings_ms.input_disk) ms, guest read $(secs fin) s |
	| \`--output\` | $out_ms | $(rate "$out_ms") | guest write and sync $(secs fout) s, home $(res fout .timings_ms.output) ms |
	| stdout channel | $std_ms | $(rate "$std_ms") | the job's wall time ($std_full ms) less an empty job's ($std_empty ms) |

	The input disk of a one-line file: $(cat "$t/small.ms") ms (median of 5), the cost it adds beyond the copy of the bytes.
MD
