/* Per-job state files: "key=value" lines, written atomically, mode 0600. */
#ifndef OM_STATE_H
#define OM_STATE_H
#include <stddef.h>

#define OM_STATE_MAX 48
#define OM_STATE_KEY 32
#define OM_STATE_VAL 256

struct om_state {
	size_t n;
	char key[OM_STATE_MAX][OM_STATE_KEY];
	char val[OM_STATE_MAX][OM_STATE_VAL];
};

/* Sets key to val (replacing an earlier value). 0, or -1 when full or too long, or
 * when either holds '=' (key) or a newline (either). */
int om_state_set(struct om_state *s, const char *key, const char *val);
const char *om_state_get(const struct om_state *s, const char *key);

/* Parses buf; lines that are not key=value are ignored. Returns the count of
 * malformed lines. */
int om_state_parse(struct om_state *s, const char *buf, size_t len);

/* Writes path atomically (temporary file, fsync, rename), mode 0600. 0 or -1. */
int om_state_write(const char *path, const struct om_state *s);
/* Reads path (at most 64 KiB). 0, or -1 with errno set. */
int om_state_read(const char *path, struct om_state *s);

#endif
