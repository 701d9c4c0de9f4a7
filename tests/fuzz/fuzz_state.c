/* libFuzzer target: the key=value state-file parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_state.h"
#include "fuzz.h"

int fuzz_state(const uint8_t *data, size_t size)
{
	struct om_state *s = malloc(sizeof(*s));

	if (!s)
		return 0;
	om_state_parse(s, (const char *)data, size);
	/* Every parsed entry is a terminated key without '=' or newline. */
	for (size_t i = 0; i < s->n; i++)
		if (strchr(s->key[i], '=') || strchr(s->key[i], '\n') || strchr(s->val[i], '\n') ||
		    om_state_get(s, s->key[i]) == NULL)
			abort();
	free(s);
	return 0;
}
