/* BLAKE2s, written from RFC 7693 (sections 2 and 3, appendix B's parameters). */
#include "om_blake2s.h"
#include <string.h>

static const uint32_t iv[8] = { 0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
				0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19 };

static const uint8_t sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static uint32_t rotr(uint32_t x, int n) { return x >> n | x << (32 - n); }

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct b2s {
	uint32_t h[8], t[2];
	uint8_t buf[64];
	size_t n;
};

static void compress(struct b2s *s, const uint8_t *block, int last)
{
	uint32_t v[16], m[16];

	for (int i = 0; i < 16; i++)
		m[i] = load32(block + 4 * i);
	for (int i = 0; i < 8; i++) {
		v[i] = s->h[i];
		v[i + 8] = iv[i];
	}
	v[12] ^= s->t[0];
	v[13] ^= s->t[1];
	if (last)
		v[14] = ~v[14];
#define G(a, b, c, d, x, y)                                                                        \
	do {                                                                                       \
		v[a] = v[a] + v[b] + (x);                                                          \
		v[d] = rotr(v[d] ^ v[a], 16);                                                      \
		v[c] = v[c] + v[d];                                                                \
		v[b] = rotr(v[b] ^ v[c], 12);                                                      \
		v[a] = v[a] + v[b] + (y);                                                          \
		v[d] = rotr(v[d] ^ v[a], 8);                                                       \
		v[c] = v[c] + v[d];                                                                \
		v[b] = rotr(v[b] ^ v[c], 7);                                                       \
	} while (0)
	for (int r = 0; r < 10; r++) {
		const uint8_t *z = sigma[r];
		G(0, 4, 8, 12, m[z[0]], m[z[1]]);
		G(1, 5, 9, 13, m[z[2]], m[z[3]]);
		G(2, 6, 10, 14, m[z[4]], m[z[5]]);
		G(3, 7, 11, 15, m[z[6]], m[z[7]]);
		G(0, 5, 10, 15, m[z[8]], m[z[9]]);
		G(1, 6, 11, 12, m[z[10]], m[z[11]]);
		G(2, 7, 8, 13, m[z[12]], m[z[13]]);
		G(3, 4, 9, 14, m[z[14]], m[z[15]]);
	}
#undef G
	for (int i = 0; i < 8; i++)
		s->h[i] ^= v[i] ^ v[i + 8];
}

static void update(struct b2s *s, const uint8_t *in, size_t len)
{
	while (len > 0) {
		size_t k;
		/* The last block is compressed in final(), with the last-block flag. */
		if (s->n == 64) {
			s->t[0] += 64;
			if (s->t[0] < 64)
				s->t[1]++;
			compress(s, s->buf, 0);
			s->n = 0;
		}
		k = 64 - s->n < len ? 64 - s->n : len;
		memcpy(s->buf + s->n, in, k);
		s->n += k;
		in += k;
		len -= k;
	}
}

void om_blake2s(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const uint8_t *in,
		size_t inlen)
{
	struct b2s s;
	uint8_t full[32];

	if (outlen == 0 || outlen > 32 || keylen > 32)
		return;
	memset(&s, 0, sizeof(s));
	memcpy(s.h, iv, sizeof(iv));
	s.h[0] ^= 0x01010000u ^ (uint32_t)keylen << 8 ^ (uint32_t)outlen;
	if (keylen) {
		uint8_t block[64] = { 0 };
		memcpy(block, key, keylen);
		update(&s, block, 64);
		memset(block, 0, sizeof(block));
	}
	update(&s, in, inlen);
	s.t[0] += (uint32_t)s.n;
	if (s.t[0] < s.n)
		s.t[1]++;
	memset(s.buf + s.n, 0, 64 - s.n);
	compress(&s, s.buf, 1);
	for (int i = 0; i < 8; i++) {
		full[4 * i] = (uint8_t)s.h[i];
		full[4 * i + 1] = (uint8_t)(s.h[i] >> 8);
		full[4 * i + 2] = (uint8_t)(s.h[i] >> 16);
		full[4 * i + 3] = (uint8_t)(s.h[i] >> 24);
	}
	memcpy(out, full, outlen);
	memset(&s, 0, sizeof(s));
}
