#include <string.h>
#include "om_json.h"

void om_json_init(struct om_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void om_json_quote(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	putc('"', f);
	while (i < n) {
		unsigned char c = p[i];
		switch (c) {
		case '"': fputs("\\\"", f); i++; continue;
		case '\\': fputs("\\\\", f); i++; continue;
		case '\n': fputs("\\n", f); i++; continue;
		case '\r': fputs("\\r", f); i++; continue;
		case '\t': fputs("\\t", f); i++; continue;
		case '\b': fputs("\\b", f); i++; continue;
		case '\f': fputs("\\f", f); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		size_t len = utf8_len(p + i, n - i);
		if (!len) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(p + i, 1, len, f);
		i += len;
	}
	putc('"', f);
}

static void sep(struct om_json *j, const char *key)
{
	if (!j->first[j->depth])
		putc(',', j->f);
	j->first[j->depth] = false;
	if (key) {
		om_json_quote(j->f, key, strlen(key));
		putc(':', j->f);
	}
}

static void open_(struct om_json *j, const char *key, int c)
{
	sep(j, key);
	putc(c, j->f);
	if (j->depth + 1 < OM_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct om_json *j, int c)
{
	putc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void om_json_obj_open(struct om_json *j, const char *key) { open_(j, key, '{'); }
void om_json_obj_close(struct om_json *j) { close_(j, '}'); }
void om_json_arr_open(struct om_json *j, const char *key) { open_(j, key, '['); }
void om_json_arr_close(struct om_json *j) { close_(j, ']'); }

void om_json_strn(struct om_json *j, const char *key, const char *val, size_t len)
{
	sep(j, key);
	om_json_quote(j->f, val, len);
}

void om_json_str(struct om_json *j, const char *key, const char *val)
{
	if (!val) {
		om_json_null(j, key);
		return;
	}
	om_json_strn(j, key, val, strlen(val));
}

void om_json_int(struct om_json *j, const char *key, long long val)
{
	sep(j, key);
	fprintf(j->f, "%lld", val);
}

void om_json_bool(struct om_json *j, const char *key, bool val)
{
	sep(j, key);
	fputs(val ? "true" : "false", j->f);
}

void om_json_null(struct om_json *j, const char *key)
{
	sep(j, key);
	fputs("null", j->f);
}

int om_json_end(struct om_json *j)
{
	putc('\n', j->f);
	j->depth = 0;
	j->first[0] = true;
	if (fflush(j->f) == EOF || ferror(j->f))
		return -1;
	return 0;
}
