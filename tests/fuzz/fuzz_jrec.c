/* libFuzzer target: the strict JSON record reader, which reads the tools' own event
 * lines (vmboot's, the door's) inside omerta-watch. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_jrec.h"
#include "fuzz.h"

int fuzz_jrec(const uint8_t *data, size_t size)
{
	static struct om_jrec r;

	if (om_jrec_parse((const char *)data, size, &r) == 0) {
		if (r.n > OM_JREC_FIELDS)
			abort();
		for (size_t i = 0; i < r.n; i++) {
			if (!r.key[i][0] || strlen(r.key[i]) >= OM_JREC_KEY || strlen(r.val[i]) >= OM_JREC_VAL)
				abort();
			for (size_t k = 0; k < i; k++)
				if (!strcmp(r.key[i], r.key[k]))
					abort(); /* duplicates are malformed */
		}
	}
	return 0;
}
