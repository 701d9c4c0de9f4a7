#include <string.h>
#include <sodium.h>
#include "om_key.h"
#include "t.h"
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define T_HAVE_MEMCHECK 1
#endif
#endif

/* RFC 7748 section 6.1 test vector: Alice's private and public key. */
static const char *alice_priv_b64 = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
static const char *alice_pub_b64 = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

/* Known vectors, in both directions. */
static void t_key_vectors(void)
{
	static const struct {
		uint8_t first, step;
		const char *b64;
	} v[] = {
		{ 0x00, 0, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
		{ 0xff, 0, "//////////////////////////////////////////8=" },
		{ 0x00, 1, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" },
		{ 0xe0, 1, "4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=" },
	};
	uint8_t k[OM_KEY_LEN], want[OM_KEY_LEN];
	char b[OM_KEY_B64_LEN + 1];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		for (size_t j = 0; j < OM_KEY_LEN; j++)
			want[j] = (uint8_t)(v[i].first + v[i].step * j);
		om_key_to_b64(b, want);
		CHECK(strcmp(b, v[i].b64) == 0, "vector %zu encodes as %s", i, b);
		CHECK(om_key_from_b64(k, v[i].b64, OM_KEY_B64_LEN) == 0 &&
			      memcmp(k, want, OM_KEY_LEN) == 0,
		      "vector %zu decodes", i);
	}
}

/* What libsodium's strict decoder (original alphabet, padding required, padding
 * bits zero, nothing ignored) says of s: 0 and the key, or -1. */
static int sodium_key(uint8_t out[OM_KEY_LEN], const char *s, size_t len)
{
	size_t n = 0;

	if (sodium_base642bin(out, OM_KEY_LEN, s, len, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || n != OM_KEY_LEN)
		return -1;
	return 0;
}

/* Ours against libsodium's: every byte value at every position of a valid key
 * (bad characters, '=' too early, non-zero padding bits, a missing '='), every
 * length from 0 to 48, and random keys both ways. */
static void t_key_sodium(void)
{
	static const char good[] = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
	uint8_t a[OM_KEY_LEN], b[OM_KEY_LEN];
	char s[64], enc[OM_KEY_B64_LEN + 1], ref[sodium_base64_ENCODED_LEN(OM_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	int mismatch = 0, accepted = 0;

	CHECK(sodium_init() >= 0, "sodium_init");
	for (size_t pos = 0; pos < OM_KEY_B64_LEN; pos++) {
		for (int ch = 0; ch < 256; ch++) {
			memcpy(s, good, OM_KEY_B64_LEN);
			s[pos] = (char)ch;
			int ours = om_key_from_b64(a, s, OM_KEY_B64_LEN), theirs = sodium_key(b, s, OM_KEY_B64_LEN);
			/* libsodium 1.0.18 (Debian 12) reads a byte above 0x7f as '/': its
			 * decoder takes a signed char. wg(8) refuses them, and so do we. */
			if (ch >= 0x80)
				theirs = -1;
			if (ours != theirs || (ours == 0 && memcmp(a, b, OM_KEY_LEN) != 0)) {
				if (mismatch++ < 5)
					CHECK(0, "position %zu byte 0x%02x: ours %d, libsodium %d", pos, ch, ours, theirs);
			}
			accepted += ours == 0;
		}
	}
	CHECK(mismatch == 0, "%d mutations differ from libsodium", mismatch);
	/* 42 positions take any of 64 characters, the 43rd one of 16 (its two low bits
	 * are padding), the 44th only '='. */
	CHECK(accepted == 42 * 64 + 16 + 1, "accepted %d mutated keys", accepted);
	for (size_t len = 0; len <= 48; len++) {
		memset(s, 'A', sizeof(s));
		memcpy(s, good, len < OM_KEY_B64_LEN ? len : OM_KEY_B64_LEN);
		int ours = om_key_from_b64(a, s, len), theirs = sodium_key(b, s, len);
		CHECK(ours == theirs && (len == OM_KEY_B64_LEN) == (ours == 0), "length %zu: ours %d, libsodium %d",
		      len, ours, theirs);
	}
	for (int i = 0; i < 2000; i++) {
		randombytes_buf(a, sizeof(a));
		om_key_to_b64(enc, a);
		sodium_bin2base64(ref, sizeof(ref), a, sizeof(a), sodium_base64_VARIANT_ORIGINAL);
		if (strcmp(enc, ref) != 0 || om_key_from_b64(b, ref, strlen(ref)) != 0 ||
		    memcmp(a, b, OM_KEY_LEN) != 0) {
			CHECK(0, "random key %d: ours %s, libsodium %s", i, enc, ref);
			break;
		}
	}
}

/* For valgrind: tests/bats/seams-config.bats builds this file with T_KEY_CT_MAIN.
 * The key and its characters are marked undefined, so that memcheck reports any
 * branch or memory address that depends on them; only the results are declared
 * defined again, once the codec is done. Outside valgrind the requests do
 * nothing. Returns the failures. */
int t_key_ct(void)
{
#ifdef T_HAVE_MEMCHECK
	static const char *const in[] = {
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", /* valid */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=", /* padding bits */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L!o=", /* bad character */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA", /* no '=' */
	};
	uint8_t k[OM_KEY_LEN];
	char s[OM_KEY_B64_LEN], b[OM_KEY_B64_LEN + 1];
	int fails = 0;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		int r;
		memcpy(s, in[i], OM_KEY_B64_LEN);
		memset(k, 0, sizeof(k));
		VALGRIND_MAKE_MEM_UNDEFINED(s, sizeof(s));
		r = om_key_from_b64(k, s, sizeof(s));
		VALGRIND_MAKE_MEM_DEFINED(&r, sizeof(r));
		VALGRIND_MAKE_MEM_DEFINED(k, sizeof(k));
		fails += (r == 0) != (i == 0);
		VALGRIND_MAKE_MEM_UNDEFINED(k, sizeof(k));
		om_key_to_b64(b, k);
		VALGRIND_MAKE_MEM_DEFINED(b, sizeof(b));
		fails += i == 0 && strcmp(b, in[0]) != 0;
	}
	printf("key-ct: %d failed\n", fails);
	return fails;
#else
	fputs("key-ct: valgrind/memcheck.h is missing (apt-get install valgrind)\n", stderr);
	return 1;
#endif
}

#ifdef T_KEY_CT_MAIN
/* Built alone with om_key.c, by the test that runs it under valgrind. */
int t_pass, t_fail;

int main(void)
{
	return t_key_ct() ? 1 : 0;
}
#endif

void t_key(void)
{
	uint8_t k[OM_KEY_LEN], pub[OM_KEY_LEN], k2[OM_KEY_LEN];
	char b[OM_KEY_B64_LEN + 1];

	CHECK(om_key_from_b64(k, alice_priv_b64, strlen(alice_priv_b64)) == 0, "decode alice");
	CHECK(k[0] == 0x77 && k[1] == 0x07 && k[31] == 0x2a, "alice bytes");
	om_key_to_b64(b, k);
	CHECK(strcmp(b, alice_priv_b64) == 0, "round trip: %s", b);
	CHECK(om_key_public(pub, k) == 0, "public");
	om_key_to_b64(b, pub);
	CHECK(strcmp(b, alice_pub_b64) == 0, "RFC 7748 public key: %s", b);

	static const struct {
		const char *s;
		const char *why;
	} bad[] = {
		{ "", "empty" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo", "no padding" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo==", "too long" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC==", "two pads" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=", "non-canonical last char" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L!o=", "bad char" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC-=", "url-safe alphabet" },
		{ "dwdt nMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", "space" },
		{ "=wdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", "pad first" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA", "missing '='" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo ", "space for '='" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCr=", "padding bits 11" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCq=", "padding bits 10" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC\x80=", "high byte" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC\xff=", "0xff" },
		{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC_=", "url-safe underscore" },
		{ "dwdtCnMYpX08FsFyUbJmRd9M=4frwJkqsXf7pR25LCo=", "'=' inside" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(k2, 0xa5, sizeof(k2));
		CHECK(om_key_from_b64(k2, bad[i].s, strlen(bad[i].s)) < 0, "accepted bad key (%s)",
		      bad[i].why);
		CHECK(k2[0] == 0xa5 && k2[31] == 0xa5, "a refused key changed the output (%s)",
		      bad[i].why);
	}
	/* A NUL in place of '=' or of a character: the length is what counts. */
	CHECK(om_key_from_b64(k2, "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo\0", 44) < 0, "NUL pad");
	CHECK(om_key_from_b64(k2, "\0wdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", 44) < 0, "NUL first");
	t_key_vectors();
	t_key_sodium();

	/* Clamping as wg genkey does it. */
	memset(k, 0xff, sizeof(k));
	om_key_clamp(k);
	CHECK(k[0] == 0xf8 && k[31] == 0x7f, "clamp ff: %02x %02x", k[0], k[31]);
	memset(k, 0, sizeof(k));
	om_key_clamp(k);
	CHECK(k[0] == 0 && k[31] == 0x40, "clamp 00: %02x %02x", k[0], k[31]);

	/* Random keys round-trip and differ. */
	CHECK(om_key_random(k) == 0 && om_key_random(k2) == 0, "random");
	CHECK(memcmp(k, k2, OM_KEY_LEN) != 0, "two random keys are equal");
	om_key_to_b64(b, k);
	CHECK(om_key_from_b64(k2, b, strlen(b)) == 0 && memcmp(k, k2, OM_KEY_LEN) == 0,
	      "random round trip");

	/* The public key of an unclamped key equals that of its clamped form. */
	uint8_t p1[OM_KEY_LEN], p2[OM_KEY_LEN];
	om_key_public(p1, k);
	om_key_clamp(k);
	om_key_public(p2, k);
	CHECK(memcmp(p1, p2, OM_KEY_LEN) == 0, "public key depends on clamping");
}
