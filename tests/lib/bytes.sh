# bytes.sh N: writes N bytes of a fixed pattern to stdout: every byte value 0-255,
# valid UTF-8 of 2, 3 and 4 bytes, escape sequences and invalid UTF-8, in blocks whose
# sizes cut sequences at every offset of a 16 KiB read. The same on the host and in
# any guest shell (busybox, dash, bash): the tests compare the two byte for byte.
n=$1
t=${TMPDIR:-/tmp}/omerta-bytes.$$
i=0
: >"$t"
while [ "$i" -lt 256 ]; do
	# shellcheck disable=SC2059 # the octal escape is the point
	printf "\\$(printf %03o "$i")" >>"$t"
	i=$((i + 1))
done
printf 'Z\303\274rich \342\234\223 \360\237\230\200 \033]52;c;aGk=\007 \033[2J\n' >>"$t"
i=0
while [ "$i" -lt 12 ]; do
	cat "$t" "$t" >"$t.2"
	printf 'x' >>"$t.2" # odd sizes: sequences cut at every offset
	mv "$t.2" "$t"
	i=$((i + 1))
done
while :; do cat "$t" || break; done | head -c "$n"
rm -f "$t" "$t.2"
