/* om_image: the header of an omerta image (omerta-mkimage(1)), the only part of an
 * image the host ever reads. An image may come from a requester (--image FILE over
 * SSH), so the header is hostile input: 4096 bytes of "key value" lines after the
 * magic line, NUL-padded, every key known, every value checked. */
#ifndef OM_IMAGE_H
#define OM_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#define OM_IMAGE_HEADER 4096

struct om_image {
	char fs[16];       /* "squashfs" */
	unsigned memory;   /* MiB, 64 to 65536 */
	char source[1024]; /* printable ASCII, for people */
	uint64_t bytes;    /* the whole file's size */
};

/* Parses a header of n bytes (at most OM_IMAGE_HEADER). 0, or -1 with a reason. */
int om_image_parse(const char *h, size_t n, struct om_image *im, char *err, size_t errlen);

/* Reads and parses path's header (a regular file, larger than the header). */
int om_image_read(const char *path, struct om_image *im, char *err, size_t errlen);

#endif
