/* WireGuard keys: 32 bytes, written as 44 characters of standard base64. */
#ifndef OM_KEY_H
#define OM_KEY_H
#include <stddef.h>
#include <stdint.h>

#define OM_KEY_LEN 32
#define OM_KEY_B64_LEN 44 /* without the terminating NUL */

/* Both directions run in constant time in the key's bytes and characters: no
 * branch and no table lookup depends on them (om_key.c says how). */

/* Encodes 32 bytes; out must hold OM_KEY_B64_LEN + 1 bytes. */
void om_key_to_b64(char out[OM_KEY_B64_LEN + 1], const uint8_t key[OM_KEY_LEN]);

/* Decodes exactly the canonical 44-character form that wg(8) accepts (the final
 * character before '=' must carry no stray bits). Returns 0, or -1 when malformed,
 * and then key is left as it was. len is the length of s, which need not be
 * NUL-terminated; only the length may be branched on. */
int om_key_from_b64(uint8_t key[OM_KEY_LEN], const char *s, size_t len);

/* Curve25519 clamping, exactly as wg genkey does it. */
void om_key_clamp(uint8_t key[OM_KEY_LEN]);

/* Fills key from the system CSPRNG; clamp it for a private key. Returns 0 or -1. */
int om_key_random(uint8_t key[OM_KEY_LEN]);

/* Derives the public key (the private key is clamped first, as wg pubkey does).
 * Returns 0 or -1. */
int om_key_public(uint8_t pub[OM_KEY_LEN], const uint8_t priv[OM_KEY_LEN]);

/* Wipes a buffer in a way the compiler may not elide. */
void om_wipe(void *p, size_t n);

#endif
