/* A bounded output queue that never blocks its owner: what the owner has to say is
 * queued, and written only as far as the reader takes it. omerta-watch and
 * omerta-vmboot kill and time out VMs from one poll loop; a reader that stops
 * reading (a stalled SSH session, a full pipe) must never stop that loop.
 *
 * The owner reads its sources only while om_outq_room() says there is room, so a
 * stalled reader holds the guest back (its writes block inside the VM) instead of
 * losing its bytes. Records that must not wait (verdicts) are queued past the bound:
 * they are few and small. */
#ifndef OM_OUTQ_H
#define OM_OUTQ_H
#include <stdbool.h>
#include <stddef.h>

struct om_outq {
	int fd;            /* written without blocking: see om_outq_open */
	int how;           /* OM_OUTQ_WRITE, _SEND, _POLL or _BLOCK */
	char *buf;
	size_t off, len, alloc;
	size_t bound;      /* om_outq_room() is 0 at or past this many queued bytes */
	bool broken;       /* the reader is gone: what is queued later is discarded */
	unsigned long long discarded;
};

enum { OM_OUTQ_WRITE, OM_OUTQ_SEND, OM_OUTQ_POLL, OM_OUTQ_BLOCK };

/* Sets q up to write to fd without blocking and without touching the flags that fd
 * shares with other processes: a pipe, FIFO or terminal is opened again through
 * /proc/self/fd (a description of our own, made O_NONBLOCK); a socket is written
 * with MSG_DONTWAIT; a regular file is written as it is (a disk does not stall on a
 * reader). 0, or -1 with errno set. */
int om_outq_open(struct om_outq *q, int fd, size_t bound);
/* How many bytes may still be queued before the bound. */
size_t om_outq_room(const struct om_outq *q);
size_t om_outq_pending(const struct om_outq *q);
/* Queues n bytes (past the bound if need be: the caller checks om_outq_room before
 * it reads more from a source). 0, or -1 when out of memory. */
int om_outq_put(struct om_outq *q, const void *p, size_t n);
/* Writes what the reader takes now. Returns the bytes still queued. A reader that
 * has gone (EPIPE and the like) marks q broken: its bytes are counted as discarded. */
size_t om_outq_flush(struct om_outq *q);
/* Blocks until everything is written, the reader is gone, or timeout_ms passes
 * (-1: no limit). Returns the bytes still queued. For the end of a run, when
 * nothing else waits on the owner. */
size_t om_outq_drain(struct om_outq *q, int timeout_ms);
/* The fd to poll for POLLOUT, or -1 when nothing is queued. */
int om_outq_pollfd(const struct om_outq *q);
/* Frees the queue and closes the description om_outq_open made (never fd itself). */
void om_outq_close(struct om_outq *q);

#endif
