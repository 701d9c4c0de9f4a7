/* libFuzzer target: the door's datagram checks, which see every datagram a guest or an
 * endpoint sends: the shape, then the server's mac1 and session indices. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "om_wgmsg.h"
#include "fuzz.h"

int fuzz_door(const uint8_t *data, size_t size)
{
	static const uint8_t pub[32] = { 9 };
	struct om_wg_peer p;
	int t = om_wg_shape(data, size, size > 40 ? data[4] * 16u + 4 : 0);

	if (t < 0 || t > 4 || (t && (size < 32 || data[0] != t)))
		abort();
	/* The same bytes as the server's message, then as the guest's. */
	om_wg_peer_init(&p, pub);
	om_wg_peer_learn(&p, data, size, t);
	if (t && om_wg_peer_check(&p, data, size, t) == NULL && t == OM_WG_INITIATION && size != 148)
		abort();
	if (!t && om_wg_peer_check(&p, data, size, t) == NULL)
		abort();
	return 0;
}
