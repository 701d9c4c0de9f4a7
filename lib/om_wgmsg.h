/* The shapes of WireGuard's four messages, as the jail's door checks them. */
#ifndef OM_WGMSG_H
#define OM_WGMSG_H
#include <stddef.h>
#include <stdint.h>

enum { OM_WG_INITIATION = 1, OM_WG_RESPONSE = 2, OM_WG_COOKIE = 3, OM_WG_DATA = 4 };

/* The message type (1-4) when buf has the fixed header and the exact or aligned
 * size of that type, else 0: initiation 148 bytes, response 92, cookie reply 64,
 * transport data 32 + P, where WireGuard pads the plaintext P to a multiple of 16
 * but never past the sender's MTU, so P is a multiple of 16 or exactly mtu
 * (keepalives have P = 0). With mtu 0 any P is taken (a sender whose MTU is not
 * known). Three reserved bytes must be 0. */
int om_wg_shape(const uint8_t *buf, size_t len, size_t mtu);

#endif
