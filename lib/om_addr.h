/* IP addresses, prefixes and endpoints, parsed strictly. */
#ifndef OM_ADDR_H
#define OM_ADDR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct om_ip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t a[16]; /* IPv4 uses a[0..3] */
};

struct om_cidr {
	struct om_ip ip;
	unsigned prefix;
};

#define OM_IP_STRLEN 46 /* INET6_ADDRSTRLEN */
#define OM_HOST_MAX 255

/* A dotted-quad IPv4 or an IPv6 literal (no brackets, no zone). 0 or -1. */
int om_ip_parse(const char *s, struct om_ip *out);
void om_ip_format(const struct om_ip *ip, char out[OM_IP_STRLEN]);
bool om_ip_equal(const struct om_ip *a, const struct om_ip *b);

/* "IP/N"; with need_prefix false a bare IP means a host prefix (/32 or /128). */
int om_cidr_parse(const char *s, struct om_cidr *out, bool need_prefix);
bool om_cidr_contains(const struct om_cidr *net, const struct om_ip *ip);
/* The network address (host bits cleared). */
void om_cidr_network(const struct om_cidr *c, struct om_ip *out);

/* "HOST:PORT" or "[V6]:PORT". host receives HOST without brackets. 0 or -1;
 * *why names the problem on failure. */
int om_endpoint_split(const char *s, char host[OM_HOST_MAX + 1], uint16_t *port,
		      const char **why);

/* The address-class table: every entry of the IANA IPv4 and IPv6 special-purpose
 * address registries, with multicast, site-local and the IPv6 space outside
 * 2000::/3. Rows nest; the most specific row that holds an address is its class.
 * omerta-wgconf and omerta-jail refuse an endpoint in a refused row unless the
 * provider permits private endpoints. */
enum om_addr_verdict {
	OM_ADDR_REFUSED,
	OM_ADDR_ACCEPTED, /* the documentation ranges: the test worlds' internet */
	OM_ADDR_AS_IPV4, /* ::ffff:0:0/96, judged as the IPv4 address it maps */
};

struct om_addr_class {
	const char *prefix; /* "10.0.0.0/8": a network address and its length */
	const char *name; /* reads after "is": "private", "anycast (PCP)" */
	enum om_addr_verdict verdict;
};

extern const struct om_addr_class om_addr_classes[];
extern const size_t om_addr_n_classes;

/* The most specific row holding ip (an IPv4-mapped address: the row of the IPv4
 * address it maps), or NULL for an ordinary public address. Never an
 * OM_ADDR_AS_IPV4 row. */
const struct om_addr_class *om_ip_class(const struct om_ip *ip);

/* Why an endpoint at this address is refused by default: the name of its class,
 * "loopback", "private", "link-local", ..., or NULL when it is accepted (an
 * ordinary public address, or documentation). */
const char *om_ip_refused_class(const struct om_ip *ip);

/* Whether a job's traffic may go to addresses of this row, as a destination through
 * the requester's server: no for every refused row but the anycast services, which
 * the registries call globally reachable and which are public services like any
 * other (they are refused as endpoints only because the nearest instance answers).
 * The documentation rows are destinations too: the test worlds' internet. */
bool om_addr_class_dest_ok(const struct om_addr_class *c);

/* True when the IPv4 prefixes in list together cover all of 0.0.0.0/0. */
bool om_cidrs_cover_ipv4(const struct om_cidr *list, size_t n);

#endif
