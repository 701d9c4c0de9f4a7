/* The shapes of WireGuard's four messages, as the jail's door checks them. */
#ifndef OM_WGMSG_H
#define OM_WGMSG_H
#include <stddef.h>
#include <stdint.h>

enum { OM_WG_INITIATION = 1, OM_WG_RESPONSE = 2, OM_WG_COOKIE = 3, OM_WG_DATA = 4 };

/* The message type (1-4) when buf has the fixed header and the exact or aligned
 * size of that type, else 0: initiation 148 bytes, response 92, cookie reply 64,
 * transport data 32 + P, where WireGuard pads the plaintext P to a multiple of 16
 * but never past the sender's MTU, so P is a multiple of 16 or exactly mtu, and
 * never more than mtu (keepalives have P = 0): at most om_wg_data_max(mtu) bytes.
 * With mtu 0 any P is taken (a sender whose MTU is not known). Three reserved
 * bytes must be 0. */
int om_wg_shape(const uint8_t *buf, size_t len, size_t mtu);

/* The longest transport data message a sender whose tunnel MTU is mtu sends:
 * type, receiver index and counter (16 bytes), the inner packet padded to 16 but
 * capped at mtu (so at most mtu bytes; Linux's calculate_skb_padding and
 * wireguard-go both clamp the padding to the MTU), and the 16-byte Poly1305 tag.
 * 1452 for the usual 1420. */
size_t om_wg_data_max(size_t mtu);

/* What the door knows of the one server the guest may talk to: the key of the mac1
 * field of every handshake message sent to it, and the session indices it announced.
 * WireGuard puts in every initiation and response a MAC over the message keyed with a
 * hash of the receiver's public key; in every cookie reply and data message, an index
 * the receiver chose in a handshake message of its own. A datagram shaped like
 * WireGuard but carrying junk fails one or the other. */
#define OM_WG_INDICES 16
struct om_wg_peer {
	uint8_t mac1_key[32];
	uint32_t idx[OM_WG_INDICES]; /* the server's own indices, newest last */
	unsigned nidx;
};

/* mac1_key = BLAKE2s("mac1----" || the server's public key). */
void om_wg_peer_init(struct om_wg_peer *p, const uint8_t server_public[32]);

/* Learns the index in a handshake message from the server (buf: a datagram of type
 * t from the server). */
void om_wg_peer_learn(struct om_wg_peer *p, const uint8_t *buf, size_t len, int t);

/* NULL when a datagram of type t (from om_wg_shape) from the guest could be for this
 * server; else why not. */
const char *om_wg_peer_check(const struct om_wg_peer *p, const uint8_t *buf, size_t len, int t);

#endif
