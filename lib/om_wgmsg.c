#include "om_wgmsg.h"
#include <string.h>
#include "om_blake2s.h"

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
		if (!mtu)
			return OM_WG_DATA;
		/* Past the MTU is no WireGuard sender's: a multiple of 16 above it was
		 * taken once, and let a root guest send 1472 and (with eth0 raised to
		 * 9000) 8192-byte datagrams to the requester. */
		if (len > om_wg_data_max(mtu))
			return 0;
		return (len - 32) % 16 == 0 || len - 32 == mtu ? OM_WG_DATA : 0;
	default:
		return 0;
	}
}

size_t om_wg_data_max(size_t mtu)
{
	return 16 + mtu + 16;
}

void om_wg_peer_init(struct om_wg_peer *p, const uint8_t server_public[32])
{
	uint8_t in[8 + 32];

	memset(p, 0, sizeof(*p));
	memcpy(in, "mac1----", 8);
	memcpy(in + 8, server_public, 32);
	om_blake2s(p->mac1_key, 32, NULL, 0, in, sizeof(in));
}

static uint32_t le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void om_wg_peer_learn(struct om_wg_peer *p, const uint8_t *b, size_t len, int t)
{
	/* Initiation and response both carry the sender's index at offset 4. */
	if ((t != OM_WG_INITIATION && t != OM_WG_RESPONSE) || len < 8)
		return;
	if (p->nidx == OM_WG_INDICES) {
		memmove(p->idx, p->idx + 1, sizeof(p->idx[0]) * (OM_WG_INDICES - 1));
		p->nidx--;
	}
	p->idx[p->nidx++] = le32(b + 4);
}

static int known(const struct om_wg_peer *p, uint32_t i)
{
	for (unsigned k = 0; k < p->nidx; k++)
		if (p->idx[k] == i)
			return 1;
	return 0;
}

static int mac1_ok(const struct om_wg_peer *p, const uint8_t *b, size_t at)
{
	uint8_t mac[16];
	unsigned diff = 0;

	om_blake2s(mac, sizeof(mac), p->mac1_key, sizeof(p->mac1_key), b, at);
	for (size_t i = 0; i < sizeof(mac); i++)
		diff |= mac[i] ^ b[at + i];
	return diff == 0;
}

const char *om_wg_peer_check(const struct om_wg_peer *p, const uint8_t *b, size_t len, int t)
{
	switch (t) {
	case OM_WG_INITIATION:
		/* type, sender, ephemeral, static, timestamp: 116 bytes, then mac1. */
		return len == 148 && mac1_ok(p, b, 116) ? NULL : "a handshake not for the requester's server (mac1)";
	case OM_WG_RESPONSE:
		/* type, sender, receiver, ephemeral, empty: 60 bytes, then mac1. */
		if (len != 92 || !mac1_ok(p, b, 60))
			return "a handshake not for the requester's server (mac1)";
		return known(p, le32(b + 8)) ? NULL : "a handshake response to no initiation of the server's";
	case OM_WG_COOKIE:
	case OM_WG_DATA:
		return len >= 8 && known(p, le32(b + 4)) ? NULL : "a message for no session the server opened";
	default:
		return "not a WireGuard datagram";
	}
}
