#include <string.h>
#include <sodium.h>
#include "om_key.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void om_key_to_b64(char out[OM_KEY_B64_LEN + 1], const uint8_t key[OM_KEY_LEN])
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= OM_KEY_LEN; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	/* 32 = 10 * 3 + 2: two bytes left, three characters and one '='. */
	{
		uint32_t v = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int om_key_from_b64(uint8_t key[OM_KEY_LEN], const char *s, size_t len)
{
	uint8_t tmp[OM_KEY_LEN];
	size_t i, o = 0;
	int ret = -1;

	if (len != OM_KEY_B64_LEN || s[OM_KEY_B64_LEN - 1] != '=')
		return -1;
	for (i = 0; i < 40; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = b64_val(s[i + 2]), d = b64_val(s[i + 3]);
		if ((a | b | c | d) < 0)
			goto out;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		tmp[o++] = (uint8_t)(v >> 16);
		tmp[o++] = (uint8_t)(v >> 8);
		tmp[o++] = (uint8_t)v;
	}
	{
		int a = b64_val(s[40]), b = b64_val(s[41]), c = b64_val(s[42]);
		if ((a | b | c) < 0)
			goto out;
		/* Canonical form only: the low two bits of the last character are padding. */
		if (c & 3)
			goto out;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		tmp[o++] = (uint8_t)(v >> 16);
		tmp[o++] = (uint8_t)(v >> 8);
	}
	memcpy(key, tmp, OM_KEY_LEN);
	ret = 0;
out:
	sodium_memzero(tmp, sizeof(tmp));
	return ret;
}

void om_key_clamp(uint8_t key[OM_KEY_LEN])
{
	key[0] &= 248;
	key[31] = (uint8_t)((key[31] & 127) | 64);
}

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

void om_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}
