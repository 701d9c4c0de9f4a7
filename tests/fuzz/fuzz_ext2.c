/* libFuzzer target: om_ext2_walk, the reader of a job's output disk. The image is
 * the guest's own, written by a root workload if it likes: every offset in it is an
 * attacker's. Nothing may be read outside the image, and what reaches the callbacks
 * must already be a tree of plain names: no '/', no control byte, no "." or "..". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "om_ext2.h"
#include "fuzz.h"

static uint64_t left;

static void check_path(const char *p)
{
	const char *c = p;

	if (!*p || *p == '/')
		abort();
	for (; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			abort();
	for (c = p;;) {
		const char *sl = strchr(c, '/');
		size_t n = sl ? (size_t)(sl - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			abort();
		if (!sl)
			break;
		c = sl + 1;
	}
}

static int on_dir(void *ctx, const char *path, unsigned mode, long long mtime)
{
	(void)ctx, (void)mtime;
	check_path(path);
	if (mode & ~0777u)
		abort();
	return 0;
}

static int on_file(void *ctx, const char *path, unsigned mode, long long mtime, uint64_t size)
{
	(void)ctx, (void)mtime;
	check_path(path);
	if (mode & ~0777u)
		abort();
	left = size;
	return 0;
}

static int on_data(void *ctx, const void *p, size_t n)
{
	(void)ctx, (void)p;
	if (n > left) /* more bytes than the file said */
		abort();
	left -= n;
	return 0;
}

int fuzz_ext2(const uint8_t *data, size_t size)
{
	static const struct om_ext2_cb cb = { on_dir, on_file, on_data };
	const struct om_ext2_limits lim = { 1u << 20, 1000 };
	char err[256];
	int fd = memfd_create("ext2", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size)
		om_ext2_walk(fd, size, &lim, &cb, NULL, err, sizeof(err));
	close(fd);
	return 0;
}
