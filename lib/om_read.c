#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "om_key.h"
#include "om_read.h"

int om_read_fd(int fd, size_t cap, char **out, size_t *outlen)
{
	/* One allocation of cap + 1 bytes: growing with realloc would leave copies of
	 * secrets behind in freed memory. */
	char *buf = malloc(cap + 2);
	size_t len = 0;

	if (!buf)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + len, cap + 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			om_read_free(buf, len);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > cap) {
			om_read_free(buf, len);
			return -2;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

int om_read_path(const char *path, size_t cap, char **buf, size_t *len)
{
	int fd, r, e;

	if (strcmp(path, "-") == 0)
		return om_read_fd(0, cap, buf, len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = om_read_fd(fd, cap, buf, len);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

void om_read_free(char *buf, size_t len)
{
	if (!buf)
		return;
	om_wipe(buf, len + 1);
	free(buf);
}

int om_write_knob(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r, e;

	if (fd < 0)
		return -1;
	r = write(fd, v, strlen(v)) == (ssize_t)strlen(v) ? 0 : -1;
	e = errno;
	close(fd);
	errno = e;
	return r;
}
