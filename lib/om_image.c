#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_image.h"

#define BAD(...) (snprintf(err, errlen, __VA_ARGS__), -1)

int om_image_parse(const char *h, size_t n, struct om_image *im, char *err, size_t errlen)
{
	static const char magic[] = "omerta-image 1\n";
	size_t o = sizeof(magic) - 1, end;
	int have_fs = 0, have_mem = 0;

	memset(im, 0, sizeof(*im));
	if (n < o || memcmp(h, magic, o) != 0)
		return BAD("not an omerta image (no 'omerta-image 1' header)");
	end = o;
	while (end < n && h[end])
		end++;
	for (size_t i = end; i < n; i++)
		if (h[i])
			return BAD("the image header has bytes after its end");
	if (end == n)
		return BAD("the image header has no end");
	while (o < end) {
		const char *l = h + o, *nl = memchr(l, '\n', end - o), *sp;
		size_t len;
		if (!nl)
			return BAD("the image header's last line has no newline");
		len = (size_t)(nl - l);
		o += len + 1;
		sp = memchr(l, ' ', len);
		if (!sp || sp == l || sp + 1 == nl)
			return BAD("a malformed line in the image header");
		for (const char *c = l; c < nl; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				return BAD("a control or non-ASCII byte in the image header");
		size_t kl = (size_t)(sp - l), vl = (size_t)(nl - sp - 1);
		const char *v = sp + 1;
		if (kl == 2 && !memcmp(l, "fs", 2)) {
			if (have_fs++ || vl != 8 || memcmp(v, "squashfs", 8))
				return BAD("the image's fs must be squashfs, once");
			memcpy(im->fs, v, vl);
		} else if (kl == 6 && !memcmp(l, "memory", 6)) {
			unsigned long m = 0;
			if (have_mem++ || vl < 2 || vl > 5 || v[0] == '0')
				return BAD("the image's memory must be 64 to 65536 MiB, once");
			for (size_t i = 0; i < vl; i++) {
				if (v[i] < '0' || v[i] > '9')
					return BAD("the image's memory must be 64 to 65536 MiB, once");
				m = m * 10 + (unsigned long)(v[i] - '0');
			}
			if (m < 64 || m > 65536)
				return BAD("the image's memory must be 64 to 65536 MiB, once");
			im->memory = (unsigned)m;
		} else if (kl == 6 && !memcmp(l, "source", 6)) {
			if (*im->source || vl >= sizeof(im->source) || memchr(v, '"', vl) || memchr(v, '\\', vl))
				return BAD("the image's source: once, at most 1023 bytes, no quote or backslash");
			memcpy(im->source, v, vl);
		} else {
			return BAD("an unknown key in the image header");
		}
	}
	if (!have_fs || !have_mem)
		return BAD("the image header lacks fs or memory");
	return 0;
}

int om_image_read(const char *path, struct om_image *im, char *err, size_t errlen)
{
	char h[OM_IMAGE_HEADER];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return BAD("%s: %s", path, errno == ENOENT ? "no such image" : strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= OM_IMAGE_HEADER) {
		close(fd);
		return BAD("%s: not an omerta image (not a file, or too short)", path);
	}
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h))
		return BAD("%s: cannot read its header", path);
	if (om_image_parse(h, sizeof(h), im, err, errlen) < 0) {
		char e[256];
		snprintf(e, sizeof(e), "%s", err);
		return BAD("%s: %s", path, e);
	}
	im->bytes = (uint64_t)st.st_size;
	return 0;
}
