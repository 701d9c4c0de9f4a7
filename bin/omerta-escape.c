/* omerta-escape: makes a stream safe for a terminal. omerta submit puts it between a
 * provider's output and the requester's terminal: the bytes come from a stranger's
 * job on a stranger's machine, and an escape sequence (OSC 52 writes the clipboard,
 * others set titles or move the cursor) must not reach the terminal raw. Printable
 * ASCII, newline, tab and printable UTF-8 pass; every other byte becomes \xNN. */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "om_stream.h"
#include "om_text.h"

int main(int argc, char **argv)
{
	static unsigned char in[16384 + 4];
	static char out[4 * sizeof(in)];
	size_t have = 0;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts("usage: omerta-escape <IN >OUT\n\n"
		     "Copies stdin to stdout with control bytes, escape sequences and bytes that are\n"
		     "not UTF-8 written as \\xNN. Exit status: 0, or 1 on a read or write error.");
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		puts("omerta-escape " OMERTA_VERSION);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: omerta-escape <IN >OUT\n");
		return 2;
	}
	for (;;) {
		ssize_t n = read(STDIN_FILENO, in + have, sizeof(in) - 4 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err(1, "read");
		size_t used, o = om_tty_escape(in, have + (size_t)n, n == 0, out, &used);
		if (om_write_all(STDOUT_FILENO, out, o) < 0)
			err(1, "write");
		have = have + (size_t)n - used;
		memmove(in, in + used, have);
		if (n == 0)
			return 0;
	}
}
