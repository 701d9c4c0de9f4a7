/* The host's outer edge: JSON records built in memory and queued whole, and the
 * workload's two streams on their way out (raw, escaped for a terminal, or as
 * "output" records). omerta-vmboot and omerta-watch both write through these. */
#ifndef OM_STREAM_H
#define OM_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "om_json.h"
#include "om_outq.h"

/* The bytes of one read at most, and the room a queue must have before one more
 * read. A read grows up to six times as JSON (\u0000 for each byte), so a queue
 * may pass its bound by up to about 98 KB: the bound is soft, the growth is not. */
#define OM_STREAM_CHUNK 16384
#define OM_STREAM_ROOM (4 * OM_STREAM_CHUNK)

long long om_clock_ms(void); /* Unix milliseconds */

/* One record: om_rec_begin opens {"event":NAME,"time_ms":...} and returns where
 * the fields go (r->j);
 * om_rec_end closes it and returns the line (with its newline), valid until the
 * next om_rec_begin, or NULL when out of memory. */
struct om_rec {
	struct om_json j;
	FILE *mem;
	char *buf;
	size_t len;
};
struct om_json *om_rec_begin(struct om_rec *r, const char *name);
const char *om_rec_end(struct om_rec *r, size_t *len);

/* Queues n bytes and writes what the reader takes now; a queue that cannot grow
 * counts them as discarded. */
void om_queue(struct om_outq *q, const void *p, size_t n);

struct om_stream {
	const char *name;      /* "stdout" or "stderr" */
	struct om_outq *json;  /* output records go here, when set */
	struct om_outq *raw;   /* else the bytes, escaped when tty */
	bool tty;
	unsigned char carry[4]; /* a UTF-8 sequence a read cut, waiting for its end */
	size_t ncarry;
};
struct om_outq *om_stream_queue(const struct om_stream *s);
bool om_stream_room(const struct om_stream *s);
/* n (at most OM_STREAM_CHUNK) bytes of the stream; final at its end. */
void om_stream_put(struct om_stream *s, const unsigned char *b, size_t n, bool final);

/* write(2) until all of p is written: 0, or -1 (errno set). */
int om_write_all(int fd, const void *p, size_t n);

#endif
