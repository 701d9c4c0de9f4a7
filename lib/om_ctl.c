#include <stdio.h>
#include <string.h>
#include "om_ctl.h"
#include "om_num.h"

static bool word_ok(const char *s, size_t n, size_t max)
{
	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return false;
	return true;
}

int om_ctl_parse(const char *line, size_t len, struct om_ctl_rec *r)
{
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	r->t = -1;
	if (len == 0 || len > OM_CTL_LINE_MAX)
		return -1;
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)line[k] < 0x20 || (unsigned char)line[k] > 0x7e)
			return -1;
	while (i < len && line[i] != ' ')
		i++;
	if (!word_ok(line, i, sizeof(r->event)))
		return -1;
	memcpy(r->event, line, i);
	while (i < len) {
		size_t ks, ke, ve;
		if (line[i] != ' ')
			return -1;
		ks = ++i;
		while (i < len && line[i] != '=' && line[i] != ' ')
			i++;
		if (i >= len || line[i] != '=')
			return -1;
		ke = i++;
		while (i < len && line[i] != ' ')
			i++;
		ve = i;
		if (r->n == OM_CTL_FIELDS || !word_ok(line + ks, ke - ks, sizeof(r->key[0])) ||
		    ve - ke - 1 == 0 || ve - ke - 1 >= sizeof(r->val[0]))
			return -1;
		memcpy(r->key[r->n], line + ks, ke - ks);
		memcpy(r->val[r->n], line + ke + 1, ve - ke - 1);
		r->n++;
	}
	const char *t = om_ctl_get(r, "t");
	if (t) {
		uint64_t v;
		if (om_parse_u64(t, 0, 1ULL << 40, &v) < 0)
			return -1;
		r->t = (long long)v;
	}
	return 0;
}

const char *om_ctl_get(const struct om_ctl_rec *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

long long om_ctl_num(const struct om_ctl_rec *r, const char *key, long long max)
{
	const char *v = om_ctl_get(r, key);
	uint64_t n;

	if (!v || om_parse_u64(v, 0, (uint64_t)max, &n) < 0)
		return -1;
	return (long long)n;
}

int om_ctl_vformat(char *b, size_t n, long long t, const char *fmt, va_list ap)
{
	int k = vsnprintf(b, n, fmt, ap);

	if (k < 0 || (size_t)k >= n)
		return -1;
	int m = snprintf(b + k, n - (size_t)k, " t=%lld\n", t);
	if (m < 0 || (size_t)(k + m) >= n || (size_t)(k + m) > OM_CTL_LINE_MAX + 1)
		return -1;
	return k + m;
}
