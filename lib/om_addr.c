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

struct refused {
	const char *cidr;
	const char *why;
};

static const struct refused refused_nets[] = {
	{ "0.0.0.0/8", "unspecified" },
	{ "127.0.0.0/8", "loopback" },
	{ "10.0.0.0/8", "private" },
	{ "172.16.0.0/12", "private" },
	{ "192.168.0.0/16", "private" },
	{ "100.64.0.0/10", "private (shared address space)" },
	{ "169.254.0.0/16", "link-local" },
	{ "224.0.0.0/4", "multicast" },
	{ "255.255.255.255/32", "broadcast" },
	{ "240.0.0.0/4", "reserved" },
	{ "::/128", "unspecified" },
	{ "::1/128", "loopback" },
	{ "fe80::/10", "link-local" },
	{ "ff00::/8", "multicast" },
	{ "fc00::/7", "private (unique local)" },
};

const char *om_ip_refused_class(const struct om_ip *ip)
{
	struct om_ip v4;

	/* An IPv4-mapped IPv6 address reaches the IPv4 host: judge that. */
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (ip->family == AF_INET6 && memcmp(ip->a, mapped, 12) == 0) {
		memset(&v4, 0, sizeof(v4));
		v4.family = AF_INET;
		memcpy(v4.a, ip->a + 12, 4);
		ip = &v4;
	}
	for (size_t i = 0; i < sizeof(refused_nets) / sizeof(refused_nets[0]); i++) {
		struct om_cidr c;
		if (om_cidr_parse(refused_nets[i].cidr, &c, true) == 0 && om_cidr_contains(&c, ip))
			return refused_nets[i].why;
	}
	return NULL;
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
