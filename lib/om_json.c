#include <string.h>
#include "om_json.h"
#include "om_text.h"

void om_json_init(struct om_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
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
		size_t len = om_utf8_len(p + i, n - i);
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

void om_json_bytes(struct om_json *j, const char *text_key, const char *b64_key,
		   const unsigned char *p, size_t n)
{
	if (om_utf8_valid(p, n)) {
		om_json_strn(j, text_key, (const char *)p, n);
		return;
	}
	char b[4096];
	sep(j, b64_key);
	putc('"', j->f);
	/* 3072 bytes in, 4096 out: whole groups, so the pieces join into one base64. */
	for (size_t i = 0; i < n; i += 3072) {
		size_t k = n - i < 3072 ? n - i : 3072;
		om_base64(p + i, k, b);
		fwrite(b, 1, om_base64_len(k), j->f);
	}
	putc('"', j->f);
}
