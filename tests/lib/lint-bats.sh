#!/bin/sh
# lint-bats.sh [PATH...]: refuse a bats assertion that cannot fail (issue 14).
#
# bats runs a test under `set -e`, and `set -e` ignores the status of a pipeline that
# starts with `!`. So a line such as
#
#	! grep -q secret "$f"
#
# fails the test only when it is the test's last command (its status is then the
# test's). Anywhere else it never fails, whatever grep finds; inside a loop it counts
# at most on the last pass. These forms can fail, and pass this check:
#
#	run ! grep -q secret "$f"          (bats >= 1.5; sets $output and $status)
#	! grep -q secret "$f" || false     (keeps $output; works for pipelines too)
#	[ -z "$(grep secret "$f")" ]
#
# Every .bats file under the PATHs (default: the checkout's tests/) is read. A
# statement whose first word is `!` is reported, as FILE:LINE: one line each, when it
# is inside a @test or a function (setup, teardown, helpers: there a bare `!` that is
# not the last statement is as vacuous under `set -e`, and when the function is a
# condition everything but its last status is ignored anyway) and
#   - it holds no `||` (`! cmd || ...` can fail through what follows), and
#   - it is inside a for/while/until loop, or it goes on after `;` or `&&`, or it is
#     not the last statement of its @test or function: what follows it may only
#     close the blocks it is in (fi, esac, }, ), ;;), or be another branch of an
#     if or case it is in, or read its status ($? in the next statement).
# Only a statement that starts with `!` counts: `run ! cmd`, `if ! cmd`, `while !
# cmd`, `until ! cmd`, `cmd && ! x` and `[ ! -e f ]` are left alone.
#
# How it reads the shell, and its limits: quotes ('', "", $'', ``, $(...)) are
# followed across lines, comments and here-document bodies are skipped, and a line
# that ends in \, |, && or || or inside a quote goes on into the next one. A @test or
# function is one that opens at the start of a line (`@test "..." {`, `name() {`,
# `function name {`, a trailing comment allowed) and closes at a `}` at the start of a
# line; one-line ones (`f() { ...; }`) and top-level code are not checked. A `!` after
# `;`, `do` or `then` in the middle of a line (`for x in a; do ! f; done`) is not
# seen; any `||` is taken to make it fail, `|| true` too. A function defined inside a
# test is read as part of the test: a `!` last in it is reported unless it is also
# last in the test. Keywords are recognised only where a command starts.
#
# Exit status: 0 when nothing is found, 1 when something is (one line per offence on
# stdout), 2 when a PATH does not exist or the files could not be read.
set -u
if [ "$#" -eq 0 ]; then
	cd "$(dirname "$0")/../.." || exit 2
	set -- tests
fi
for p in "$@"; do
	[ -e "$p" ] || { echo "lint-bats: no such file or folder: $p" >&2; exit 2; }
done

# shellcheck disable=SC2016 # the awk program is single-quoted on purpose
prog='
function reset_block() { nst = 0 }

# cmdwords(s): counts of keywords in command position in the top-level text s.
function cmdwords(s,   a, n, i, prev, w, cp) {
	K_do = K_done = K_if = K_fi = K_case = K_esac = 0
	gsub(/&&|\|\||[;&|()]/, " ; ", s)
	n = split(s, a, /[ \t]+/)
	prev = ";"
	for (i = 1; i <= n; i++) {
		w = a[i]
		if (w == "") continue
		cp = (prev == ";" || prev ~ /^(then|do|else|elif|if|while|until|[{]|!|time)$/)
		if (cp) {
			if (w == "do") K_do++
			else if (w == "done") K_done++
			else if (w == "if") K_if++
			else if (w == "fi") K_fi++
			else if (w == "case") K_case++
			else if (w == "esac") K_esac++
		}
		prev = w
	}
}

# closers(s): 1 when the top-level text s holds nothing but fi, esac, }, ), ;;
function closers(s,   a, n, i) {
	n = split(s, a, /[ \t;]+/)
	for (i = 1; i <= n; i++)
		if (a[i] != "" && a[i] !~ /^(fi|esac|[}]|[)])$/) return 0
	return 1
}

function firstword(s,   a) {
	sub(/^[ \t]+/, "", s)
	split(s, a, /[ \t]+/)
	return a[1]
}

# skipto(j, kind): from statement j, the index of the statement that closes the if
# (kind "if") or case (kind "case") that statement j is inside; 0 when none does.
function skipto(j, kind,   lvl, k) {
	lvl = 0
	for (k = j; k <= nst; k++) {
		if (kind == "if") lvl += st_if[k] - st_fi[k]
		else lvl += st_case[k] - st_esac[k]
		if (lvl < 0) return k
	}
	return 0
}

# is_last(i): nothing after statement i in its block can decide the block status.
function is_last(i,   j, k, s) {
	if (i < nst && st_raw[i + 1] ~ /\$\?/) return 1
	j = i + 1
	if (st_bare[i] ~ /;;[ \t]*$/) {
		k = skipto(j, "case")
		if (!k) return 0
		j = k + 1
	}
	while (j <= nst) {
		s = st_bare[j]
		if (st_first[j] == "else" || st_first[j] == "elif") {
			k = skipto(j, "if")
			if (!k) return 0
			j = k + 1
			continue
		}
		if (!closers(s)) return 0
		if (s ~ /;;/) {
			k = skipto(j + 1, "case")
			if (!k) return 0
			j = k + 1
			continue
		}
		j++
	}
	return 1
}

function check_block(   i, depth, s) {
	depth = 0
	for (i = 1; i <= nst; i++) {
		if (st_first[i] == "!") {
			s = st_bare[i]
			if (index(s, "||") == 0) {
				sub(/[ \t;]+$/, "", s)
				if (depth > 0 || s ~ /&&|;/ || !is_last(i))
					printf "%s:%d: bare %c!%c assertion that cannot fail\n", fname, st_line[i], 39, 39
			}
		}
		depth += st_do[i] - st_done[i]
	}
}

# The statement in cur_bare / cur_raw, begun on line cur_line, is complete.
function statement(   b) {
	b = cur_bare
	if (inblock && b !~ /^[ \t]*$/) {
		nst++
		st_line[nst] = cur_line
		st_bare[nst] = b
		st_raw[nst] = cur_raw
		st_first[nst] = firstword(b)
		cmdwords(b)
		st_do[nst] = K_do; st_done[nst] = K_done
		st_if[nst] = K_if; st_fi[nst] = K_fi
		st_case[nst] = K_case; st_esac[nst] = K_esac
	}
	cur_bare = ""; cur_raw = ""; cur_line = 0
}

function push(m) { stk[++sp] = m; pdepth[sp] = 0 }

# lex(line): reads one physical line with the quote stack stk[1..sp]; appends to
# cur_bare what is at the top level (anything quoted or substituted becomes _).
function lex(line,   n, i, c, d, m, atword, out, w, strip, q) {
	n = length(line)
	out = ""
	lastesc = 0
	for (i = 1; i <= n; i++) {
		c = substr(line, i, 1)
		d = substr(line, i + 1, 1)
		m = sp ? stk[sp] : "U"
		if (m == "S") {
			if (c == "\047") sp--
			out = out "_"
			continue
		}
		if (m == "A" || m == "D" || m == "B") {
			if (c == "\\") { out = out "__"; i++; continue }
			if ((m == "A" && c == "\047") || (m == "D" && c == "\"") || (m == "B" && c == "`")) {
				sp--; out = out "_"; continue
			}
			if (m != "A" && c == "$" && d == "(") { push("C"); out = out "__"; i++; continue }
			if (m == "D" && c == "`") { push("B"); out = out "_"; continue }
			if (m == "B") {
				if (c == "\047") push("S")
				else if (c == "\"") push("D")
			}
			out = out "_"
			continue
		}
		# U (top level) or C (inside $(...)): unquoted text.
		atword = (i == 1 || substr(line, i - 1, 1) ~ /[ \t;&|()]/)
		if (c == "#" && atword) break
		if (c == "\\") {
			if (i == n) { lastesc = 1; break }
			out = out (m == "U" ? c d : "__"); i++; continue
		}
		if (c == "\047") { push("S"); out = out "_"; continue }
		if (c == "\"") { push("D"); out = out "_"; continue }
		if (c == "`") { push("B"); out = out "_"; continue }
		if (c == "$" && d == "\047") { push("A"); out = out "__"; i++; continue }
		if (c == "$" && d == "(") { push("C"); out = out "__"; i++; continue }
		if (m == "C") {
			if (c == "(") pdepth[sp]++
			else if (c == ")") { if (pdepth[sp]) pdepth[sp]--; else sp-- }
			out = out "_"
			continue
		}
		if (c == "<" && d == "<" && substr(line, i + 2, 1) != "<" && (i == 1 || substr(line, i - 1, 1) != "<")) {
			i += 2
			strip = 0
			if (substr(line, i, 1) == "-") { strip = 1; i++ }
			while (substr(line, i, 1) ~ /[ \t]/) i++
			w = ""
			while (i <= n) {
				c = substr(line, i, 1)
				if (c == "\047" || c == "\"") {
					q = c; i++
					while (i <= n && substr(line, i, 1) != q) { w = w substr(line, i, 1); i++ }
					i++
					continue
				}
				if (c == "\\") { w = w substr(line, i + 1, 1); i += 2; continue }
				if (c ~ /[ \t;&|<>()]/) break
				w = w c; i++
			}
			i--
			if (w != "") { nhd++; hd_word[nhd] = w; hd_strip[nhd] = strip }
			out = out "<<_"
			continue
		}
		out = out c
	}
	return out
}

FNR == 1 {
	if (inblock) check_block()
	inblock = 0; reset_block()
	sp = 0; nhd = 0; hdi = 1
	cur_bare = ""; cur_raw = ""; cur_line = 0
}

{
	fname = FILENAME
	line = $0
	sub(/\r$/, "", line)
}

# A here-document body: skipped up to its delimiter.
nhd >= hdi {
	t = line
	if (hd_strip[hdi]) sub(/^\t+/, "", t)
	if (t == hd_word[hdi]) {
		hdi++
		if (hdi > nhd) { nhd = 0; hdi = 1 }
	}
	next
}

# The start and the end of a @test or a function, at the top level only.
sp == 0 && cur_line == 0 {
	if (!inblock && (line ~ /^@test[ \t].*[{][ \t]*(#.*)?$/ ||
	    line ~ /^(function[ \t]+)?[A-Za-z_][A-Za-z0-9_:.-]*[ \t]*\(\)[ \t]*[{][ \t]*(#.*)?$/ ||
	    line ~ /^function[ \t]+[A-Za-z_][A-Za-z0-9_:.-]*[ \t]*[{][ \t]*(#.*)?$/)) {
		inblock = 1; reset_block()
		lex(line)
		next
	}
	if (inblock && line ~ /^[}][ \t]*(#.*)?$/) {
		check_block()
		inblock = 0; reset_block()
		next
	}
}

{
	if (cur_line == 0) cur_line = FNR
	b = lex(line)
	cur_bare = cur_bare " " b
	cur_raw = cur_raw "\n" line
	if (sp > 0 || lastesc) next
	t = b
	sub(/[ \t]+$/, "", t)
	if (t ~ /(\||&&)$/) next
	statement()
}

END { if (inblock) check_block() }
'

# find's status is awk's too: a reader that broke must not read as a clean tree.
out=$(find "$@" -type f -name '*.bats' -exec awk "$prog" {} +) ||
	{ echo "lint-bats: could not read the .bats files" >&2; exit 2; }
# The same hole in another form: `[ A ] && [ B ]` as a statement. `set -e` ignores
# every command of an && list but the last, so when A fails the test goes on unless
# the line is its last; one test a line, or `|| false`, can fail. Reported when a
# line's statement is such a list of tests with no `||` after it.
and=$(find "$@" -type f -name '*.bats' -exec grep -nHE '^[[:space:]]*\[\[? .*\]\]? && \[\[? ' {} + | grep -v '||' |
	sed 's/^\([^:]*:[0-9]*\):.*/\1: a [ ] \&\& [ ] list: only its last test can fail the test (one a line)/')
out=$(printf '%s\n%s' "$out" "$and" | sed '/^$/d')
[ -z "$out" ] && exit 0
printf '%s\n' "$out" | sort -t: -k1,1 -k2,2n
exit 1
