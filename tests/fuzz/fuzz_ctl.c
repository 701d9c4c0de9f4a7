/* libFuzzer target: the guest control-record parser, which reads what an
 * untrusted guest writes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_ctl.h"
#include "fuzz.h"

int fuzz_ctl(const uint8_t *data, size_t size)
{
	struct om_ctl_rec r;

	if (om_ctl_parse((const char *)data, size, &r) == 0) {
		if (!r.event[0] || r.n > OM_CTL_FIELDS)
			abort();
		for (size_t i = 0; i < r.n; i++)
			if (!r.key[i][0] || !r.val[i][0] || strchr(r.val[i], ' '))
				abort();
	}
	return 0;
}
