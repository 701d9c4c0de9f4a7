#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "om_stream.h"
#include "om_text.h"

long long om_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct om_json *om_rec_begin(struct om_rec *r, const char *name)
{
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
	r->mem = open_memstream(&r->buf, &r->len);
	/* Without memory the record goes nowhere (om_rec_end says NULL); without even
	 * that, stop: the VM dies with its watcher, which fails closed. */
	FILE *f = r->mem ? r->mem : fopen("/dev/null", "we");
	if (!f)
		abort();
	om_json_init(&r->j, f);
	om_json_obj_open(&r->j, NULL);
	om_json_str(&r->j, "event", name);
	om_json_int(&r->j, "time_ms", om_clock_ms());
	return &r->j;
}

const char *om_rec_end(struct om_rec *r, size_t *len)
{
	om_json_obj_close(&r->j);
	om_json_end(&r->j);
	if (!r->mem) {
		if (r->j.f)
			fclose(r->j.f);
		return NULL;
	}
	fclose(r->mem);
	r->mem = NULL;
	*len = r->len;
	return r->buf;
}

void om_queue(struct om_outq *q, const void *p, size_t n)
{
	if (om_outq_put(q, p, n) < 0)
		q->discarded += n;
	om_outq_flush(q);
}

struct om_outq *om_stream_queue(const struct om_stream *s)
{
	return s->json ? s->json : s->raw;
}

bool om_stream_room(const struct om_stream *s)
{
	return om_outq_room(om_stream_queue(s)) >= OM_STREAM_ROOM;
}

static void put_record(struct om_stream *s, const unsigned char *b, size_t n)
{
	struct om_rec r = { 0 };
	size_t len;
	const char *line;

	om_rec_begin(&r, "output");
	om_json_str(&r.j, "stream", s->name);
	om_json_bytes(&r.j, "data", "data_base64", b, n);
	if ((line = om_rec_end(&r, &len)))
		om_queue(s->json, line, len);
	free(r.buf);
}

void om_stream_put(struct om_stream *s, const unsigned char *b, size_t n, bool final)
{
	unsigned char in[OM_STREAM_CHUNK + 4];
	size_t len = s->ncarry, used = 0;

	if (n > OM_STREAM_CHUNK)
		n = OM_STREAM_CHUNK;
	memcpy(in, s->carry, s->ncarry);
	memcpy(in + len, b, n);
	len += n;
	if (s->json) {
		size_t keep = final ? 0 : om_utf8_tail(in, len);
		if (len > keep)
			put_record(s, in, len - keep);
		used = len - keep;
	} else if (s->tty) {
		char out[4 * (OM_STREAM_CHUNK + 4)];
		size_t o = om_tty_escape(in, len, final, out, &used);
		om_queue(s->raw, out, o);
	} else {
		om_queue(s->raw, in, len);
		used = len;
	}
	s->ncarry = len - used;
	memmove(s->carry, in + used, s->ncarry);
}

int om_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}
