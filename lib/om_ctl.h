/* The guest's control records ("EVENT key=value ... t=MS"), parsed strictly: the
 * guest is untrusted, and a record it forges may only shorten its own job. */
#ifndef OM_CTL_H
#define OM_CTL_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define OM_CTL_LINE_MAX 256
#define OM_CTL_FIELDS 8

struct om_ctl_rec {
	char event[32];
	size_t n;
	char key[OM_CTL_FIELDS][24];
	char val[OM_CTL_FIELDS][64];
	long long t; /* -1 when absent */
};

/* Parses one line (without its newline). 0, or -1 when malformed: an event or key
 * outside [a-z_], a value with bytes outside printable ASCII, too many or too long
 * fields, a t= that is not a number. */
int om_ctl_parse(const char *line, size_t len, struct om_ctl_rec *r);
const char *om_ctl_get(const struct om_ctl_rec *r, const char *key);
/* A field as a number in [0, max]; -1 when absent or not a number. */
long long om_ctl_num(const struct om_ctl_rec *r, const char *key, long long max);

/* Formats one record, "EVENT key=value ... t=MS\n", into b: what the guest writes
 * and om_ctl_parse reads. Returns its length, or -1 when it would not fit in b or
 * in OM_CTL_LINE_MAX. */
int om_ctl_vformat(char *b, size_t n, long long t, const char *fmt, va_list ap);

#endif
