#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_state.h"
#include "t.h"

void t_state(void)
{
	struct om_state *s = calloc(1, sizeof(*s)), *r = calloc(1, sizeof(*r));
	char path[] = "/tmp/om-unit-state-XXXXXX";
	int fd;

	CHECK(om_state_set(s, "a", "1") == 0 && om_state_set(s, "b", "x=y") == 0, "set");
	CHECK(om_state_set(s, "a", "2") == 0 && s->n == 2, "replace keeps one entry");
	CHECK(strcmp(om_state_get(s, "a"), "2") == 0, "get replaced");
	CHECK(om_state_get(s, "zz") == NULL, "absent key");
	CHECK(om_state_set(s, "k=v", "1") < 0, "key with =");
	CHECK(om_state_set(s, "k", "a\nb") < 0, "value with newline");
	CHECK(om_state_set(s, "", "x") < 0, "empty key");

	static const struct {
		const char *text;
		int bad;
		size_t n;
	} cases[] = {
		{ "a=1\nb=2\n", 0, 2 },
		{ "a=1\nnoequals\n\n=x\n", 2, 1 },
		{ "k=v=w", 0, 1 },
		{ "", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int bad = om_state_parse(r, cases[i].text, strlen(cases[i].text));
		CHECK(bad == cases[i].bad && r->n == cases[i].n, "parse case %zu: bad %d n %zu", i, bad,
		      r->n);
	}
	CHECK(om_state_parse(r, "k=v=w", 5) == 0 && strcmp(om_state_get(r, "k"), "v=w") == 0,
	      "value keeps '='");
	{
		char big[2000];
		memset(big, 'x', sizeof(big));
		memcpy(big, "k=", 2);
		CHECK(om_state_parse(r, big, sizeof(big)) == 1 && r->n == 0, "overlong line refused");
		CHECK(om_state_parse(r, "a=\0b\n", 5) == 1, "NUL refused");
	}

	fd = mkstemp(path);
	close(fd);
	unlink(path);
	CHECK(om_state_write(path, s) == 0, "write");
	CHECK(om_state_read(path, r) == 0 && r->n == 2 && strcmp(om_state_get(r, "b"), "x=y") == 0,
	      "read back");
	{
		struct stat st;
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "state file mode 0600");
	}
	unlink(path);
	free(s);
	free(r);
}
