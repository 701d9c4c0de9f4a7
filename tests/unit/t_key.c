#include <string.h>
#include "om_key.h"
#include "t.h"

/* RFC 7748 section 6.1 test vector: Alice's private and public key. */
static const char *alice_priv_b64 = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
static const char *alice_pub_b64 = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

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
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(om_key_from_b64(k2, bad[i].s, strlen(bad[i].s)) < 0, "accepted bad key (%s)",
		      bad[i].why);

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
