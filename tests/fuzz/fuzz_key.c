/* libFuzzer target: the key codec and the endpoint and prefix parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_addr.h"
#include "om_key.h"
#include "fuzz.h"

int fuzz_key(const uint8_t *data, size_t size)
{
	uint8_t k[OM_KEY_LEN];
	char b[OM_KEY_B64_LEN + 1], *s, host[OM_HOST_MAX + 1];
	struct om_cidr c;
	uint16_t port;
	const char *why;

	if (om_key_from_b64(k, (const char *)data, size) == 0) {
		om_key_to_b64(b, k);
		/* Only the canonical form decodes, so it must round-trip exactly. */
		if (size != OM_KEY_B64_LEN || memcmp(b, data, size) != 0)
			abort();
	}
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	om_cidr_parse(s, &c, false);
	om_endpoint_split(s, host, &port, &why);
	free(s);
	return 0;
}
