#!/usr/bin/env bats
# Every tool has --help and a man page, and the two agree.

load ../lib/common

teardown() { assert_no_leftovers; }

tools() {
	for f in "$OM_ROOT"/bin/omerta*; do
		case $f in *.c) continue ;; esac
		[ -x "$f" ] && basename "$f"
	done
}

# The SYNOPSIS block of a man page, roff escapes removed.
man_synopsis() {
	awk '/^\.SH SYNOPSIS/{on=1; next} /^\.SH/{on=0} on && !/^\./' "$1" |
		sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(em/--/g'
}

# The usage lines of --help, "usage: " and the indentation removed.
help_synopsis() {
	"$1" --help | awk '/^usage: /{on=1; sub(/^usage: /, ""); print; next} on && /^       /{sub(/^ +/, ""); print; next} {on=0}'
}

@test "docs: every tool has a man page with the required sections" {
	n=0
	for t in $(tools); do
		m="$OM_ROOT/man/$t.1"
		[ -f "$m" ] || m="$OM_ROOT/man/$t.8"
		[ -f "$m" ] || { echo "no man page for $t"; false; }
		for s in NAME SYNOPSIS DESCRIPTION OPTIONS "OUTPUT FORMAT" "EXIT STATUS" EXAMPLES "SEE ALSO"; do
			grep -q "^\.SH \"\{0,1\}$s\"\{0,1\}$" "$m" || { echo "$m lacks $s"; false; }
		done
		n=$((n + 1))
	done
	[ "$n" -ge 2 ]
}

@test "docs: --help exits 0 and its usage lines equal the man page SYNOPSIS" {
	for t in $(tools); do
		run "$(command -v "$t")" --help
		[ "$status" -eq 0 ] || { echo "$t --help: $status"; false; }
		a=$(help_synopsis "$(command -v "$t")")
		m="$OM_ROOT/man/$t.1"
		[ -f "$m" ] || m="$OM_ROOT/man/$t.8"
		b=$(man_synopsis "$m")
		[ -n "$a" ]
		[ "$a" = "$b" ] || { echo "$t:"; diff <(echo "$a") <(echo "$b"); false; }
	done
}

@test "docs: man pages render without warnings" {
	command -v groff >/dev/null || command -v nroff >/dev/null || { echo "groff is missing"; false; }
	for m in "$OM_ROOT"/man/*.[178]; do
		run sh -c "LC_ALL=C.UTF-8 groff -t -man -Tutf8 -ww -z '$m' 2>&1"
		[ -z "$output" ] || { echo "$m: $output"; false; }
	done
}

@test "docs: README opens with the two set-up commands" {
	head -n 20 "$OM_ROOT/README.md" | grep -q 'sudo make demo'
	head -n 20 "$OM_ROOT/README.md" | grep -q 'sudo make check'
}

@test "lint: every shell script is clean under shellcheck" {
	command -v shellcheck >/dev/null || { echo "shellcheck is missing"; false; }
	cd "$OM_ROOT"
	files=$(grep -rlE '^#!/bin/sh' bin examples share tests/run tests/lib tests/fuzz .ci debian 2>/dev/null)
	[ -n "$files" ]
	# shellcheck disable=SC2086
	shellcheck -s sh $files
}
