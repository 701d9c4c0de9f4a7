/* One JSON Lines record, read strictly: what om_json writes, and nothing else. The
 * tools' event streams (vmboot's --events-fd, the jail's door) are JSON because
 * people read them with jq; the tools that read them back use this, never strstr.
 *
 * A record is one object. Its values are strings, integers, true, false, null, or
 * objects of the same (flattened: {"a":{"b":1}} gives the key "a.b"). Arrays,
 * fractions, exponents, duplicate keys, control bytes and anything after the
 * object are malformed. A string value longer than OM_JREC_VAL is checked but not
 * kept (an output record's data). */
#ifndef OM_JREC_H
#define OM_JREC_H
#include <stdbool.h>
#include <stddef.h>

#define OM_JREC_FIELDS 40
#define OM_JREC_KEY 48
#define OM_JREC_VAL 256

/* OM_J_LONG: a well-formed string too long to keep (om_jrec_str gives NULL). */
enum om_jtype { OM_J_STR, OM_J_LONG, OM_J_INT, OM_J_BOOL, OM_J_NULL };

struct om_jrec {
	size_t n;
	char key[OM_JREC_FIELDS][OM_JREC_KEY];
	char val[OM_JREC_FIELDS][OM_JREC_VAL]; /* strings unescaped; numbers as written */
	enum om_jtype type[OM_JREC_FIELDS];
	long long num[OM_JREC_FIELDS];
};

/* 0, or -1 when line[0..len) is not one such record (or holds more fields, longer
 * keys or longer values than fit). */
int om_jrec_parse(const char *line, size_t len, struct om_jrec *r);
/* A string field, or NULL when absent or not a string. */
const char *om_jrec_str(const struct om_jrec *r, const char *key);
/* An integer field: true and *v set, or false when absent, null or not a number. */
bool om_jrec_int(const struct om_jrec *r, const char *key, long long *v);
/* Whether key is present (with any value, null included). */
bool om_jrec_has(const struct om_jrec *r, const char *key);

#endif
