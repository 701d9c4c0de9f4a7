/* Strict number parsing: decimal digits only, no sign, no spaces, range-checked. */
#ifndef OM_NUM_H
#define OM_NUM_H
#include <stdint.h>

/* Returns 0 and stores the value, or -1 when s is not a decimal number in [min, max]. */
int om_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
