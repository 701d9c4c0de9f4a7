/* The provider's policy and a requester's request (lib/om_policy.c). */
#include <string.h>
#include "om_policy.h"
#include "t.h"

static struct om_policy p;

static int parse(const char *s, char *err, size_t n)
{
	return om_policy_parse(s, strlen(s), &p, err, n);
}

void t_policy(void)
{
	char err[300];
	struct om_request r;
	struct om_bundle b = { 0 };
	struct om_limits l;
	static const struct {
		const char *text, *want; /* want: NULL when it parses, else part of the error */
	} cases[] = {
		{ "", NULL },
		{ "# a comment\n\nslots = 3 # two\n", NULL },
		{ "slots=3\nqueue=0\n", NULL },
		{ "slots = 0\n", "line 1: slots must be a number from 1 to 64" },
		{ "slots = 3\nslots = 4\n", "line 2: slots is set twice" },
		{ "bogus = 1\n", "line 1: unknown key 'bogus'" },
		{ "slots\n", "line 1: want key = value" },
		{ "max_input = 2X\n", "max_input must be a size" },
		{ "max_input = 2G\n", NULL },
		{ "allow_root = maybe\n", "allow_root must be yes or no" },
		{ "images = a,,b\n", "images must be" },
		{ "images = a, b ,c\n", NULL },
		{ "images =\n", NULL },
		{ "[key x]\nslots = 3\n", "line 2: slots is global" },
		{ "[key x]\n[key x]\n", "line 2: [key x] again" },
		{ "[key x y]\n", "a key ID is" },
		{ "[nokey]\n", "a section is [key ID]" },
		{ "max_memory = 128\n", "default_memory 256 is over max_memory 128" },
		{ "[key k]\nmax_timeout = 10\n", "[key k]: default_timeout 600 is over max_timeout 10" },
		{ "run_dir = relative\n", "run_dir must be an absolute path" },
		{ "run_dir = /a/../b\n", "run_dir must be an absolute path" },
		{ "uid_range = 5-4\n", "uid_range must be LO-HI" },
		{ "uid_range = 100000-100099\n", NULL },
		{ "account = Root!\n", "account must be a user name" },
		{ "slots = 3\0\n", "a NUL byte" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].text) + (strstr(cases[i].want ? cases[i].want : "", "NUL") ? 2 : 0);
		int rc = om_policy_parse(cases[i].text, n, &p, err, sizeof(err));
		if (!cases[i].want)
			CHECK(rc == 0, "policy case %zu: %s", i, err);
		else
			CHECK(rc != 0 && strstr(err, cases[i].want), "policy case %zu: want '%s', got '%s'", i,
			      cases[i].want, rc ? err : "(parsed)");
	}
	/* A key's section over the globals; the fingerprint first, then the name. */
	CHECK(parse("max_memory = 1024\n[key SHA256:abc]\nmax_memory = 4096\n[key bee]\nallow_root = yes\n", err,
		    sizeof(err)) == 0, "sections: %s", err);
	om_policy_limits(&p, "SHA256:abc", "bee", &l);
	CHECK(l.max_memory == 4096 && !l.allow_root, "the fingerprint's section wins");
	om_policy_limits(&p, "", "bee", &l);
	CHECK(l.max_memory == 1024 && l.allow_root, "the name's section, over the globals");
	om_policy_limits(&p, "SHA256:zzz", NULL, &l);
	CHECK(l.max_memory == 1024 && !l.allow_root, "no section: the globals");

	/* Requests: the words of "omerta-provide --bundle ...". */
	CHECK(om_request_parse("--bundle --job-id j1 --memory 512 --json", &r, err, sizeof(err)) == 0, "%s", err);
	CHECK(om_request_parse("--job-id j1", &r, err, sizeof(err)) != 0, "no --bundle");
	CHECK(om_request_parse("--bundle", &r, err, sizeof(err)) != 0 && strstr(err, "--job-id is required"), "%s", err);
	CHECK(om_request_parse("--bundle --job-id j1 --script x", &r, err, sizeof(err)) != 0 &&
	      strstr(err, "unknown option '--script'"), "%s", err);
	CHECK(om_request_parse("--bundle --job-id j1; id", &r, err, sizeof(err)) != 0, "a ';'");
	CHECK(om_request_parse("--bundle --job-id $(id)", &r, err, sizeof(err)) != 0, "a '$('");
	CHECK(om_request_parse("--bundle --job-id j1 --output /etc", &r, err, sizeof(err)) != 0, "--output DIR");
	CHECK(om_request_parse("--bundle --job-id j1 --image ../x", &r, err, sizeof(err)) != 0, "--image ../x");
	CHECK(om_request_parse("--bundle --job-id j1 --stdin=1", &r, err, sizeof(err)) != 0, "a flag with a value");

	/* The grant: defaults filled, limits named. */
	parse("max_memory = 1024\nmax_timeout = 60\ndefault_timeout = 30\nimages = debian-python\n", err, sizeof(err));
	om_request_parse("--bundle --job-id j1", &r, err, sizeof(err));
	CHECK(om_policy_grant(&p.base, &r, &b, err, sizeof(err)) == 0 && r.memory == 256 && r.timeout == 30,
	      "defaults: memory %u timeout %u", r.memory, r.timeout);
	om_request_parse("--bundle --job-id j1 --memory 2048", &r, err, sizeof(err));
	CHECK(om_policy_grant(&p.base, &r, &b, err, sizeof(err)) != 0 &&
	      !strcmp(err, "max_memory 1024: --memory 2048 is over it"), "%s", err);
	om_request_parse("--bundle --job-id j1 --image other", &r, err, sizeof(err));
	CHECK(om_policy_grant(&p.base, &r, &b, err, sizeof(err)) != 0 && strstr(err, "images:"), "%s", err);
	om_request_parse("--bundle --job-id j1 --root", &r, err, sizeof(err));
	CHECK(om_policy_grant(&p.base, &r, &b, err, sizeof(err)) != 0 && strstr(err, "allow_root no"), "%s", err);
	CHECK(om_bundle_parse("omerta-bundle 1 10 20 0 0 2147483648", &b, err, sizeof(err)) == 0 && b.input == 2147483648ULL,
	      "bundle: %s", err);
	om_request_parse("--bundle --job-id j1", &r, err, sizeof(err));
	CHECK(om_policy_grant(&p.base, &r, &b, err, sizeof(err)) != 0 && strstr(err, "max_input"), "%s", err);
	CHECK(om_bundle_parse("omerta-bundle 2 10 20", &b, err, sizeof(err)) != 0, "version 2");
	CHECK(om_bundle_parse("omerta-bundle 1 0 20", &b, err, sizeof(err)) != 0, "an empty config");
	CHECK(om_bundle_parse("omerta-bundle 1 1 1 0 0 0 0 9", &b, err, sizeof(err)) != 0, "too many fields");
}
