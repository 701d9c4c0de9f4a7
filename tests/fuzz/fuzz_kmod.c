/* libFuzzer target: om_kmod_strip, the module editor omerta-mkinitrd runs on every
 * module it puts in the base. Its input is the host's own modules, not a stranger's,
 * but an editor of offsets must never read or write outside its buffer. */
#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_kmod.h"
#include "fuzz.h"

int fuzz_kmod(const uint8_t *data, size_t size)
{
	unsigned char *b = malloc(size ? size : 1);
	size_t n, again;

	if (!b)
		return 0;
	memcpy(b, data, size);
	n = om_kmod_strip(b, size);
	if (n > size)
		abort();
	/* A second pass has no signature and no BTF bytes left to cut. */
	again = om_kmod_strip(b, n);
	if (again > n)
		abort();
	/* Nothing cut: nothing changed either. */
	if (n == size && memcmp(b, data, size) != 0)
		abort();
	free(b);
	return 0;
}
