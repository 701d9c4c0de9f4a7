#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "om_jrec.h"

struct in {
	const char *p, *end;
	struct om_jrec *r;
	int depth;
};

static void ws(struct in *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
		s->p++;
}

static int lit(struct in *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
		return -1;
	s->p += n;
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Appends code point cp as UTF-8; -1 when it does not fit. */
static int put_cp(char *out, size_t cap, size_t *o, unsigned cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80)
		b[0] = (char)cp, n = 1;
	else if (cp < 0x800)
		b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 63)), n = 2;
	else
		b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | (cp >> 6 & 63)), b[2] = (char)(0x80 | (cp & 63)),
		n = 3;
	if (*o + n >= cap)
		return -1;
	memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

static int escape(struct in *s, char *out, size_t cap, size_t *o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *k;
	unsigned cp = 0;

	if (s->p >= s->end)
		return -1;
	if (*s->p != 'u') {
		if (!(k = strchr(from, *s->p)) || !*s->p || *o + 1 >= cap)
			return -1;
		out[(*o)++] = to[k - from];
		s->p++;
		return 0;
	}
	s->p++;
	for (int i = 0; i < 4; i++) {
		int h = s->p < s->end ? hexval(*s->p++) : -1;
		if (h < 0)
			return -1;
		cp = cp << 4 | (unsigned)h;
	}
	/* om_json writes \u only for controls and U+FFFD: no surrogate pairs. */
	if (cp >= 0xd800 && cp <= 0xdfff)
		return -1;
	return put_cp(out, cap, o, cp);
}

/* A string into out (NUL-terminated, at most cap - 1 bytes). One that does not fit
 * is still checked to its end; *cut says so (the output records' data). */
static int string(struct in *s, char *out, size_t cap, bool *cut)
{
	size_t o = 0;
	char scratch[8];

	*cut = false;
	if (s->p >= s->end || *s->p++ != '"')
		return -1;
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p;
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (o + 4 >= cap)
			*cut = true;
		if (c == '\\') {
			size_t so = 0;
			s->p++;
			if (escape(s, *cut ? scratch : out, *cut ? sizeof(scratch) : cap, *cut ? &so : &o) < 0)
				return -1;
		} else {
			if (!*cut)
				out[o++] = (char)c;
			s->p++;
		}
	}
	if (s->p >= s->end)
		return -1;
	s->p++;
	out[*cut ? 0 : o] = '\0';
	return 0;
}

static int number(struct in *s, char *out, long long *v)
{
	const char *b = s->p;
	bool neg = false;
	unsigned long long n = 0;

	if (s->p < s->end && *s->p == '-')
		neg = true, s->p++;
	if (s->p >= s->end || *s->p < '0' || *s->p > '9' || (*s->p == '0' && s->p + 1 < s->end &&
							      s->p[1] >= '0' && s->p[1] <= '9'))
		return -1;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		unsigned d = (unsigned)(*s->p++ - '0');
		/* Checked before it can wrap: 18446744073709551620 must not read as 4. */
		if (n > ((unsigned long long)LLONG_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (s->p - b >= OM_JREC_VAL)
		return -1;
	memcpy(out, b, (size_t)(s->p - b));
	out[s->p - b] = '\0';
	*v = neg ? -(long long)n : (long long)n;
	return 0;
}

static int object(struct in *s, const char *prefix);

static int value(struct in *s, const char *key)
{
	struct om_jrec *r = s->r;
	size_t i = r->n;

	if (s->p < s->end && *s->p == '{')
		return object(s, key);
	for (size_t k = 0; k < r->n; k++)
		if (!strcmp(r->key[k], key))
			return -1; /* a duplicate key: which one would count? */
	if (i == OM_JREC_FIELDS || strlen(key) >= OM_JREC_KEY)
		return -1;
	strcpy(r->key[i], key);
	r->num[i] = 0;
	if (s->p < s->end && *s->p == '"') {
		bool cut;
		if (string(s, r->val[i], OM_JREC_VAL, &cut) < 0)
			return -1;
		r->type[i] = cut ? OM_J_LONG : OM_J_STR;
	} else if (lit(s, "true") == 0 || lit(s, "false") == 0) {
		r->type[i] = OM_J_BOOL;
		r->num[i] = s->p[-1] == 'e' && s->p[-2] == 'u';
		strcpy(r->val[i], r->num[i] ? "true" : "false");
	} else if (lit(s, "null") == 0) {
		r->type[i] = OM_J_NULL;
		r->val[i][0] = '\0';
	} else {
		r->type[i] = OM_J_INT;
		if (number(s, r->val[i], &r->num[i]) < 0)
			return -1;
	}
	r->n++;
	return 0;
}

static int object(struct in *s, const char *prefix)
{
	char key[OM_JREC_KEY], full[OM_JREC_KEY * 2];

	if (++s->depth > 4 || s->p >= s->end || *s->p++ != '{')
		return -1;
	ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		bool cut;
		ws(s);
		if (string(s, key, sizeof(key), &cut) < 0 || cut || !key[0])
			return -1;
		ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return -1;
		ws(s);
		snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", key);
		if (value(s, full) < 0)
			return -1;
		ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			s->depth--;
			return 0;
		}
		return -1;
	}
}

int om_jrec_parse(const char *line, size_t len, struct om_jrec *r)
{
	struct in s = { line, line + len, r, 0 };

	r->n = 0;
	if (len && line[len - 1] == '\n')
		s.end--;
	ws(&s);
	if (object(&s, "") < 0)
		return -1;
	ws(&s);
	return s.p == s.end ? 0 : -1;
}

static int find(const struct om_jrec *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->key[i], key))
			return (int)i;
	return -1;
}

const char *om_jrec_str(const struct om_jrec *r, const char *key)
{
	int i = find(r, key);

	return i >= 0 && r->type[i] == OM_J_STR ? r->val[i] : NULL;
}

bool om_jrec_int(const struct om_jrec *r, const char *key, long long *v)
{
	int i = find(r, key);

	if (i < 0 || r->type[i] != OM_J_INT)
		return false;
	*v = r->num[i];
	return true;
}

bool om_jrec_has(const struct om_jrec *r, const char *key)
{
	return find(r, key) >= 0;
}
