/* Key base64 and clamping: libc only, so the guest's helper (musl) links it too. */
#include <string.h>
#include "om_key.h"

/* Base64 in constant time. A key's characters are secret: a table lookup indexed
 * by them leaks through the cache, and a branch on them through timing. So each
 * character is mapped with arithmetic masks only, as wireguard-tools does. The
 * helpers work on values below 256 held in 32 bits, where a subtraction that goes
 * below zero sets bit 31: that bit, spread over the word, is the mask. */

/* All ones when a <= b, else 0 (a, b < 2^31). */
static uint32_t le_mask(uint32_t a, uint32_t b)
{
	return 0u - (((b - a) >> 31) ^ 1u);
}

/* x, hidden from the optimiser: knowing that a mask is 0 or all ones, clang turns
 * a masked copy back into a branch on it (seen at -O2 and -Os). */
static uint32_t opaque(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
	__asm__("" : "+r"(x));
#endif
	return x;
}

/* All ones when lo <= c <= hi, else 0. */
static uint32_t range_mask(uint32_t c, uint32_t lo, uint32_t hi)
{
	return le_mask(lo, c) & le_mask(c, hi);
}

/* The character for a 6-bit value: each range's mask selects its own mapping (the
 * ranges are disjoint, so at most one mask is set). */
static char enc6(uint32_t v)
{
	uint32_t up = range_mask(v, 0, 25), lo = range_mask(v, 26, 51), dg = range_mask(v, 52, 61);
	uint32_t pl = range_mask(v, 62, 62), sl = range_mask(v, 63, 63);

	return (char)((up & ('A' + v)) | (lo & ('a' + v - 26)) | (dg & ('0' + v - 52)) |
		      (pl & '+') | (sl & '/'));
}

/* The 6-bit value of a character; ORs all ones into *bad when it is not in the
 * standard alphabet ('=' included: padding is checked by position). */
static uint32_t dec6(unsigned char ch, uint32_t *bad)
{
	uint32_t c = ch;
	uint32_t up = range_mask(c, 'A', 'Z'), lo = range_mask(c, 'a', 'z'), dg = range_mask(c, '0', '9');
	uint32_t pl = range_mask(c, '+', '+'), sl = range_mask(c, '/', '/');

	*bad |= ~(up | lo | dg | pl | sl);
	return (up & (c - 'A')) | (lo & (c - 'a' + 26)) | (dg & (c - '0' + 52)) | (pl & 62) | (sl & 63);
}

void om_key_to_b64(char out[OM_KEY_B64_LEN + 1], const uint8_t key[OM_KEY_LEN])
{
	size_t i, o = 0;

	/* 32 = 10 * 3 + 2: ten groups of four characters, then three and one '='. */
	for (i = 0; i < OM_KEY_LEN; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8;
		if (i + 2 < OM_KEY_LEN)
			v |= key[i + 2]; /* the branch is on the position, never the data */
		out[o++] = enc6(v >> 18 & 63);
		out[o++] = enc6(v >> 12 & 63);
		out[o++] = enc6(v >> 6 & 63);
		out[o++] = i + 2 < OM_KEY_LEN ? enc6(v & 63) : '=';
	}
	out[o] = '\0';
}

int om_key_from_b64(uint8_t key[OM_KEY_LEN], const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint8_t tmp[OM_KEY_LEN];
	uint32_t bad = 0, v, last, ok;
	size_t i, o = 0;

	if (len != OM_KEY_B64_LEN) /* the length is public: no need to hide it */
		return -1;
	for (i = 0; i < 40; i += 4) {
		v = dec6(u[i], &bad) << 18;
		v |= dec6(u[i + 1], &bad) << 12;
		v |= dec6(u[i + 2], &bad) << 6;
		v |= dec6(u[i + 3], &bad);
		tmp[o++] = (uint8_t)(v >> 16);
		tmp[o++] = (uint8_t)(v >> 8);
		tmp[o++] = (uint8_t)v;
	}
	v = dec6(u[40], &bad) << 18;
	v |= dec6(u[41], &bad) << 12;
	last = dec6(u[42], &bad);
	v |= last << 6;
	tmp[o++] = (uint8_t)(v >> 16);
	tmp[o++] = (uint8_t)(v >> 8);
	/* Canonical form only, as wg(8): the last character's two low bits are
	 * padding and must be zero, and the 44th character is '='. */
	bad |= last & 3;
	bad |= (uint32_t)u[43] ^ '=';
	/* Not even the verdict is a branch here: key is written through a mask (left
	 * as it was when malformed), and the caller branches on the result, which it
	 * reports anyway. tests/bats/seams-config.bats checks this under valgrind. */
	ok = opaque(((bad | (0u - bad)) >> 31) - 1u); /* all ones when bad == 0, else 0 */
	for (i = 0; i < OM_KEY_LEN; i++)
		key[i] = (uint8_t)((tmp[i] & ok) | (key[i] & ~ok));
	om_wipe(tmp, sizeof(tmp));
	return (int)(ok & 1u) - 1;
}

void om_key_clamp(uint8_t key[OM_KEY_LEN])
{
	key[0] &= 248;
	key[31] = (uint8_t)((key[31] & 127) | 64);
}

void om_wipe(void *p, size_t n)
{
	/* explicit_bzero: a store the compiler may not remove as dead (glibc, musl). */
	explicit_bzero(p, n);
}
