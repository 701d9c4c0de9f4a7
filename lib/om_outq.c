#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "om_outq.h"

int om_outq_open(struct om_outq *q, int fd, size_t bound)
{
	struct stat st;
	char path[32];

	memset(q, 0, sizeof(*q));
	q->fd = fd;
	q->bound = bound;
	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISSOCK(st.st_mode)) {
		q->how = OM_OUTQ_SEND;
		return 0;
	}
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		q->how = OM_OUTQ_BLOCK;
		return 0;
	}
	/* O_NONBLOCK on fd itself would change the file description that the shell, the
	 * terminal's other users or sshd share with us; a new description of the same
	 * pipe or terminal is ours alone. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (nfd < 0) {
		/* No /proc, or a description that cannot be opened again: poll before
		 * each write instead, which for a pipe is enough for PIPE_BUF bytes. */
		q->how = OM_OUTQ_POLL;
		return 0;
	}
	q->fd = nfd;
	q->how = OM_OUTQ_WRITE;
	return 0;
}

size_t om_outq_pending(const struct om_outq *q)
{
	return q->len - q->off;
}

size_t om_outq_room(const struct om_outq *q)
{
	size_t p = om_outq_pending(q);

	return p >= q->bound ? 0 : q->bound - p;
}

int om_outq_put(struct om_outq *q, const void *p, size_t n)
{
	if (!n)
		return 0; /* nothing to queue; and memcpy to a queue never used is UB */
	if (q->broken) {
		q->discarded += n;
		return 0;
	}
	if (q->off && q->off == q->len)
		q->off = q->len = 0;
	if (q->len + n > q->alloc) {
		/* Move what is left to the front before growing. */
		if (q->off) {
			memmove(q->buf, q->buf + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		if (q->len + n > q->alloc) {
			size_t a = q->alloc ? q->alloc : 4096;
			while (a < q->len + n)
				a *= 2;
			char *b = realloc(q->buf, a);
			if (!b)
				return -1;
			q->buf = b;
			q->alloc = a;
		}
	}
	memcpy(q->buf + q->len, p, n);
	q->len += n;
	return 0;
}

static ssize_t write_some(struct om_outq *q, const char *p, size_t n)
{
	if (q->how == OM_OUTQ_SEND)
		return send(q->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (q->how == OM_OUTQ_POLL) {
		/* A description we could not make non-blocking: write no more than a
		 * pipe takes at once after poll said it was writable. */
		struct pollfd pf = { q->fd, POLLOUT, 0 };
		if (poll(&pf, 1, 0) <= 0) {
			errno = EAGAIN;
			return -1;
		}
		if (n > 4096)
			n = 4096;
	}
	return write(q->fd, p, n);
}

size_t om_outq_flush(struct om_outq *q)
{
	while (!q->broken && q->off < q->len) {
		ssize_t w = write_some(q, q->buf + q->off, q->len - q->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			q->broken = true;
			q->discarded += q->len - q->off;
			q->off = q->len = 0;
			break;
		}
		q->off += (size_t)w;
	}
	if (q->off == q->len)
		q->off = q->len = 0;
	return om_outq_pending(q);
}

int om_outq_pollfd(const struct om_outq *q)
{
	return om_outq_pending(q) && !q->broken ? q->fd : -1;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t om_outq_drain(struct om_outq *q, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;

	while (om_outq_flush(q)) {
		int left = timeout_ms < 0 ? -1 : (int)(end - mono_ms());
		if (timeout_ms >= 0 && left <= 0)
			break;
		struct pollfd pf = { q->fd, POLLOUT, 0 };
		if (poll(&pf, 1, left) < 0 && errno != EINTR)
			break;
	}
	return om_outq_pending(q);
}

void om_outq_close(struct om_outq *q)
{
	if (q->how == OM_OUTQ_WRITE && q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	free(q->buf);
	q->buf = NULL;
	q->off = q->len = q->alloc = 0;
}
