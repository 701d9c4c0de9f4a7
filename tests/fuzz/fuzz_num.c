/* libFuzzer target: the CLI's number parser and the job ID check, the two gates every
 * tool puts in front of argv. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_jobid.h"
#include "om_num.h"
#include "fuzz.h"

int fuzz_num(const uint8_t *data, size_t size)
{
	char *s;
	uint64_t v, lo, hi;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* Bounds from the first bytes, so the range checks are explored too. */
	lo = size > 0 ? data[0] : 0;
	hi = size > 1 ? lo + (uint64_t)data[1] * 1000003u : UINT64_MAX;
	if (om_parse_u64(s, lo, hi, &v) == 0) {
		/* Accepted: only digits, in range, and it prints back as the same digits
		 * without leading zeros beyond the value's own. */
		if (v < lo || v > hi || s[0] < '0' || s[0] > '9')
			abort();
		for (const char *p = s; *p; p++)
			if (*p < '0' || *p > '9')
				abort();
	}
	if (om_jobid_valid(s)) {
		size_t n = strlen(s);
		if (n == 0 || n > OM_JOBID_MAX || strcspn(s, "/. \n") != n)
			abort();
	}
	free(s);
	return 0;
}
