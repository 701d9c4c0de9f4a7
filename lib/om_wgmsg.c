#include "om_wgmsg.h"

int om_wg_shape(const uint8_t *b, size_t len, size_t mtu)
{
	if (len < 4 || b[1] || b[2] || b[3])
		return 0;
	switch (b[0]) {
	case OM_WG_INITIATION:
		return len == 148 ? OM_WG_INITIATION : 0;
	case OM_WG_RESPONSE:
		return len == 92 ? OM_WG_RESPONSE : 0;
	case OM_WG_COOKIE:
		return len == 64 ? OM_WG_COOKIE : 0;
	case OM_WG_DATA:
		if (len < 32)
			return 0;
		return !mtu || (len - 32) % 16 == 0 || len - 32 == mtu ? OM_WG_DATA : 0;
	default:
		return 0;
	}
}
