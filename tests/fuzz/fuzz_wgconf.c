/* libFuzzer target: the wg config parser and policy check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "om_wgconf.h"
#include "fuzz.h"

int fuzz_wgconf(const uint8_t *data, size_t size)
{
	struct om_wgconf *c = malloc(sizeof(*c));
	struct om_wgpolicy pol = { 0 };
	struct om_cidr net;

	if (!c)
		return 0;
	om_cidr_parse("203.0.113.0/24", &net, true);
	pol.local_nets = &net;
	pol.n_local_nets = 1;
	if (om_wgconf_parse((const char *)data, size, c, NULL, NULL) == 0)
		om_wgconf_check(c, &pol, NULL, NULL);
	free(c);
	return 0;
}
