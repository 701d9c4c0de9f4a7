/* libFuzzer target: the door's datagram shape check, which sees every datagram a
 * guest or an endpoint sends. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "om_wgmsg.h"
#include "fuzz.h"

int fuzz_door(const uint8_t *data, size_t size)
{
	int t = om_wg_shape(data, size, size > 40 ? data[4] * 16u + 4 : 0);

	if (t < 0 || t > 4 || (t && (size < 32 || data[0] != t)))
		abort();
	return 0;
}
