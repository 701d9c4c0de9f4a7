/* Keys from libsodium: random ones and public ones. The rest (base64, clamping,
 * wiping) is in om_keyb64.c, which the guest shares. */
#include <string.h>
#include <sodium.h>
#include "om_key.h"

int om_key_random(uint8_t key[OM_KEY_LEN])
{
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(key, OM_KEY_LEN);
	return 0;
}

int om_key_public(uint8_t pub[OM_KEY_LEN], const uint8_t priv[OM_KEY_LEN])
{
	uint8_t k[OM_KEY_LEN];
	int r;

	if (sodium_init() < 0)
		return -1;
	memcpy(k, priv, OM_KEY_LEN);
	om_key_clamp(k);
	r = crypto_scalarmult_curve25519_base(pub, k);
	sodium_memzero(k, sizeof(k));
	return r == 0 ? 0 : -1;
}
