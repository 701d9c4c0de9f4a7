#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include "om_addr.h"
#include "t.h"

static struct om_cidr C(const char *s)
{
	struct om_cidr c;
	om_cidr_parse(s, &c, false);
	return c;
}

/* One row per address: the row of om_addr_classes[] it must fall in (prefix NULL:
 * none, an ordinary public address), that row's name, and whether it is refused.
 * Every row of the table is named by at least one address inside it; most also
 * have neighbours just outside, which fall in the parent row or in none. */
#define PUB(ip) { ip, NULL, NULL, 0 }
#define DOC(ip, p, n) { ip, p, n, 0 }
#define REF(ip, p, n) { ip, p, n, 1 }
static const struct {
	const char *ip, *prefix, *name;
	int refused;
} classes[] = {
	PUB("8.8.8.8"), PUB("1.1.1.1"),
	REF("0.0.0.0", "0.0.0.0/32", "unspecified"),
	REF("0.1.2.3", "0.0.0.0/8", "unspecified (this network)"),
	REF("0.255.255.255", "0.0.0.0/8", "unspecified (this network)"), PUB("1.0.0.0"),
	REF("10.0.0.0", "10.0.0.0/8", "private"), REF("10.255.255.255", "10.0.0.0/8", "private"),
	PUB("9.255.255.255"), PUB("11.0.0.0"),
	REF("100.64.0.1", "100.64.0.0/10", "private (shared address space)"),
	REF("100.127.255.255", "100.64.0.0/10", "private (shared address space)"),
	PUB("100.63.255.255"), PUB("100.128.0.0"),
	REF("127.0.0.1", "127.0.0.0/8", "loopback"), REF("127.255.1.1", "127.0.0.0/8", "loopback"),
	PUB("126.255.255.255"), PUB("128.0.0.0"),
	REF("169.254.169.254", "169.254.0.0/16", "link-local"),
	REF("169.254.0.0", "169.254.0.0/16", "link-local"), PUB("169.253.255.255"),
	PUB("169.255.0.0"),
	REF("172.16.0.1", "172.16.0.0/12", "private"), REF("172.31.255.255", "172.16.0.0/12", "private"),
	PUB("172.15.255.255"), PUB("172.32.0.1"),
	REF("192.0.0.11", "192.0.0.0/24", "reserved (IETF protocol assignments)"),
	REF("192.0.0.255", "192.0.0.0/24", "reserved (IETF protocol assignments)"),
	REF("192.0.0.172", "192.0.0.0/24", "reserved (IETF protocol assignments)"),
	PUB("191.255.255.255"), PUB("192.0.1.0"),
	REF("192.0.0.0", "192.0.0.0/29", "reserved (DS-Lite service continuity)"),
	REF("192.0.0.7", "192.0.0.0/29", "reserved (DS-Lite service continuity)"),
	REF("192.0.0.8", "192.0.0.8/32", "reserved (dummy address)"),
	REF("192.0.0.9", "192.0.0.9/32", "anycast (PCP)"),
	REF("192.0.0.10", "192.0.0.10/32", "anycast (TURN)"),
	REF("192.0.0.170", "192.0.0.170/32", "reserved (NAT64 discovery)"),
	REF("192.0.0.171", "192.0.0.171/32", "reserved (NAT64 discovery)"),
	DOC("192.0.2.2", "192.0.2.0/24", "documentation (TEST-NET-1)"),
	DOC("192.0.2.255", "192.0.2.0/24", "documentation (TEST-NET-1)"), PUB("192.0.1.255"),
	PUB("192.0.3.0"),
	REF("192.31.196.1", "192.31.196.0/24", "anycast (AS112)"), PUB("192.31.195.255"),
	PUB("192.31.197.0"),
	REF("192.52.193.1", "192.52.193.0/24", "anycast (AMT)"), PUB("192.52.194.0"),
	REF("192.88.99.1", "192.88.99.0/24", "reserved (deprecated 6to4 relay anycast)"),
	REF("192.88.99.2", "192.88.99.2/32", "anycast (6a44 relay)"), PUB("192.88.100.0"),
	REF("192.168.0.1", "192.168.0.0/16", "private"),
	REF("192.168.255.255", "192.168.0.0/16", "private"), PUB("192.167.255.255"),
	PUB("192.169.0.0"),
	REF("192.175.48.1", "192.175.48.0/24", "anycast (AS112 direct delegation)"),
	PUB("192.175.49.0"),
	REF("198.18.0.2", "198.18.0.0/15", "benchmarking"),
	REF("198.19.255.255", "198.18.0.0/15", "benchmarking"), PUB("198.17.255.255"),
	PUB("198.20.0.0"),
	DOC("198.51.100.1", "198.51.100.0/24", "documentation (TEST-NET-2)"), PUB("198.51.101.0"),
	DOC("203.0.113.10", "203.0.113.0/24", "documentation (TEST-NET-3)"), PUB("203.0.112.255"),
	PUB("203.0.114.0"),
	REF("224.0.0.1", "224.0.0.0/4", "multicast"), REF("239.255.255.250", "224.0.0.0/4", "multicast"),
	PUB("223.255.255.255"),
	REF("240.0.0.1", "240.0.0.0/4", "reserved"), REF("255.255.255.254", "240.0.0.0/4", "reserved"),
	REF("255.255.255.255", "255.255.255.255/32", "broadcast"),

	PUB("2606:4700:4700::1111"), PUB("2a00:1450::1"), PUB("2000::1"), PUB("3fff:ffff::1"),
	REF("::", "::/128", "unspecified"), REF("::1", "::1/128", "loopback"),
	REF("::2", "::/96", "reserved (IPv4-compatible, deprecated)"),
	REF("::10.0.0.1", "::/96", "reserved (IPv4-compatible, deprecated)"),
	REF("::1:0:0:0", "::/3", "reserved (outside 2000::/3)"),
	/* ::ffff:0:0/96 is judged as the IPv4 address it maps. */
	REF("::ffff:127.0.0.1", "127.0.0.0/8", "loopback"),
	REF("::ffff:10.0.0.1", "10.0.0.0/8", "private"),
	REF("::ffff:169.254.169.254", "169.254.0.0/16", "link-local"),
	REF("::ffff:0.0.0.0", "0.0.0.0/32", "unspecified"), PUB("::ffff:8.8.8.8"),
	DOC("::ffff:192.0.2.1", "192.0.2.0/24", "documentation (TEST-NET-1)"),
	REF("::fffe:808:808", "::/3", "reserved (outside 2000::/3)"),
	REF("::1:ffff:808:808", "::/3", "reserved (outside 2000::/3)"),
	REF("64:ff9b::a9fe:a9fe", "64:ff9b::/96", "NAT64 (well-known prefix)"),
	REF("64:ff9b::8.8.8.8", "64:ff9b::/96", "NAT64 (well-known prefix)"),
	REF("64:ff9b::1:0:0", "::/3", "reserved (outside 2000::/3)"),
	REF("64:ff9b:1::a00:1", "64:ff9b:1::/48", "NAT64 (local use)"),
	REF("64:ff9b:1:ffff::1", "64:ff9b:1::/48", "NAT64 (local use)"),
	REF("64:ff9b:2::1", "::/3", "reserved (outside 2000::/3)"),
	REF("100::1", "100::/64", "discard-only"),
	REF("100::ffff:ffff:ffff:ffff", "100::/64", "discard-only"),
	REF("100:0:0:1::1", "100:0:0:1::/64", "reserved (dummy prefix)"),
	REF("100:0:0:2::", "::/3", "reserved (outside 2000::/3)"),
	REF("2001:4::1", "2001::/23", "reserved (IETF protocol assignments)"),
	REF("2001:1::4", "2001::/23", "reserved (IETF protocol assignments)"),
	REF("2001:1ff:ffff::1", "2001::/23", "reserved (IETF protocol assignments)"),
	PUB("2001:200::1"), PUB("2001:ffff::1"),
	REF("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32", "Teredo"),
	REF("2001:0:ffff::1", "2001::/32", "Teredo"),
	REF("2001:1::1", "2001:1::1/128", "anycast (PCP)"),
	REF("2001:1::2", "2001:1::2/128", "anycast (TURN)"),
	REF("2001:1::3", "2001:1::3/128", "anycast (DNS-SD SRP)"),
	REF("2001:2::1", "2001:2::/48", "benchmarking"),
	REF("2001:2:0:ffff::1", "2001:2::/48", "benchmarking"),
	REF("2001:2:1::1", "2001::/23", "reserved (IETF protocol assignments)"),
	REF("2001:3::1", "2001:3::/32", "anycast (AMT)"),
	REF("2001:3:ffff::1", "2001:3::/32", "anycast (AMT)"),
	REF("2001:4:112::1", "2001:4:112::/48", "anycast (AS112)"),
	REF("2001:4:113::1", "2001::/23", "reserved (IETF protocol assignments)"),
	REF("2001:10::1", "2001:10::/28", "reserved (deprecated ORCHID)"),
	REF("2001:1f:ffff::1", "2001:10::/28", "reserved (deprecated ORCHID)"),
	REF("2001:20::1", "2001:20::/28", "ORCHIDv2 (an identifier, not routed)"),
	REF("2001:2f::1", "2001:20::/28", "ORCHIDv2 (an identifier, not routed)"),
	REF("2001:30::1", "2001:30::/28", "DRIP entity tag (an identifier, not routed)"),
	REF("2001:3f::1", "2001:30::/28", "DRIP entity tag (an identifier, not routed)"),
	REF("2001:40::1", "2001::/23", "reserved (IETF protocol assignments)"),
	DOC("2001:db8::1", "2001:db8::/32", "documentation"),
	DOC("2001:db8:ffff::1", "2001:db8::/32", "documentation"), PUB("2001:db7:ffff::1"),
	PUB("2001:db9::1"),
	REF("2002:a00:1::1", "2002::/16", "6to4"), REF("2002:c000:204::1", "2002::/16", "6to4"),
	PUB("2003::1"),
	REF("2620:4f:8000::6", "2620:4f:8000::/48", "anycast (AS112 direct delegation)"),
	REF("2620:4f:8000::42", "2620:4f:8000::/48", "anycast (AS112 direct delegation)"),
	PUB("2620:4f:8001::1"), PUB("2620:4f:7fff::1"),
	REF("3fff::1", "3fff::/20", "documentation (not a test range)"),
	REF("3fff:fff::1", "3fff::/20", "documentation (not a test range)"), PUB("3fff:1000::1"),
	PUB("3ffe:ffff::1"),
	REF("5f00::1", "5f00::/16", "segment routing (SRv6 SIDs)"),
	REF("5f01::1", "4000::/2", "reserved (outside 2000::/3)"),
	REF("4000::1", "4000::/2", "reserved (outside 2000::/3)"),
	REF("fc00::1", "fc00::/7", "private (unique local)"),
	REF("fd00::1", "fc00::/7", "private (unique local)"),
	REF("fdff:ffff::1", "fc00::/7", "private (unique local)"),
	REF("fbff::1", "8000::/1", "reserved (outside 2000::/3)"),
	REF("fe80::1", "fe80::/10", "link-local"), REF("febf:ffff::1", "fe80::/10", "link-local"),
	REF("fe7f::1", "8000::/1", "reserved (outside 2000::/3)"),
	REF("fec0::1", "fec0::/10", "site-local (deprecated)"),
	REF("feff:ffff::1", "fec0::/10", "site-local (deprecated)"),
	REF("ff02::1", "ff00::/8", "multicast"), REF("ff0e::1", "ff00::/8", "multicast"),
	REF("ffff::1", "ff00::/8", "multicast"),
	REF("1000::1", "::/3", "reserved (outside 2000::/3)"),
	REF("1fff:ffff::1", "::/3", "reserved (outside 2000::/3)"),
	REF("8000::1", "8000::/1", "reserved (outside 2000::/3)"),
	REF("e000::1", "8000::/1", "reserved (outside 2000::/3)"),
};

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static void t_addr_classes(void)
{
	bool hit[256] = { false };
	struct om_ip ip, net;
	struct om_cidr c, d;

	CHECK(om_addr_n_classes <= sizeof(hit), "table fits the test");
	/* The table itself: each prefix a network address, none twice, every name said. */
	for (size_t i = 0; i < om_addr_n_classes; i++) {
		const struct om_addr_class *r = &om_addr_classes[i];
		bool ok = om_cidr_parse(r->prefix, &c, true) == 0;
		CHECK(ok, "row %s parses", r->prefix);
		om_cidr_network(&c, &net);
		CHECK(ok && om_ip_equal(&net, &c.ip), "row %s is a network address", r->prefix);
		CHECK(r->name && *r->name, "row %s has a name", r->prefix);
		for (size_t j = 0; j < i; j++) {
			om_cidr_parse(om_addr_classes[j].prefix, &d, true);
			CHECK(!(d.prefix == c.prefix && om_ip_equal(&d.ip, &c.ip)), "row %s twice",
			      r->prefix);
		}
		/* Its first address falls in it, or in a row nested inside it. */
		const struct om_addr_class *got = om_ip_class(&c.ip);
		if (r->verdict == OM_ADDR_AS_IPV4)
			continue;
		CHECK(got && om_cidr_parse(got->prefix, &d, true) == 0 && d.prefix >= c.prefix &&
			      om_cidr_contains(&c, &d.ip),
		      "first address of %s: %s", r->prefix, got ? got->prefix : "(none)");
	}

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		bool parsed = om_ip_parse(classes[i].ip, &ip) == 0;
		CHECK(parsed, "test address %s parses", classes[i].ip);
		const struct om_addr_class *row = om_ip_class(&ip);
		const char *refused = om_ip_refused_class(&ip);
		CHECK(str_eq(row ? row->prefix : NULL, classes[i].prefix) &&
			      str_eq(row ? row->name : NULL, classes[i].name),
		      "class of %s: %s \"%s\"", classes[i].ip, row ? row->prefix : "(public)",
		      row ? row->name : "");
		CHECK(str_eq(refused, classes[i].refused ? classes[i].name : NULL),
		      "%s refused as: %s", classes[i].ip, refused ? refused : "(accepted)");
		if (row)
			hit[row - om_addr_classes] = true;
		om_cidr_parse("::ffff:0:0/96", &c, true);
		if (parsed && om_cidr_contains(&c, &ip)) {
			for (size_t j = 0; j < om_addr_n_classes; j++)
				if (om_addr_classes[j].verdict == OM_ADDR_AS_IPV4)
					hit[j] = true;
		}
	}
	for (size_t i = 0; i < om_addr_n_classes; i++)
		CHECK(hit[i], "no test address in row %s", om_addr_classes[i].prefix);

	/* The documentation ranges are the only rows accepted. */
	size_t accepted = 0;
	for (size_t i = 0; i < om_addr_n_classes; i++)
		if (om_addr_classes[i].verdict == OM_ADDR_ACCEPTED) {
			accepted++;
			CHECK(strncmp(om_addr_classes[i].name, "documentation", 13) == 0,
			      "accepted row %s is documentation", om_addr_classes[i].prefix);
		}
	CHECK(accepted == 4, "%zu accepted rows", accepted);
}

void t_addr(void)
{
	struct om_ip ip;
	struct om_cidr c;
	char s[OM_IP_STRLEN];

	static const struct {
		const char *s;
		int ok;
	} ips[] = {
		{ "1.2.3.4", 1 }, { "255.255.255.255", 1 }, { "::1", 1 }, { "fe80::1", 1 },
		{ "1.2.3", 0 }, { "1.2.3.4.5", 0 }, { "256.1.1.1", 0 }, { "01.2.3.4", 0 },
		{ "0x1.2.3.4", 0 }, { "", 0 }, { "1.2.3.4 ", 0 }, { "fe80::1%eth0", 0 },
		{ "[::1]", 0 }, { "example.com", 0 },
	};
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++)
		CHECK((om_ip_parse(ips[i].s, &ip) == 0) == ips[i].ok, "ip \"%s\"", ips[i].s);

	CHECK(om_cidr_parse("10.0.0.0/8", &c, true) == 0 && c.prefix == 8, "cidr /8");
	CHECK(om_cidr_parse("10.0.0.1", &c, false) == 0 && c.prefix == 32, "bare ip /32");
	CHECK(om_cidr_parse("10.0.0.1", &c, true) < 0, "bare ip with need_prefix");
	CHECK(om_cidr_parse("::/0", &c, true) == 0 && c.prefix == 0 && c.ip.family == AF_INET6,
	      "::/0");
	CHECK(om_cidr_parse("1.2.3.4/33", &c, true) < 0, "/33");
	CHECK(om_cidr_parse("::/129", &c, true) < 0, "/129");
	CHECK(om_cidr_parse("1.2.3.4/", &c, true) < 0, "empty prefix");
	CHECK(om_cidr_parse("1.2.3.4/-1", &c, true) < 0, "negative prefix");
	CHECK(om_cidr_parse("1.2.3.4/08", &c, true) < 0, "leading zero prefix");

	c = C("192.168.1.0/24");
	om_ip_parse("192.168.1.77", &ip);
	CHECK(om_cidr_contains(&c, &ip), "contains");
	om_ip_parse("192.168.2.1", &ip);
	CHECK(!om_cidr_contains(&c, &ip), "not contains");
	c = C("10.64.0.0/10");
	om_ip_parse("10.127.255.255", &ip);
	CHECK(om_cidr_contains(&c, &ip), "odd prefix contains");
	om_ip_parse("10.128.0.0", &ip);
	CHECK(!om_cidr_contains(&c, &ip), "odd prefix not contains");
	c = C("0.0.0.0/0");
	CHECK(om_cidr_contains(&c, &ip), "/0 contains everything");
	om_ip_parse("::1", &ip);
	CHECK(!om_cidr_contains(&c, &ip), "family mismatch");

	om_cidr_parse("10.1.2.3/20", &c, true);
	om_cidr_network(&c, &ip);
	om_ip_format(&ip, s);
	CHECK(strcmp(s, "10.1.0.0") == 0, "network of 10.1.2.3/20: %s", s);

	t_addr_classes();

	static const struct {
		const char *s;
		int ok;
		const char *host;
		unsigned port;
	} eps[] = {
		{ "1.2.3.4:51820", 1, "1.2.3.4", 51820 },
		{ "[2001:db8::1]:443", 1, "2001:db8::1", 443 },
		{ "vpn.example.com:1", 1, "vpn.example.com", 1 },
		{ "1.2.3.4:65535", 1, "1.2.3.4", 65535 },
		{ "1.2.3.4", 0, NULL, 0 }, { "1.2.3.4:", 0, NULL, 0 }, { "1.2.3.4:0", 0, NULL, 0 },
		{ "1.2.3.4:65536", 0, NULL, 0 }, { "1.2.3.4:-1", 0, NULL, 0 },
		{ "1.2.3.4:80x", 0, NULL, 0 }, { ":80", 0, NULL, 0 }, { "2001:db8::1:80", 0, NULL, 0 },
		{ "[2001:db8::1]80", 0, NULL, 0 }, { "[2001:db8::1", 0, NULL, 0 }, { "", 0, NULL, 0 },
	};
	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		char host[OM_HOST_MAX + 1];
		uint16_t port = 0;
		const char *why;
		int r = om_endpoint_split(eps[i].s, host, &port, &why);
		CHECK((r == 0) == eps[i].ok, "endpoint \"%s\" -> %d", eps[i].s, r);
		if (r == 0 && eps[i].ok)
			CHECK(strcmp(host, eps[i].host) == 0 && port == eps[i].port,
			      "endpoint \"%s\" -> %s %u", eps[i].s, host, port);
	}

	struct om_cidr l[4];
	l[0] = C("0.0.0.0/0");
	CHECK(om_cidrs_cover_ipv4(l, 1), "0/0 covers");
	l[0] = C("0.0.0.0/1");
	l[1] = C("128.0.0.0/1");
	CHECK(om_cidrs_cover_ipv4(l, 2), "two halves cover");
	CHECK(!om_cidrs_cover_ipv4(l, 1), "one half does not cover");
	l[0] = C("128.0.0.0/1");
	l[1] = C("0.0.0.0/2");
	l[2] = C("64.0.0.0/2");
	CHECK(om_cidrs_cover_ipv4(l, 3), "unsorted quarters cover");
	l[2] = C("64.0.0.0/3");
	CHECK(!om_cidrs_cover_ipv4(l, 3), "gap detected");
	l[0] = C("::/0");
	CHECK(!om_cidrs_cover_ipv4(l, 1), "::/0 alone does not cover IPv4");
	l[0] = C("10.0.0.0/8");
	l[1] = C("0.0.0.0/0");
	CHECK(om_cidrs_cover_ipv4(l, 2), "0/0 after a subset");
	CHECK(!om_cidrs_cover_ipv4(l, 0), "empty");
}
