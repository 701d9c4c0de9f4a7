/* A small streaming JSON writer: escapes every string, tracks commas, one object per
 * line for JSON Lines. Invalid UTF-8 in a string is written as U+FFFD, so output is
 * always valid; bytes that must come back exact go through om_json_bytes. */
#ifndef OM_JSON_H
#define OM_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define OM_JSON_DEPTH 16

struct om_json {
	FILE *f;
	int depth;
	bool first[OM_JSON_DEPTH];
};

void om_json_init(struct om_json *j, FILE *f);
/* key is NULL inside arrays and at the top level. */
void om_json_obj_open(struct om_json *j, const char *key);
void om_json_obj_close(struct om_json *j);
void om_json_arr_open(struct om_json *j, const char *key);
void om_json_arr_close(struct om_json *j);
void om_json_str(struct om_json *j, const char *key, const char *val); /* NULL -> null */
void om_json_strn(struct om_json *j, const char *key, const char *val, size_t len);
void om_json_int(struct om_json *j, const char *key, long long val);
void om_json_bool(struct om_json *j, const char *key, bool val);
void om_json_null(struct om_json *j, const char *key);
/* Bytes that must come back exactly: as the string text_key when they are valid UTF-8,
 * else as b64_key, their base64 (a reader joins either form back into the bytes). */
void om_json_bytes(struct om_json *j, const char *text_key, const char *b64_key,
		   const unsigned char *p, size_t n);
/* Ends a top-level record: newline and flush. Returns 0, or -1 on a write error. */
int om_json_end(struct om_json *j);

/* Writes s[0..len) as a quoted JSON string. */
void om_json_quote(FILE *f, const char *s, size_t len);

#endif
