#include <arpa/inet.h>
#include <string.h>
#include "om_addr.h"
#include "t.h"

static struct om_cidr C(const char *s)
{
	struct om_cidr c;
	om_cidr_parse(s, &c, false);
	return c;
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

	static const struct {
		const char *ip;
		const char *cls;
	} classes[] = {
		{ "8.8.8.8", NULL }, { "203.0.113.10", NULL }, { "198.51.100.1", NULL },
		{ "127.0.0.1", "loopback" }, { "127.255.1.1", "loopback" }, { "0.0.0.0", "unspecified" },
		{ "10.1.1.1", "private" }, { "172.16.0.1", "private" }, { "172.31.255.255", "private" },
		{ "172.32.0.1", NULL }, { "192.168.0.1", "private" },
		{ "100.64.0.1", "private (shared address space)" }, { "100.128.0.1", NULL },
		{ "169.254.169.254", "link-local" }, { "224.0.0.1", "multicast" },
		{ "239.255.255.250", "multicast" }, { "255.255.255.255", "broadcast" },
		{ "240.0.0.1", "reserved" }, { "::1", "loopback" }, { "::", "unspecified" },
		{ "fe80::1", "link-local" }, { "ff02::1", "multicast" },
		{ "fd00::1", "private (unique local)" }, { "2001:db8::1", NULL },
		{ "::ffff:127.0.0.1", "loopback" }, { "::ffff:10.0.0.1", "private" },
		{ "::ffff:8.8.8.8", NULL },
	};
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		om_ip_parse(classes[i].ip, &ip);
		const char *got = om_ip_refused_class(&ip);
		CHECK((got == NULL && classes[i].cls == NULL) ||
			      (got && classes[i].cls && strcmp(got, classes[i].cls) == 0),
		      "class of %s: %s", classes[i].ip, got ? got : "(public)");
	}

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
