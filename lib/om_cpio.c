#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_cpio.h"

void om_cpio_init(struct om_cpio *c, FILE *f)
{
	c->f = f;
	c->ino = 1000;
	c->off = 0;
	c->err = 0;
}

static int put(struct om_cpio *c, const void *p, size_t n)
{
	if (c->err)
		return -1;
	if (n && fwrite(p, 1, n, c->f) != n) {
		c->err = errno ? errno : EIO;
		return -1;
	}
	c->off += n;
	return 0;
}

static int align(struct om_cpio *c, unsigned to)
{
	static const char zeros[512];
	size_t n = (size_t)((to - c->off % to) % to);

	return put(c, zeros, n);
}

/* newc: a 110-byte ASCII header, "070701" and then 13 fields of 8 hex digits (the
 * mode is the 2nd, the file's size the 7th, the name's size with its NUL the 12th),
 * the name, the data; header and name together, and the data, padded to 4 bytes. */
enum { HDR = 110, F_MODE = 14, F_SIZE = 54, F_NAMESIZE = 94 };

static int header(struct om_cpio *c, const char *name, mode_t mode, uid_t uid, gid_t gid,
		  size_t size, unsigned rmaj, unsigned rmin)
{
	char h[111];
	size_t nlen = strlen(name) + 1;

	snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 c->ino++, (unsigned)mode, (unsigned)uid, (unsigned)gid, 1u, 0u, (unsigned)size, 0u,
		 0u, rmaj, rmin, (unsigned)nlen, 0u);
	if (put(c, h, HDR) < 0 || put(c, name, nlen) < 0)
		return -1;
	return align(c, 4);
}

int om_cpio_file(struct om_cpio *c, const char *name, mode_t perm, uid_t uid, gid_t gid,
		 const void *data, size_t len)
{
	if (header(c, name, S_IFREG | (perm & 07777), uid, gid, len, 0, 0) < 0 ||
	    put(c, data, len) < 0)
		return -1;
	return align(c, 4);
}

int om_cpio_copy(struct om_cpio *c, const char *name, const char *src)
{
	char buf[65536];
	struct stat st;
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	size_t left;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		c->err = fd < 0 ? errno : EINVAL;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (header(c, name, S_IFREG | (st.st_mode & 0755), 0, 0, (size_t)st.st_size, 0, 0) < 0) {
		close(fd);
		return -1;
	}
	left = (size_t)st.st_size;
	while (left > 0 && (r = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf))) > 0) {
		if (put(c, buf, (size_t)r) < 0)
			break;
		left -= (size_t)r;
	}
	close(fd);
	if (left > 0 && !c->err)
		c->err = EIO; /* the file shrank while it was copied */
	if (c->err)
		return -1;
	return align(c, 4);
}

int om_cpio_dir(struct om_cpio *c, const char *name, mode_t perm, uid_t uid, gid_t gid)
{
	return header(c, name, S_IFDIR | (perm & 07777), uid, gid, 0, 0, 0);
}

int om_cpio_symlink(struct om_cpio *c, const char *name, const char *target)
{
	size_t n = strlen(target);

	if (header(c, name, S_IFLNK | 0777, 0, 0, n, 0, 0) < 0 || put(c, target, n) < 0)
		return -1;
	return align(c, 4);
}

int om_cpio_chardev(struct om_cpio *c, const char *name, mode_t perm, unsigned maj, unsigned min)
{
	return header(c, name, S_IFCHR | (perm & 07777), 0, 0, 0, maj, min);
}

int om_cpio_finish(struct om_cpio *c)
{
	if (header(c, "TRAILER!!!", 0, 0, 0, 0, 0, 0) < 0 || align(c, 512) < 0)
		return -1;
	if (fflush(c->f) == EOF) {
		c->err = errno;
		return -1;
	}
	return 0;
}

static unsigned long field(const char *h, int at)
{
	char f[9];

	memcpy(f, h + at, 8);
	f[8] = 0;
	return strtoul(f, NULL, 16);
}

int om_cpio_first(int fd, const char *name, void *data, size_t cap, size_t *len)
{
	char h[HDR + 68];
	size_t nl = strlen(name) + 1, at = (HDR + nl + 3) & ~(size_t)3;
	unsigned long fsz;

	if (nl > 65 || pread(fd, h, at, 0) != (ssize_t)at || memcmp(h, "070701", 6) != 0 ||
	    field(h, F_NAMESIZE) != nl || memcmp(h + HDR, name, nl) != 0)
		return 0;
	fsz = field(h, F_SIZE);
	if ((field(h, F_MODE) & S_IFMT) != S_IFREG || fsz > cap || pread(fd, data, fsz, (off_t)at) != (ssize_t)fsz)
		return -1;
	*len = fsz;
	return 1;
}
