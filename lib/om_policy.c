/* The provider's policy, a requester's request and a bundle's header: strict parsers
 * (om_policy.h). Every input here is either the provider's own file, read by root, or
 * a stranger's words: nothing is accepted that is not named, in range and whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "om_jobid.h"
#include "om_num.h"
#include "om_policy.h"

enum kind { NUM, SIZE, BOOL, LIST, TEXT, PATHV, RANGE };

/* The keys: global ones (no offset in om_limits) and limits (a section may set them). */
struct key {
	const char *name;
	enum kind kind;
	uint64_t lo, hi;
	int limit; /* index of the limit bit, -1 for a global key */
};

#define G(n, k, lo, hi) { n, k, lo, hi, -1 }
static const struct key keys[] = {
	G("account", TEXT, 0, 0),
	G("slots", NUM, 1, 64),
	G("queue", NUM, 0, 1024),
	G("uid_range", RANGE, 1, 4294967294ULL),
	G("run_dir", PATHV, 0, 0),
	G("cache_dir", PATHV, 0, 0),
	G("disk_dir", PATHV, 0, 0),
	G("image_dir", PATHV, 0, 0),
	G("audit_log", PATHV, 0, 0),
	G("cgroup_parent", PATHV, 0, 0),
	{ "max_cpu", NUM, 1, 64, 0 },
	{ "max_memory", NUM, 64, 1048576, 1 },
	{ "default_memory", NUM, 64, 1048576, 2 },
	{ "memory_overhead", NUM, 0, 65536, 3 },
	{ "max_disk", NUM, 0, 1048576, 4 },
	{ "max_timeout", NUM, 1, 604800, 5 },
	{ "default_timeout", NUM, 1, 604800, 6 },
	{ "max_pids", NUM, 16, 1048576, 7 },
	{ "max_output_files", NUM, 1, 10000000, 8 },
	{ "max_input", SIZE, 0, 1ULL << 40, 9 },
	{ "max_output", SIZE, 0, 1ULL << 40, 10 },
	{ "max_image", SIZE, 0, 1ULL << 36, 11 },
	{ "allow_root", BOOL, 0, 1, 12 },
	{ "images", LIST, 0, 0, 13 },
	{ "max_boot_timeout", NUM, 1, 86400, 14 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void defaults(struct om_policy *p)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->account, "omerta");
	p->slots = 2;
	p->queue = 8;
	p->uid_lo = 61000;
	p->uid_hi = 61999;
	strcpy(p->audit_log, "/var/log/omerta/jobs.jsonl");
	p->base = (struct om_limits){ .max_cpu = 2, .max_memory = 2048, .default_memory = 256,
				      .memory_overhead = 256, .max_disk = 4096, .max_timeout = 3600,
				      .default_timeout = 600, .max_boot_timeout = 300, .max_pids = 1024, .max_output_files = 100000,
				      .max_input = 1ULL << 30, .max_output = 1ULL << 30,
				      .max_image = 1ULL << 30, .allow_root = false, .images = "*" };
}

/* SIZE: digits with an optional K, M, G or T (powers of 1024). */
static int parse_size(const char *s, uint64_t hi, uint64_t *out)
{
	char num[24];
	size_t n = strlen(s);
	unsigned shift = 0;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	default: break;
	}
	if (shift)
		num[--n] = '\0';
	if (om_parse_u64(num, 0, hi >> shift, out))
		return -1;
	*out <<= shift;
	return 0;
}

/* An image list: names of [a-z0-9._-] (not starting with '.' or '-') joined by
 * commas with optional spaces, or "*", or empty. Stored without the spaces. */
static int parse_list(const char *s, char *out, size_t outlen)
{
	size_t o = 0, w = 0;

	if (!strcmp(s, "*")) {
		strcpy(out, "*");
		return 0;
	}
	for (const char *c = s;; c++) {
		if (*c == ',' || *c == '\0') {
			if (w == 0 && (*c == ',' || o > 0))
				return -1; /* an empty name */
			if (*c == '\0')
				break;
			if (o + 1 >= outlen)
				return -1;
			out[o++] = ',';
			w = 0;
			while (c[1] == ' ')
				c++;
		} else if (*c == ' ') {
			while (*c == ' ')
				c++;
			if (*c != ',' && *c != '\0')
				return -1;
			c--;
		} else {
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
			      *c == '-') || (w == 0 && (*c == '.' || *c == '-')) || w >= 64 || o + 1 >= outlen)
				return -1;
			out[o++] = *c;
			w++;
		}
	}
	out[o] = '\0';
	return 0;
}

static int set_key(struct om_policy *p, struct om_limits *l, const struct key *k, const char *v,
		   char *why, size_t whylen)
{
	uint64_t n = 0, m = 0;
	const char *dash;

	switch (k->kind) {
	case NUM:
		if (om_parse_u64(v, k->lo, k->hi, &n))
			goto range;
		break;
	case SIZE:
		if (parse_size(v, k->hi, &n))
			goto range;
		break;
	case BOOL:
		if (!strcmp(v, "yes"))
			n = 1;
		else if (strcmp(v, "no")) {
			snprintf(why, whylen, "%s must be yes or no", k->name);
			return -1;
		}
		break;
	case LIST:
		if (parse_list(v, l->images, sizeof(l->images))) {
			snprintf(why, whylen, "images must be *, or image names (a-z, 0-9, '.', '_', '-') "
					      "separated by commas");
			return -1;
		}
		return 0;
	case TEXT: /* account: a user name as useradd takes it */
		if (!*v || strlen(v) >= sizeof(p->account) || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(v) ||
		    *v == '-') {
			snprintf(why, whylen, "account must be a user name (a-z, 0-9, '_', '-'; at most 32)");
			return -1;
		}
		strcpy(p->account, v);
		return 0;
	case PATHV: {
		char *dst = !strcmp(k->name, "run_dir")	  ? p->run_dir
			    : !strcmp(k->name, "cache_dir") ? p->cache_dir
			    : !strcmp(k->name, "disk_dir")  ? p->disk_dir
			    : !strcmp(k->name, "image_dir") ? p->image_dir
			    : !strcmp(k->name, "audit_log") ? p->audit_log
							    : p->cgroup_parent;
		/* Absolute, no "..", nothing a shell or a JSON line would need to quote. */
		if (v[0] != '/' || strlen(v) >= OM_POLICY_PATH || strstr(v, "/../") ||
		    (strlen(v) >= 3 && !strcmp(v + strlen(v) - 3, "/..")) ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") != strlen(v)) {
			snprintf(why, whylen, "%s must be an absolute path of letters, digits and /._-+", k->name);
			return -1;
		}
		strcpy(dst, v);
		return 0;
	}
	case RANGE:
		dash = strchr(v, '-');
		if (dash && (size_t)(dash - v) < 16) {
			char lo[16];
			memcpy(lo, v, (size_t)(dash - v));
			lo[dash - v] = '\0';
			if (!om_parse_u64(lo, k->lo, k->hi, &n) && !om_parse_u64(dash + 1, k->lo, k->hi, &m) &&
			    n <= m && m - n < 65536) {
				p->uid_lo = (unsigned)n;
				p->uid_hi = (unsigned)m;
				return 0;
			}
		}
		snprintf(why, whylen, "uid_range must be LO-HI, uids from 1, at most 65536 of them");
		return -1;
	}
	if (!strcmp(k->name, "slots"))
		p->slots = (unsigned)n;
	else if (!strcmp(k->name, "queue"))
		p->queue = (unsigned)n;
	else if (!strcmp(k->name, "max_cpu"))
		l->max_cpu = (unsigned)n;
	else if (!strcmp(k->name, "max_memory"))
		l->max_memory = (unsigned)n;
	else if (!strcmp(k->name, "default_memory"))
		l->default_memory = (unsigned)n;
	else if (!strcmp(k->name, "memory_overhead"))
		l->memory_overhead = (unsigned)n;
	else if (!strcmp(k->name, "max_disk"))
		l->max_disk = (unsigned)n;
	else if (!strcmp(k->name, "max_timeout"))
		l->max_timeout = (unsigned)n;
	else if (!strcmp(k->name, "default_timeout"))
		l->default_timeout = (unsigned)n;
	else if (!strcmp(k->name, "max_boot_timeout"))
		l->max_boot_timeout = (unsigned)n;
	else if (!strcmp(k->name, "max_pids"))
		l->max_pids = (unsigned)n;
	else if (!strcmp(k->name, "max_output_files"))
		l->max_output_files = (unsigned)n;
	else if (!strcmp(k->name, "max_input"))
		l->max_input = n;
	else if (!strcmp(k->name, "max_output"))
		l->max_output = n;
	else if (!strcmp(k->name, "max_image"))
		l->max_image = n;
	else if (!strcmp(k->name, "allow_root"))
		l->allow_root = n != 0;
	return 0;
range:
	if (k->kind == SIZE)
		snprintf(why, whylen, "%s must be a size from %llu to %llu bytes (K, M, G, T allowed)", k->name,
			 (unsigned long long)k->lo, (unsigned long long)k->hi);
	else
		snprintf(why, whylen, "%s must be a number from %llu to %llu", k->name, (unsigned long long)k->lo,
			 (unsigned long long)k->hi);
	return -1;
}

/* A section's limits over the globals: what it did not set comes from base. */
static void merge(const struct om_limits *base, const struct om_limits *sec, struct om_limits *out)
{
	*out = *base;
	for (size_t i = 0; i < NKEYS; i++) {
		int b = keys[i].limit;
		if (b < 0 || !(sec->set & (1u << b)))
			continue;
		switch (b) {
		case 0: out->max_cpu = sec->max_cpu; break;
		case 1: out->max_memory = sec->max_memory; break;
		case 2: out->default_memory = sec->default_memory; break;
		case 3: out->memory_overhead = sec->memory_overhead; break;
		case 4: out->max_disk = sec->max_disk; break;
		case 5: out->max_timeout = sec->max_timeout; break;
		case 6: out->default_timeout = sec->default_timeout; break;
		case 7: out->max_pids = sec->max_pids; break;
		case 8: out->max_output_files = sec->max_output_files; break;
		case 9: out->max_input = sec->max_input; break;
		case 10: out->max_output = sec->max_output; break;
		case 11: out->max_image = sec->max_image; break;
		case 12: out->allow_root = sec->allow_root; break;
		case 13: memcpy(out->images, sec->images, sizeof(out->images)); break;
		case 14: out->max_boot_timeout = sec->max_boot_timeout; break;
		}
	}
	out->set = 0;
}

static int consistent(const struct om_limits *l, char *why, size_t whylen)
{
	if (l->default_memory > l->max_memory) {
		snprintf(why, whylen, "default_memory %u is over max_memory %u", l->default_memory, l->max_memory);
		return -1;
	}
	if (l->default_timeout > l->max_timeout) {
		snprintf(why, whylen, "default_timeout %u is over max_timeout %u", l->default_timeout, l->max_timeout);
		return -1;
	}
	return 0;
}

static bool id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= OM_POLICY_ID)
		return false;
	/* A fingerprint (SHA256:base64) or a name: nothing else. */
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=:._-@") == n;
}

int om_policy_parse(const char *text, size_t len, struct om_policy *p, char *err, size_t errlen)
{
	char line[1024], why[200];
	size_t off = 0, lineno = 0;
	struct om_limits *cur;
	uint32_t gset = 0;

	defaults(p);
	cur = &p->base;
	if (len > OM_POLICY_MAX) {
		snprintf(err, errlen, "over %d bytes", OM_POLICY_MAX);
		return -1;
	}
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "a NUL byte: not a text file");
		return -1;
	}
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
		char *s, *e, *eq, *k, *v;

		lineno++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "line %zu: longer than %zu bytes", lineno, sizeof(line) - 1);
			return -1;
		}
		memcpy(line, text + off, n);
		line[n] = '\0';
		off += n + (nl ? 1 : 0);
		for (s = line; *s; s++)
			if ((unsigned char)*s < 0x20 && *s != '\t') {
				snprintf(err, errlen, "line %zu: a control character", lineno);
				return -1;
			}
		/* Comments: '#' at the start of a line or after a space. */
		for (s = line; *s; s++)
			if (*s == '#' && (s == line || s[-1] == ' ' || s[-1] == '\t')) {
				*s = '\0';
				break;
			}
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (!*s)
			continue;
		if (*s == '[') {
			if (e[-1] != ']' || strncmp(s, "[key ", 5)) {
				snprintf(err, errlen, "line %zu: a section is [key ID]", lineno);
				return -1;
			}
			e[-1] = '\0';
			k = s + 5;
			if (!id_ok(k)) {
				snprintf(err, errlen, "line %zu: a key ID is a fingerprint (SHA256:...) or a name", lineno);
				return -1;
			}
			for (size_t i = 0; i < p->nkeys; i++)
				if (!strcmp(p->keys[i].id, k)) {
					snprintf(err, errlen, "line %zu: [key %s] again", lineno, k);
					return -1;
				}
			if (p->nkeys == OM_POLICY_KEYS) {
				snprintf(err, errlen, "line %zu: more than %d key sections", lineno, OM_POLICY_KEYS);
				return -1;
			}
			strcpy(p->keys[p->nkeys].id, k);
			cur = &p->keys[p->nkeys].l;
			memset(cur, 0, sizeof(*cur));
			p->nkeys++;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "line %zu: want key = value", lineno);
			return -1;
		}
		k = s;
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
			;
		const struct key *kk = NULL;
		size_t ki = 0;
		for (; ki < NKEYS; ki++)
			if (!strcmp(keys[ki].name, k)) {
				kk = &keys[ki];
				break;
			}
		if (!kk) {
			char shown[64];
			snprintf(shown, sizeof(shown), "%.60s", k);
			for (char *c = shown; *c; c++)
				if ((unsigned char)*c > 0x7e)
					*c = '?';
			snprintf(err, errlen, "line %zu: unknown key '%s'", lineno, shown);
			return -1;
		}
		if (kk->limit < 0 && cur != &p->base) {
			snprintf(err, errlen, "line %zu: %s is global: it goes before the first [key]", lineno, kk->name);
			return -1;
		}
		uint32_t bit = kk->limit < 0 ? (1u << (16 + ki)) : (1u << kk->limit);
		uint32_t *set = kk->limit < 0 ? &gset : &cur->set;
		if (*set & bit) {
			snprintf(err, errlen, "line %zu: %s is set twice", lineno, kk->name);
			return -1;
		}
		*set |= bit;
		if (!*v) {
			if (kk->kind != LIST) {
				snprintf(err, errlen, "line %zu: %s has no value", lineno, kk->name);
				return -1;
			}
		}
		if (set_key(p, cur, kk, v, why, sizeof(why))) {
			snprintf(err, errlen, "line %zu: %s", lineno, why);
			return -1;
		}
	}
	p->base.set = 0;
	if (consistent(&p->base, why, sizeof(why))) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	for (size_t i = 0; i < p->nkeys; i++) {
		struct om_limits m;
		merge(&p->base, &p->keys[i].l, &m);
		if (consistent(&m, why, sizeof(why))) {
			snprintf(err, errlen, "[key %s]: %s", p->keys[i].id, why);
			return -1;
		}
	}
	return 0;
}

void om_policy_limits(const struct om_policy *p, const char *fp, const char *name, struct om_limits *out)
{
	const char *ids[2] = { fp, name };

	for (int w = 0; w < 2; w++) {
		if (!ids[w] || !*ids[w])
			continue;
		for (size_t i = 0; i < p->nkeys; i++)
			if (!strcmp(p->keys[i].id, ids[w])) {
				merge(&p->base, &p->keys[i].l, out);
				return;
			}
	}
	*out = p->base;
	out->set = 0;
}

bool om_policy_image_ok(const char *images, const char *name)
{
	size_t n = strlen(name);

	if (!strcmp(images, "*"))
		return true;
	for (const char *c = images; *c;) {
		const char *comma = strchr(c, ',');
		size_t w = comma ? (size_t)(comma - c) : strlen(c);
		if (w == n && !strncmp(c, name, n))
			return true;
		c += w + (comma ? 1 : 0);
	}
	return false;
}

/* --- the request ----------------------------------------------------------- */

static int num_word(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out, char *err,
		    size_t errlen)
{
	if (om_parse_u64(v, lo, hi, out)) {
		snprintf(err, errlen, "%s must be a number from %llu to %llu", opt, (unsigned long long)lo,
			 (unsigned long long)hi);
		return -1;
	}
	return 0;
}

static bool name_word(const char *v, size_t max)
{
	size_t n = strlen(v);
	return n > 0 && n <= max && v[0] != '.' && v[0] != '-' &&
	       strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int om_request_parse(const char *s, struct om_request *r, char *err, size_t errlen)
{
	char buf[OM_REQUEST_MAX + 1], *w[64], *save = NULL;
	size_t nw = 0, n = strlen(s);
	uint64_t v;

	memset(r, 0, sizeof(*r));
	strcpy(r->language, "sh");
	r->cpu = 1;
	if (n > OM_REQUEST_MAX) {
		snprintf(err, errlen, "a command over %d bytes", OM_REQUEST_MAX);
		return -1;
	}
	/* Words of letters, digits and ._=- only: no quoting, no shell. */
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._=- ") != n) {
		snprintf(err, errlen, "only omerta-provide --bundle and its options are allowed");
		return -1;
	}
	memcpy(buf, s, n + 1);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (nw == sizeof(w) / sizeof(w[0])) {
			snprintf(err, errlen, "too many words");
			return -1;
		}
		w[nw++] = t;
	}
	if (nw == 0 || strcmp(w[0], "--bundle")) {
		snprintf(err, errlen, "only omerta-provide --bundle and its options are allowed");
		return -1;
	}
	for (size_t i = 1; i < nw; i++) {
		char *o = w[i], *val = NULL, *eq = strchr(o, '=');
		if (eq && !strncmp(o, "--", 2)) {
			*eq = '\0';
			val = eq + 1;
		}
		bool takes = !strcmp(o, "--job-id") || !strcmp(o, "--language") || !strcmp(o, "--cpu") ||
			     !strcmp(o, "--memory") || !strcmp(o, "--timeout") || !strcmp(o, "--boot-timeout") ||
			     !strcmp(o, "--image") || !strcmp(o, "--disk") || !strcmp(o, "--output") ||
			     !strcmp(o, "--output-max") || !strcmp(o, "--output-max-files");
		if (takes && !val) {
			if (i + 1 >= nw) {
				snprintf(err, errlen, "%s needs a value", o);
				return -1;
			}
			val = w[++i];
		} else if (!takes && val) {
			snprintf(err, errlen, "%s takes no value", o);
			return -1;
		}
		if (!strcmp(o, "--job-id")) {
			if (!om_jobid_valid(val) || val[0] == '-') {
				snprintf(err, errlen, "--job-id must be 1 to 32 of A-Z a-z 0-9 _ -");
				return -1;
			}
			strcpy(r->job_id, val);
		} else if (!strcmp(o, "--language")) {
			if (strcmp(val, "sh") && strcmp(val, "bash") && strcmp(val, "python")) {
				snprintf(err, errlen, "--language must be sh, bash or python");
				return -1;
			}
			strcpy(r->language, val);
		} else if (!strcmp(o, "--cpu")) {
			if (num_word(o, val, 1, 64, &v, err, errlen))
				return -1;
			r->cpu = (unsigned)v, r->has_cpu = true;
		} else if (!strcmp(o, "--memory")) {
			if (num_word(o, val, 64, 1048576, &v, err, errlen))
				return -1;
			r->memory = (unsigned)v, r->has_memory = true;
		} else if (!strcmp(o, "--timeout")) {
			if (num_word(o, val, 1, 604800, &v, err, errlen))
				return -1;
			r->timeout = (unsigned)v, r->has_timeout = true;
		} else if (!strcmp(o, "--boot-timeout")) {
			if (num_word(o, val, 1, 86400, &v, err, errlen))
				return -1;
			r->boot_timeout = (unsigned)v, r->has_boot_timeout = true;
		} else if (!strcmp(o, "--image")) {
			if (!name_word(val, 64)) {
				snprintf(err, errlen, "--image must be an image name (a-z, 0-9, '.', '_', '-')");
				return -1;
			}
			strcpy(r->image, val);
		} else if (!strcmp(o, "--disk")) {
			if (num_word(o, val, 16, 1048576, &v, err, errlen))
				return -1;
			r->disk = (unsigned)v;
		} else if (!strcmp(o, "--output")) {
			if (strcmp(val, "-")) {
				snprintf(err, errlen, "--output must be - (the files come back on stdout)");
				return -1;
			}
			r->output = true;
		} else if (!strcmp(o, "--output-max")) {
			if (num_word(o, val, 1, 1ULL << 40, &v, err, errlen))
				return -1;
			r->output_max = v, r->has_output_max = true;
		} else if (!strcmp(o, "--output-max-files")) {
			if (num_word(o, val, 1, 10000000, &v, err, errlen))
				return -1;
			r->output_files = (unsigned)v, r->has_output_files = true;
		} else if (!strcmp(o, "--stdin")) {
			r->use_stdin = true;
		} else if (!strcmp(o, "--root")) {
			r->root = true;
		} else if (!strcmp(o, "--json")) {
			r->json = true;
		} else if (!strcmp(o, "-v") || !strcmp(o, "--verbose")) {
			r->verbose = true;
		} else {
			char shown[40];
			snprintf(shown, sizeof(shown), "%.32s", o);
			snprintf(err, errlen, "unknown option '%s'", shown);
			return -1;
		}
	}
	if (!r->job_id[0]) {
		snprintf(err, errlen, "--job-id is required");
		return -1;
	}
	return 0;
}

int om_request_words(const struct om_request *r, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "--bundle --job-id %s --language %s --cpu %u", r->job_id, r->language, r->cpu);
	size_t o;

#define ADD(...)                                                                    \
	do {                                                                        \
		o = (size_t)n;                                                      \
		if (n < 0 || o >= outlen)                                           \
			return -1;                                                  \
		n += snprintf(out + o, outlen - o, __VA_ARGS__);                    \
	} while (0)
	if (r->has_memory)
		ADD(" --memory %u", r->memory);
	if (r->has_timeout)
		ADD(" --timeout %u", r->timeout);
	if (r->has_boot_timeout)
		ADD(" --boot-timeout %u", r->boot_timeout);
	if (r->image[0])
		ADD(" --image %s", r->image);
	if (r->disk)
		ADD(" --disk %u", r->disk);
	if (r->output)
		ADD(" --output -");
	if (r->has_output_max)
		ADD(" --output-max %llu", (unsigned long long)r->output_max);
	if (r->has_output_files)
		ADD(" --output-max-files %u", r->output_files);
	if (r->use_stdin)
		ADD(" --stdin");
	if (r->root)
		ADD(" --root");
	if (r->json)
		ADD(" --json");
	if (r->verbose)
		ADD(" -v");
#undef ADD
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int om_bundle_parse(const char *line, struct om_bundle *b, char *err, size_t errlen)
{
	char buf[256], *w[8], *save = NULL;
	size_t nw = 0;
	uint64_t *f[6] = { &b->config, &b->script, &b->description, &b->env, &b->input, &b->image };
	static const uint64_t hi[6] = { 65536, 1048576, 1000, 65792, 1ULL << 40, 1ULL << 36 };

	memset(b, 0, sizeof(*b));
	if (strlen(line) >= sizeof(buf)) {
		snprintf(err, errlen, "a bundle header over %zu bytes", sizeof(buf) - 1);
		return -1;
	}
	strcpy(buf, line);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (nw == 8) { /* the magic, the version and six sizes */
			snprintf(err, errlen, "a bundle header with more fields than omerta-provide knows");
			return -1;
		}
		w[nw++] = t;
	}
	if (nw < 4 || strcmp(w[0], "omerta-bundle") || strcmp(w[1], "1")) {
		snprintf(err, errlen, "not an omerta bundle");
		return -1;
	}
	for (size_t i = 2; i < nw; i++)
		if (om_parse_u64(w[i], i < 4 ? 1 : 0, hi[i - 2], f[i - 2])) {
			snprintf(err, errlen, "a bundle header field out of range");
			return -1;
		}
	return 0;
}

int om_policy_grant(const struct om_limits *l, struct om_request *r, const struct om_bundle *b,
		    char *err, size_t errlen)
{
	if (r->cpu > l->max_cpu) {
		snprintf(err, errlen, "max_cpu %u: --cpu %u is over it", l->max_cpu, r->cpu);
		return -1;
	}
	if (!r->has_memory)
		r->memory = l->default_memory, r->has_memory = true;
	if (r->memory > l->max_memory) {
		snprintf(err, errlen, "max_memory %u: --memory %u is over it", l->max_memory, r->memory);
		return -1;
	}
	if (!r->has_timeout)
		r->timeout = l->default_timeout, r->has_timeout = true;
	if (r->timeout > l->max_timeout) {
		snprintf(err, errlen, "max_timeout %u: --timeout %u is over it", l->max_timeout, r->timeout);
		return -1;
	}
	/* The boot has a bound of its own, always given: omerta-execute's default (300 s)
	 * is not the provider's word. */
	if (!r->has_boot_timeout)
		r->boot_timeout = l->max_boot_timeout, r->has_boot_timeout = true;
	if (r->boot_timeout > l->max_boot_timeout) {
		snprintf(err, errlen, "max_boot_timeout %u: --boot-timeout %u is over it", l->max_boot_timeout,
			 r->boot_timeout);
		return -1;
	}
	if (r->disk > l->max_disk) {
		snprintf(err, errlen, "max_disk %u: --disk %u is over it", l->max_disk, r->disk);
		return -1;
	}
	if (r->root && !l->allow_root) {
		snprintf(err, errlen, "allow_root no: --root is not allowed");
		return -1;
	}
	if (r->image[0] && !om_policy_image_ok(l->images, r->image)) {
		snprintf(err, errlen, "images: --image %s is not allowed", r->image);
		return -1;
	}
	if (b->input > l->max_input) {
		snprintf(err, errlen, "max_input %llu: the input disk's %llu bytes are over it",
			 (unsigned long long)l->max_input, (unsigned long long)b->input);
		return -1;
	}
	if (b->image > l->max_image) {
		snprintf(err, errlen, "max_image %llu: the image's %llu bytes are over it",
			 (unsigned long long)l->max_image, (unsigned long long)b->image);
		return -1;
	}
	if (r->image[0] && b->image) {
		snprintf(err, errlen, "an image in the bundle and --image both");
		return -1;
	}
	if (r->output && l->max_output == 0) {
		snprintf(err, errlen, "max_output 0: no output comes back from this provider");
		return -1;
	}
	if (r->output) {
		if (!r->has_output_max)
			r->output_max = l->max_output, r->has_output_max = true;
		if (r->output_max > l->max_output) {
			snprintf(err, errlen, "max_output %llu: --output-max %llu is over it",
				 (unsigned long long)l->max_output, (unsigned long long)r->output_max);
			return -1;
		}
		if (!r->has_output_files)
			r->output_files = l->max_output_files, r->has_output_files = true;
		if (r->output_files > l->max_output_files) {
			snprintf(err, errlen, "max_output_files %u: --output-max-files %u is over it",
				 l->max_output_files, r->output_files);
			return -1;
		}
	} else if (r->has_output_max || r->has_output_files) {
		snprintf(err, errlen, "--output-max and --output-max-files go with --output -");
		return -1;
	}
	return 0;
}
