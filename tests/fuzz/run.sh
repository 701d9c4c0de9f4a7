#!/bin/sh
# make fuzz: run each libFuzzer target for SECONDS, growing tests/fuzz/corpus/<target>.
# usage: run.sh SECONDS TARGET...
set -eu
secs=$1
shift
command -v clang >/dev/null || { echo "fuzz: clang is needed (apt-get install clang)" >&2; exit 1; }
mkdir -p build/fuzz
sodium_cflags=$(pkg-config --cflags libsodium)
sodium_libs=$(pkg-config --libs libsodium)
for t in "$@"; do
	bin=build/fuzz/fuzz_$t
	# shellcheck disable=SC2086
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Ilib \
		-DFUZZ_TARGET="fuzz_$t" $sodium_cflags -o "$bin" \
		tests/fuzz/entry.c "tests/fuzz/fuzz_$t.c" lib/*.c $sodium_libs
	mkdir -p "tests/fuzz/corpus/$t"
	echo "fuzz: $t for ${secs}s" >&2
	"$bin" -max_total_time="$secs" -max_len=70000 -print_final_stats=1 \
		"tests/fuzz/corpus/$t" >"build/fuzz/$t.log" 2>&1 ||
		{ tail -40 "build/fuzz/$t.log" >&2; exit 1; }
	grep -E 'stat::number_of_executed_units|Done' "build/fuzz/$t.log" >&2 || true
done
