/* libFuzzer target: om_image_parse, the header of an image a requester may send
 * (omerta submit --image FILE over SSH). Whatever it accepts must hold its promise:
 * squashfs, a memory of 64 to 65536 MiB, a printable source without quotes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_image.h"
#include "fuzz.h"

int fuzz_image(const uint8_t *data, size_t size)
{
	struct om_image im;
	char err[256];

	if (size > OM_IMAGE_HEADER)
		size = OM_IMAGE_HEADER;
	if (om_image_parse((const char *)data, size, &im, err, sizeof(err)) == 0) {
		if (strcmp(im.fs, "squashfs") || im.memory < 64 || im.memory > 65536)
			abort();
		for (const char *c = im.source; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || *c == '"' || *c == '\\')
				abort();
	}
	return 0;
}
