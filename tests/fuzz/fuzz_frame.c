/* libFuzzer target: the summary of frames a hostile VM sends to the jail's filter. */
#include <stddef.h>
#include <stdint.h>
#include "om_frame.h"
#include "fuzz.h"

int fuzz_frame(const uint8_t *data, size_t size)
{
	struct om_frame f;

	if (size < 2)
		return 0;
	om_frame_parse((unsigned)(data[0] << 8 | data[1]), data + 2, size - 2, &f);
	return 0;
}
