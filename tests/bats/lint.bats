#!/usr/bin/env bats
# tests/lib/lint-bats.sh, which make check runs first: a bare `! cmd` that is not a
# test's last command never fails it (set -e ignores it), so it is refused (issue 14).
# Needs neither root nor a build, so it does not load ../lib/common.

bats_require_minimum_version 1.5.0
LINT=$BATS_TEST_DIRNAME/../lib/lint-bats.sh

# fixture NAME: stdin, with "TEST " at a line's start made "@test " (bats would read
# an @test line here itself) and "NOT " after a line's indent made "! " (so that this
# file holds no bare "!" of its own), as $BATS_TEST_TMPDIR/NAME.bats.
fixture() { sed -e 's/^TEST /@test /' -e 's/^\( *\)NOT /\1! /' -e 's/ AND / \&\& /' >"$BATS_TEST_TMPDIR/$1.bats"; }

@test "lint: a bare ! before the end of a test, in a loop or in a helper is refused, named by file and line" {
	fixture bad <<-'EOF'
	TEST "mid" {
	    NOT grep -q secret f
	    true
	}
	TEST "in a loop, even as its last line" {
	    for x in a b; do
	        NOT grep -q "$x" f
	    done
	}
	TEST "a pipeline going on after ; or &&" {
	    NOT echo x |
	        grep -q y && true
	}
	helper() {
	    NOT false
	    echo done
	}
	EOF
	run sh "$LINT" "$BATS_TEST_TMPDIR/bad.bats"
	echo "$output"
	[ "$status" -eq 1 ]
	f=$BATS_TEST_TMPDIR/bad.bats
	[ "$output" = "$f:2: bare '!' assertion that cannot fail
$f:7: bare '!' assertion that cannot fail
$f:11: bare '!' assertion that cannot fail
$f:15: bare '!' assertion that cannot fail" ]
}

@test "lint: a [ ] && [ ] list of tests as a statement is refused (set -e ignores all but its last); with || it passes" {
	fixture and <<-'EOF'
	TEST "a list" {
	    [ 1 -eq 2 ] AND [ x = x ]
	    true
	}
	TEST "guarded, and split" {
	    [ 1 -eq 1 ] AND [ x = x ] || false
	    [ 1 -eq 1 ]
	    [[ x == x ]]
	}
	EOF
	run sh "$LINT" "$BATS_TEST_TMPDIR/and.bats"
	echo "$output"
	[ "$status" -eq 1 ]
	want="$BATS_TEST_TMPDIR/and.bats:2: a [ ] && [ ] list: only its last test can fail the test (one a line)"
	[ "$output" = "$want" ]
	# The point of it: such a line lets a failed first test through.
	printf '@test "x" {\n\t[ 1 -eq 2 ] && [ x = x ]\n\ttrue\n}\n' >"$BATS_TEST_TMPDIR/vacuous.bats"
	run bats "$BATS_TEST_TMPDIR/vacuous.bats"
	[ "$status" -eq 0 ]
}

@test "lint: run !, a last-line !, ! ... || false, if/while/until ! and quoted or here-document text pass" {
	fixture good <<-'EOF'
	TEST "run !" {
	    run ! grep -q secret f
	    true
	}
	TEST "|| false" {
	    NOT grep -q secret f || false
	    NOT tr x y <f |
	        grep -q secret ||
	        false
	    true
	}
	TEST "last line, also in an if at the end" {
	    if ! true; then :; fi
	    while ! true; do :; done
	    until ! false; do :; done
	    true && ! false
	    [ ! -e f ]
	    if true; then
	        NOT grep -q secret f # the last word
	    else
	        echo no
	    fi
	}
	TEST "text that only looks like code" { # it's a comment
	    # ! a comment
	    cat >g <<-X
	    NOT grep -q secret f
	}
	X
	    sh -c '
	        NOT true
	        true'
	    true
	}
	helper() {
	    echo x
	    NOT false
	}
	EOF
	run sh "$LINT" "$BATS_TEST_TMPDIR/good.bats"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "lint: every .bats file under a folder is read; a missing path is an error" {
	mkdir -p "$BATS_TEST_TMPDIR/d/sub"
	printf '@test "x" {\n\t! false\n\ttrue\n}\n' >"$BATS_TEST_TMPDIR/d/sub/a.bats"
	printf '\t! false\n' >"$BATS_TEST_TMPDIR/d/sub/not-bats.sh"
	run sh "$LINT" "$BATS_TEST_TMPDIR/d"
	[ "$status" -eq 1 ]
	[ "$output" = "$BATS_TEST_TMPDIR/d/sub/a.bats:2: bare '!' assertion that cannot fail" ]
	run --separate-stderr sh "$LINT" "$BATS_TEST_TMPDIR/nothing-here"
	[ "$status" -eq 2 ]
	[[ "$stderr" == lint-bats:* ]]
}

@test "lint: with no path it reads the checkout's tests/, from any folder" {
	cd "$BATS_TEST_TMPDIR"
	run sh "$LINT"
	echo "$output"
	[ "$status" -le 1 ]
	# Only the checkout's files, named from its root; make check counts the verdict.
	if [ -n "$output" ]; then
		[ -z "$(grep -v "^tests/.*\.bats:[0-9]*: bare '!' assertion that cannot fail$" <<<"$output")" ]
	fi
}
