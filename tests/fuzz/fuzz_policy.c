/* libFuzzer target: the provider's policy (om_policy_parse) and a requester's request
 * (om_request_parse, the words of SSH_ORIGINAL_COMMAND), the bundle's header, and the
 * grant. The first byte picks which; whatever is accepted must hold its promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_policy.h"
#include "fuzz.h"

int fuzz_policy(const uint8_t *data, size_t size)
{
	static struct om_policy p;
	char err[300], buf[OM_REQUEST_MAX + 2], words[OM_REQUEST_MAX + 200];
	struct om_request r, again;
	struct om_bundle b = { 0 };
	struct om_limits l;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		if (om_policy_parse((const char *)data + 1, size - 1, &p, err, sizeof(err)) == 0) {
			if (p.slots < 1 || p.slots > 64 || p.queue > 1024 || p.uid_lo > p.uid_hi || p.nkeys > OM_POLICY_KEYS)
				abort();
			for (size_t i = 0; i <= p.nkeys; i++) {
				om_policy_limits(&p, i < p.nkeys ? p.keys[i].id : NULL, NULL, &l);
				if (l.default_memory > l.max_memory || l.default_timeout > l.max_timeout || l.max_cpu < 1)
					abort();
			}
		}
		return 0;
	}
	size = size - 1 > OM_REQUEST_MAX + 1 ? OM_REQUEST_MAX + 1 : size - 1;
	memcpy(buf, data + 1, size);
	buf[size] = '\0';
	if (om_request_parse(buf, &r, err, sizeof(err)) == 0) {
		/* Written back, it parses to the same request. */
		if (om_request_words(&r, words, sizeof(words)) || om_request_parse(words, &again, err, sizeof(err)) ||
		    strcmp(again.job_id, r.job_id) || again.cpu != r.cpu || again.memory != r.memory ||
		    again.root != r.root || strcmp(again.image, r.image))
			abort();
		memset(&p, 0, sizeof(p));
		om_policy_parse("", 0, &p, err, sizeof(err));
		if (om_policy_grant(&p.base, &r, &b, err, sizeof(err)) == 0 &&
		    (r.memory > p.base.max_memory || r.cpu > p.base.max_cpu || r.root || r.timeout > p.base.max_timeout))
			abort();
	}
	om_bundle_parse(buf, &b, err, sizeof(err));
	return 0;
}
