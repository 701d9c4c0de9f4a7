#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "om_wgconf.h"
#include "t.h"

#define PRIV "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define PUB "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="
#define PSK "XSHDz8kFWj0DVPHgkNXc1yMLhhGt5g9cNdp+WkBBvhY="

#define GOOD                                                                            \
	"[Interface]\nPrivateKey = " PRIV "\nAddress = 10.77.0.2/32\nDNS = 10.77.0.1\n" \
	"\n[Peer]\nPublicKey = " PUB "\nPresharedKey = " PSK "\n"                       \
	"Endpoint = 203.0.113.5:51820\nAllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n"

struct diagbuf {
	char text[4096];
	int n;
};

static void collect(void *ctx, unsigned line, const char *msg)
{
	struct diagbuf *d = ctx;
	size_t used = strlen(d->text);

	d->n++;
	snprintf(d->text + used, sizeof(d->text) - used, "%u:%s\n", line, msg);
}

/* Parses and checks text; returns the problems and their messages. */
static int run(const char *text, bool allow_private, const struct om_cidr *nets, size_t nn,
	       struct diagbuf *d, struct om_wgconf *c)
{
	struct om_wgpolicy pol = { allow_private, nets, nn };

	memset(d, 0, sizeof(*d));
	om_wgconf_parse(text, strlen(text), c, collect, d);
	om_wgconf_check(c, &pol, collect, d);
	return d->n;
}

/* Parse-only problems of text (of length n, or strlen when n is 0). */
static int parse_only(const char *text, size_t n, struct diagbuf *d, struct om_wgconf *c)
{
	memset(d, 0, sizeof(*d));
	return om_wgconf_parse(text, n ? n : strlen(text), c, collect, d);
}

/* Comments may hold any well-formed UTF-8; keys and values stay ASCII; a leading
 * byte order mark is skipped. */
static void t_wgconf_text(struct om_wgconf *c)
{
	struct diagbuf d;
	static const char *const good[] = {
		"# Z\xc3\xbcrich\n" GOOD,
		"\xef\xbb\xbf" GOOD,
		"\xef\xbb\xbf# Z\xc3\xbcrich\r\n" GOOD,
		GOOD "# \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf \xc2\x80\n",
		"[Interface] # B\xc3\xa9ziers\nPrivateKey = " PRIV " #\xc3\xa9\nAddress = 10.77.0.2/32\n"
		"[Peer]\nPublicKey = " PUB "\nEndpoint = 203.0.113.5:51820 # Z\xc3\xbcrich\nAllowedIPs = 0.0.0.0/0\n",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(run(good[i], false, NULL, 0, &d, c) == 0, "text %zu refused: %s", i, d.text);

	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "[Interface]\nAddress = 10.0.0.2/32\xc2\xa0\n", "non-ASCII byte 0xc2 outside a comment" },
		{ "[Interface]\nAddr\xc3\xa9ss = 10.0.0.2/32\n", "outside a comment" },
		{ "[Interface]\nDNS = \xef\xbb\xbf" "1.1.1.1\n", "outside a comment" },
		{ "[Interface]\n\xef\xbb\xbf[Peer]\n", "outside a comment" }, /* a BOM past the start */
		{ "# \xc3(\n", "not valid UTF-8" },		     /* a bad continuation */
		{ "# \xc0\xaf\n", "not valid UTF-8" },	     /* overlong '/' */
		{ "# \xe0\x80\xaf\n", "not valid UTF-8" },	     /* overlong, three bytes */
		{ "# \xed\xa0\x80\n", "not valid UTF-8" },	     /* a surrogate */
		{ "# \xf4\x90\x80\x80\n", "not valid UTF-8" },    /* above U+10FFFF */
		{ "# \xf5\x80\x80\x80\n", "not valid UTF-8" },
		{ "# \xe2\x82\n[Interface]\n", "not valid UTF-8" }, /* cut by the newline */
		{ "# \x80\n", "not valid UTF-8" },
		{ "# \xff\n", "not valid UTF-8" },
		{ "# a\x01" "b\n", "binary data (control byte 0x01)" },
		{ "# a\x7f\n", "binary data" },
		{ "\xef\xbb\xbf", "empty input" },
		{ "\xef\xbb[Interface]\n", "outside a comment" }, /* half a BOM */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = parse_only(bad[i].text, 0, &d, c);
		CHECK(n == 1 && strstr(d.text, bad[i].want), "text case %zu: want one '%s', got: %s", i,
		      bad[i].want, d.text);
	}
	/* Input refused whole is one problem; the check still fails, quietly. */
	{
		struct om_wgpolicy pol = { 0 };
		CHECK(run("\xef\xbb\xbf", false, NULL, 0, &d, c) == 1 && strstr(d.text, "0:empty input"),
		      "a BOM alone: %s", d.text);
		CHECK(om_wgconf_check(c, &pol, NULL, NULL) == 1, "an unread config passed the check");
	}
	/* A comment's UTF-8 cut off by the end of the input. */
	CHECK(parse_only("# \xc3", 3, &d, c) == 1 && strstr(d.text, "not valid UTF-8"), "cut at end: %s",
	      d.text);
	/* The BOM is not a line of its own: problems keep their line numbers. */
	CHECK(parse_only("\xef\xbb\xbf[Interface]\nFoo = 1\n", 0, &d, c) == 1 &&
		      strstr(d.text, "2:unknown key Foo"),
	      "line numbers after a BOM: %s", d.text);
	/* A refused header opens no known section, and its keys are not reported again. */
	CHECK(parse_only("[Interf\xc3\xa4" "ce]\nPrivateKey = " PRIV "\nAddress = 10.0.0.2/32\n", 0, &d, c) == 1,
	      "refused header cascades: %s", d.text);
}

/* A second section is one problem, not one more for each of its keys. */
static void t_wgconf_sections(struct om_wgconf *c)
{
	struct diagbuf d;

	CHECK(parse_only(GOOD GOOD, 0, &d, c) == 2 && strstr(d.text, "duplicate [Interface]") &&
		      strstr(d.text, "more than one [Peer] section: only one is allowed"),
	      "a config twice: want two problems, got: %s", d.text);
	CHECK(parse_only(GOOD "\n[Peer]\nPublicKey = " PUB "\nPresharedKey = " PSK
			 "\nEndpoint = 198.51.100.7:1\nAllowedIPs = 0.0.0.0/0\nPersistentKeepalive = 1\n",
			 0, &d, c) == 1 &&
		      strstr(d.text, "13:more than one [Peer] section: only one is allowed"),
	      "two [Peer]: want one problem, got: %s", d.text);
	/* The first [Peer] is the one kept. */
	CHECK(c->endpoint_port == 51820 && c->has_keepalive && c->keepalive == 25, "first peer kept");
	CHECK(run(GOOD "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.9/32\nMTU = 1280\n", false,
		  NULL, 0, &d, c) == 1 &&
		      strstr(d.text, "duplicate [Interface] section") && c->n_address == 1 && !c->has_mtu,
	      "two [Interface]: want one problem, got: %s", d.text);
	/* A hook in the ignored section is still refused. */
	CHECK(parse_only(GOOD "[Peer]\nPostUp = id\nPublicKey = " PUB "\n", 0, &d, c) == 2 &&
		      strstr(d.text, "PostUp is refused"),
	      "hook in a second [Peer]: %s", d.text);
}

void t_wgconf(void)
{
	struct om_wgconf *c = calloc(1, sizeof(*c));
	struct diagbuf d;

	CHECK(run(GOOD, false, NULL, 0, &d, c) == 0, "good config refused: %s", d.text);
	CHECK(c->n_address == 1 && c->address[0].prefix == 32, "address");
	CHECK(c->n_dns == 1 && c->endpoint_port == 51820 && c->endpoint_is_ip, "dns/endpoint");
	CHECK(c->has_keepalive && c->keepalive == 25, "keepalive");
	CHECK(c->has_preshared_key && c->n_allowed == 2, "psk/allowed");

	/* Case, comments, CRLF, spacing and repeated list keys as wg-quick allows. */
	CHECK(run("# hello\r\n[interface]\r\nprivatekey=" PRIV "  # key\r\naddress = 10.0.0.2/24\r\n"
		  "Address = fd00::2/64\r\nDNS = 1.1.1.1, corp.example\r\nMTU = 1420\r\n[PEER]\r\n"
		  "publickey = " PUB "\r\nendpoint = [2001:db8::5]:51820\r\n"
		  "AllowedIPs = 0.0.0.0/1\r\nAllowedIPs = 128.0.0.0/1\r\n",
		  false, NULL, 0, &d, c) == 0,
	      "variant config refused: %s", d.text);
	CHECK(c->n_address == 2 && c->n_search == 1 && c->mtu == 1420, "variant fields");

	static const struct {
		const char *text;
		const char *want; /* a substring of the diagnostics */
	} bad[] = {
		{ "", "empty input" },
		{ "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.2/32\nPostUp = curl x|sh\n"
		  "[Peer]\nPublicKey = " PUB "\nEndpoint = 203.0.113.5:1\nAllowedIPs = 0.0.0.0/0\n",
		  "PostUp is refused" },
		{ GOOD "[Interface]\n", "duplicate [Interface]" },
		{ GOOD "[Peer]\nPublicKey = " PUB "\n", "more than one [Peer] section: only one is allowed" },
		{ "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.2/32\n", "missing [Peer]" },
		{ "[Peer]\nPublicKey = " PUB "\nEndpoint = 203.0.113.5:1\nAllowedIPs = 0.0.0.0/0\n",
		  "missing [Interface]" },
		{ "PrivateKey = " PRIV "\n", "outside any section" },
		{ "[Interface]\nPrivateKey = abc\n", "PrivateKey is not a valid key" },
		{ "[Interface]\nPrivateKey = " PRIV "\nPrivateKey = " PRIV "\n", "duplicate PrivateKey" },
		{ "[Interface]\nFoo = bar\n", "unknown key Foo" },
		{ "[Wat]\n", "unknown section" },
		{ "[Interface]\njunk line\n", "expected 'Key = Value'" },
		{ "[Interface]\nMTU = 99999\n", "MTU must be" },
		{ "[Interface]\nMTU = 1441\n", "MTU above 1440 cannot pass the guest's 1500-byte link without fragments" },
		{ "[Interface]\nMTU = 1500\n", "MTU above 1440" },
		{ "[Interface]\nAddress = 10.0.0.300/24\n", "is not an IP address" },
		{ "[Interface]\nDNS = ;rm -rf\n", "neither an IP address nor a domain" },
		{ "[Peer]\nEndpoint = 203.0.113.5\n", "endpoint has no port" },
		{ "[Peer]\nEndpoint = 203.0.113.5:0\n", "from 1 to 65535" },
		{ "[Peer]\nEndpoint = 203.0.113.5:65536\n", "from 1 to 65535" },
		{ "[Peer]\nEndpoint = 127.0.0.1:51820\n", "is loopback" },
		{ "[Peer]\nEndpoint = 10.1.2.3:51820\n", "is private" },
		{ "[Peer]\nEndpoint = 169.254.169.254:80\n", "is link-local" },
		{ "[Peer]\nEndpoint = 224.0.0.1:51820\n", "is multicast" },
		{ "[Peer]\nEndpoint = 0.0.0.0:51820\n", "is unspecified" },
		{ "[Peer]\nEndpoint = [fe80::1]:51820\n", "is link-local" },
		{ "[Peer]\nEndpoint = vpn.example.com:51820\n", "is a name, not an IP address" },
		{ "[Peer]\nAllowedIPs = 10.0.0.0/8\n", "split tunnel" },
		{ "[Peer]\nAllowedIPs = ::/0\n", "split tunnel" },
		{ "[Peer]\nPersistentKeepalive = x\n", "PersistentKeepalive must be" },
		{ "[Interface]\x01\n", "binary" },
		{ "[Interface]\nAddress = \xc3\xa9\n", "non-ASCII" },
		{ "[Interface]\nAddress =\n", "has no value" },
		{ "[Interface]\nAddress = 10.0.0.1/32,,\n", "empty item" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = run(bad[i].text, false, NULL, 0, &d, c);
		CHECK(n > 0 && strstr(d.text, bad[i].want), "case %zu: want '%s', got: %s", i,
		      bad[i].want, d.text);
	}

	t_wgconf_text(c);
	t_wgconf_sections(c);

	/* Binary data with a NUL inside the buffer is seen, not cut short. */
	{
		static const char nul[] = "[Interface]\0\n";
		memset(&d, 0, sizeof(d));
		CHECK(om_wgconf_parse(nul, sizeof(nul) - 1, c, collect, &d) > 0 &&
			      strstr(d.text, "binary"),
		      "NUL byte: %s", d.text);
	}

	/* An overlong line and oversized input. */
	{
		size_t n = 200000;
		char *big = malloc(n + 1);
		memset(big, 'a', n);
		big[n] = '\0';
		memset(&d, 0, sizeof(d));
		CHECK(om_wgconf_parse(big, n, c, collect, &d) > 0 && strstr(d.text, "larger than"),
		      "huge input: %s", d.text);
		memset(&d, 0, sizeof(d));
		CHECK(om_wgconf_parse(big, 5000, c, collect, &d) > 0 && strstr(d.text, "longer than"),
		      "long line: %s", d.text);
		free(big);
	}

	/* Every problem is reported, not just the first. */
	CHECK(run("[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.2/32\nPostUp = x\nTable = off\n"
		  "[Peer]\nPublicKey = " PUB "\nEndpoint = 10.0.0.1:1\nAllowedIPs = 10.0.0.0/8\n",
		  false, NULL, 0, &d, c) == 4,
	      "want 4 problems: %s", d.text);

	/* Private endpoints pass with allow_private; local subnets are refused without it. */
	{
		const char *t = "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.2/32\n[Peer]\n"
				"PublicKey = " PUB "\nEndpoint = 10.9.9.9:51820\nAllowedIPs = 0.0.0.0/0\n";
		CHECK(run(t, true, NULL, 0, &d, c) == 0, "allow_private: %s", d.text);
		struct om_cidr net;
		om_cidr_parse("203.0.113.0/24", &net, true);
		CHECK(run(GOOD, false, &net, 1, &d, c) == 1 && strstr(d.text, "attached to"),
		      "local subnet: %s", d.text);
		CHECK(run(GOOD, true, &net, 1, &d, c) == 0, "local subnet allowed: %s", d.text);
	}

	/* Endpoint override. */
	run(GOOD, false, NULL, 0, &d, c);
	memset(&d, 0, sizeof(d));
	CHECK(om_wgconf_set_endpoint(c, "198.51.100.9:4000", collect, &d) == 0 &&
		      c->endpoint_port == 4000,
	      "set endpoint");
	CHECK(om_wgconf_set_endpoint(c, "198.51.100.9", collect, &d) < 0, "set bad endpoint");

	om_wgconf_wipe(c);
	free(c);
}
