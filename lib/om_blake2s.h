/* BLAKE2s (RFC 7693), the hash WireGuard uses for its handshake MACs. libsodium has
 * BLAKE2b only. */
#ifndef OM_BLAKE2S_H
#define OM_BLAKE2S_H
#include <stddef.h>
#include <stdint.h>

/* out: outlen bytes (1-32) of BLAKE2s of in, keyed with key (keylen 0-32). */
void om_blake2s(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const uint8_t *in,
		size_t inlen);

#endif
