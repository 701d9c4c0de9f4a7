#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "om_addr.h"
#include "om_num.h"

int om_ip_parse(const char *s, struct om_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || strlen(s) >= OM_IP_STRLEN)
		return -1;
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, out->a) != 1)
			return -1;
		out->family = AF_INET6;
		return 0;
	}
	/* glibc's inet_pton takes only the strict dotted quad: no octal, hex or
	 * shortened forms that inet_aton would take. */
	if (inet_pton(AF_INET, s, out->a) != 1)
		return -1;
	out->family = AF_INET;
	return 0;
}

void om_ip_format(const struct om_ip *ip, char out[OM_IP_STRLEN])
{
	if (!inet_ntop(ip->family, ip->a, out, OM_IP_STRLEN))
		strcpy(out, "?");
}

bool om_ip_equal(const struct om_ip *a, const struct om_ip *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(a->a, b->a, n) == 0;
}

int om_cidr_parse(const char *s, struct om_cidr *out, bool need_prefix)
{
	char buf[OM_IP_STRLEN + 8];
	const char *slash;
	uint64_t p;
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (!s || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(s, '/');
	if (slash)
		buf[slash - s] = '\0';
	if (om_ip_parse(buf, &out->ip) < 0)
		return -1;
	max = out->ip.family == AF_INET ? 32 : 128;
	if (!slash) {
		if (need_prefix)
			return -1;
		out->prefix = max;
		return 0;
	}
	if (om_parse_u64(slash + 1, 0, max, &p) < 0)
		return -1;
	out->prefix = (unsigned)p;
	return 0;
}

bool om_cidr_contains(const struct om_cidr *net, const struct om_ip *ip)
{
	unsigned bits = net->prefix, i;

	if (net->ip.family != ip->family)
		return false;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (net->ip.a[i] != ip->a[i])
			return false;
	if (bits) {
		uint8_t m = (uint8_t)(0xff << (8 - bits));
		if ((net->ip.a[i] & m) != (ip->a[i] & m))
			return false;
	}
	return true;
}

void om_cidr_network(const struct om_cidr *c, struct om_ip *out)
{
	unsigned len = c->ip.family == AF_INET ? 4 : 16, bits = c->prefix, i;

	*out = c->ip;
	for (i = 0; i < len; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		out->a[i] &= (uint8_t)(0xff << (8 - bits));
		bits = 0;
	}
}

int om_endpoint_split(const char *s, char host[OM_HOST_MAX + 1], uint16_t *port,
		      const char **why)
{
	const char *colon, *h, *he;
	uint64_t p;

	*why = "malformed endpoint";
	if (!s || !*s)
		return -1;
	if (s[0] == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':') {
			*why = "IPv6 endpoint needs the form [ADDR]:PORT";
			return -1;
		}
		h = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "endpoint has no port";
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			*why = "IPv6 endpoint needs the form [ADDR]:PORT";
			return -1;
		}
		h = s;
		he = colon;
	}
	if (he == h) {
		*why = "endpoint has no host";
		return -1;
	}
	if ((size_t)(he - h) > OM_HOST_MAX) {
		*why = "endpoint host is too long";
		return -1;
	}
	if (!colon[1]) {
		*why = "endpoint has no port";
		return -1;
	}
	if (om_parse_u64(colon + 1, 1, 65535, &p) < 0) {
		*why = "endpoint port must be a number from 1 to 65535";
		return -1;
	}
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* The IANA IPv4 and IPv6 Special-Purpose Address Registries, row for row, plus
 * multicast, site-local and the IPv6 space outside 2000::/3 (the IPv6 Address Space
 * registry). The most specific row holding an address is its class.
 *
 * Every row that the registries call not globally reachable is refused, but for
 * the documentation ranges that the test worlds use as their internet: nothing
 * real is routed there. The rows that the registries call globally reachable
 * (or N/A) are refused too, each for the reason beside it: an endpoint is a
 * WireGuard peer, a unicast host that the requester runs, and none of these is
 * one. An anycast service address is answered by the instance nearest the
 * provider, often inside the provider's own network (PCP's is the provider's
 * NAT); a translator or tunnel prefix hands the datagram to a relay that
 * reaches an embedded IPv4 address, private ones and metadata included. */
const struct om_addr_class om_addr_classes[] = {
	{ "0.0.0.0/8", "unspecified (this network)", OM_ADDR_REFUSED },
	{ "0.0.0.0/32", "unspecified", OM_ADDR_REFUSED },
	{ "10.0.0.0/8", "private", OM_ADDR_REFUSED },
	{ "100.64.0.0/10", "private (shared address space)", OM_ADDR_REFUSED },
	{ "127.0.0.0/8", "loopback", OM_ADDR_REFUSED },
	{ "169.254.0.0/16", "link-local", OM_ADDR_REFUSED },
	{ "172.16.0.0/12", "private", OM_ADDR_REFUSED },
	{ "192.0.0.0/24", "reserved (IETF protocol assignments)", OM_ADDR_REFUSED },
	{ "192.0.0.0/29", "reserved (DS-Lite service continuity)", OM_ADDR_REFUSED },
	{ "192.0.0.8/32", "reserved (dummy address)", OM_ADDR_REFUSED },
	/* Registry: globally reachable. Anycast, answered by the nearest instance. */
	{ "192.0.0.9/32", "anycast (PCP)", OM_ADDR_REFUSED },
	{ "192.0.0.10/32", "anycast (TURN)", OM_ADDR_REFUSED },
	{ "192.0.0.170/32", "reserved (NAT64 discovery)", OM_ADDR_REFUSED },
	{ "192.0.0.171/32", "reserved (NAT64 discovery)", OM_ADDR_REFUSED },
	{ "192.0.2.0/24", "documentation (TEST-NET-1)", OM_ADDR_ACCEPTED },
	/* Registry: globally reachable. Anycast DNS sinks and relays. */
	{ "192.31.196.0/24", "anycast (AS112)", OM_ADDR_REFUSED },
	{ "192.52.193.0/24", "anycast (AMT)", OM_ADDR_REFUSED },
	/* Registry: N/A (deprecated); 192.88.99.2 is "not globally reachable". */
	{ "192.88.99.0/24", "reserved (deprecated 6to4 relay anycast)", OM_ADDR_REFUSED },
	{ "192.88.99.2/32", "anycast (6a44 relay)", OM_ADDR_REFUSED },
	{ "192.168.0.0/16", "private", OM_ADDR_REFUSED },
	{ "192.175.48.0/24", "anycast (AS112 direct delegation)", OM_ADDR_REFUSED },
	{ "198.18.0.0/15", "benchmarking", OM_ADDR_REFUSED },
	{ "198.51.100.0/24", "documentation (TEST-NET-2)", OM_ADDR_ACCEPTED },
	{ "203.0.113.0/24", "documentation (TEST-NET-3)", OM_ADDR_ACCEPTED },
	{ "224.0.0.0/4", "multicast", OM_ADDR_REFUSED },
	{ "240.0.0.0/4", "reserved", OM_ADDR_REFUSED },
	{ "255.255.255.255/32", "broadcast", OM_ADDR_REFUSED },

	{ "::/128", "unspecified", OM_ADDR_REFUSED },
	{ "::1/128", "loopback", OM_ADDR_REFUSED },
	{ "::/96", "reserved (IPv4-compatible, deprecated)", OM_ADDR_REFUSED },
	/* It reaches the IPv4 host: judged as that. */
	{ "::ffff:0:0/96", "IPv4-mapped", OM_ADDR_AS_IPV4 },
	/* Registry: globally reachable. The nearest translator reaches any IPv4
	 * address, whatever RFC 6052 says it should refuse. */
	{ "64:ff9b::/96", "NAT64 (well-known prefix)", OM_ADDR_REFUSED },
	{ "64:ff9b:1::/48", "NAT64 (local use)", OM_ADDR_REFUSED },
	{ "100::/64", "discard-only", OM_ADDR_REFUSED },
	{ "100:0:0:1::/64", "reserved (dummy prefix)", OM_ADDR_REFUSED },
	{ "2001::/23", "reserved (IETF protocol assignments)", OM_ADDR_REFUSED },
	/* Registry: N/A. A relay reaches the embedded, obfuscated IPv4 client. */
	{ "2001::/32", "Teredo", OM_ADDR_REFUSED },
	{ "2001:1::1/128", "anycast (PCP)", OM_ADDR_REFUSED },
	{ "2001:1::2/128", "anycast (TURN)", OM_ADDR_REFUSED },
	{ "2001:1::3/128", "anycast (DNS-SD SRP)", OM_ADDR_REFUSED },
	{ "2001:2::/48", "benchmarking", OM_ADDR_REFUSED },
	{ "2001:3::/32", "anycast (AMT)", OM_ADDR_REFUSED },
	{ "2001:4:112::/48", "anycast (AS112)", OM_ADDR_REFUSED },
	{ "2001:10::/28", "reserved (deprecated ORCHID)", OM_ADDR_REFUSED },
	/* Registry: globally reachable. Cryptographic identifiers, not locators:
	 * no host is reached at one. */
	{ "2001:20::/28", "ORCHIDv2 (an identifier, not routed)", OM_ADDR_REFUSED },
	{ "2001:30::/28", "DRIP entity tag (an identifier, not routed)", OM_ADDR_REFUSED },
	{ "2001:db8::/32", "documentation", OM_ADDR_ACCEPTED },
	/* Registry: N/A. A relay reaches the embedded IPv4 address. */
	{ "2002::/16", "6to4", OM_ADDR_REFUSED },
	{ "2620:4f:8000::/48", "anycast (AS112 direct delegation)", OM_ADDR_REFUSED },
	/* Documentation too (RFC 9637), but no test world uses it: the exception
	 * stays as narrow as its reason. */
	{ "3fff::/20", "documentation (not a test range)", OM_ADDR_REFUSED },
	{ "5f00::/16", "segment routing (SRv6 SIDs)", OM_ADDR_REFUSED },
	{ "fc00::/7", "private (unique local)", OM_ADDR_REFUSED },
	{ "fe80::/10", "link-local", OM_ADDR_REFUSED },
	{ "fec0::/10", "site-local (deprecated)", OM_ADDR_REFUSED },
	{ "ff00::/8", "multicast", OM_ADDR_REFUSED },
	/* IANA allocates global unicast only from 2000::/3; the rest is reserved
	 * (the rows above within it are more specific). */
	{ "::/3", "reserved (outside 2000::/3)", OM_ADDR_REFUSED },
	{ "4000::/2", "reserved (outside 2000::/3)", OM_ADDR_REFUSED },
	{ "8000::/1", "reserved (outside 2000::/3)", OM_ADDR_REFUSED },
};

const size_t om_addr_n_classes = sizeof(om_addr_classes) / sizeof(om_addr_classes[0]);

bool om_addr_class_dest_ok(const struct om_addr_class *c)
{
	return c->verdict != OM_ADDR_REFUSED || strncmp(c->name, "anycast", 7) == 0;
}

const struct om_addr_class *om_ip_class(const struct om_ip *ip)
{
	const struct om_addr_class *best = NULL;
	unsigned best_len = 0;

	for (size_t i = 0; i < om_addr_n_classes; i++) {
		struct om_cidr c;
		if (om_cidr_parse(om_addr_classes[i].prefix, &c, true) < 0 ||
		    !om_cidr_contains(&c, ip) || (best && c.prefix <= best_len))
			continue;
		best = &om_addr_classes[i];
		best_len = c.prefix;
	}
	if (best && best->verdict == OM_ADDR_AS_IPV4) {
		struct om_ip v4;

		memset(&v4, 0, sizeof(v4));
		v4.family = AF_INET;
		memcpy(v4.a, ip->a + 12, 4);
		return om_ip_class(&v4);
	}
	return best;
}

const char *om_ip_refused_class(const struct om_ip *ip)
{
	const struct om_addr_class *c = om_ip_class(ip);

	return c && c->verdict == OM_ADDR_REFUSED ? c->name : NULL;
}

struct range {
	uint64_t lo, hi;
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

bool om_cidrs_cover_ipv4(const struct om_cidr *list, size_t n)
{
	struct range *r;
	size_t k = 0;
	uint64_t next = 0;
	bool ok = false;

	r = calloc(n ? n : 1, sizeof(*r));
	if (!r)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct om_ip net;
		if (list[i].ip.family != AF_INET)
			continue;
		om_cidr_network(&list[i], &net);
		uint64_t base = (uint64_t)net.a[0] << 24 | (uint64_t)net.a[1] << 16 |
				(uint64_t)net.a[2] << 8 | net.a[3];
		r[k].lo = base;
		r[k].hi = base + ((uint64_t)1 << (32 - list[i].prefix)) - 1;
		k++;
	}
	qsort(r, k, sizeof(*r), range_cmp);
	for (size_t i = 0; i < k; i++) {
		if (r[i].lo > next)
			break;
		if (r[i].hi + 1 > next)
			next = r[i].hi + 1;
	}
	ok = next == ((uint64_t)1 << 32);
	free(r);
	return ok;
}
