#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "om_num.h"
#include "om_wgconf.h"

struct pctx {
	om_diag_fn diag;
	void *ctx;
	unsigned line;
	int problems;
};

__attribute__((format(printf, 2, 3))) static void problem(struct pctx *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->problems++;
	if (p->diag)
		p->diag(p->ctx, p->line, msg);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static bool hostname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

static void parse_key(struct pctx *p, const char *name, const char *v, uint8_t out[OM_KEY_LEN],
		      bool *has)
{
	if (*has) {
		problem(p, "duplicate %s", name);
		return;
	}
	*has = true; /* even when malformed: it was given, and is reported once */
	if (om_key_from_b64(out, v, strlen(v)) < 0) {
		problem(p, "%s is not a valid key (44 characters of base64)", name);
		memset(out, 0, OM_KEY_LEN);
	}
}

static void parse_uint(struct pctx *p, const char *name, const char *v, uint64_t min,
		       uint64_t max, unsigned *out, bool *has)
{
	uint64_t n;

	if (*has) {
		problem(p, "duplicate %s", name);
		return;
	}
	if (om_parse_u64(v, min, max, &n) < 0) {
		problem(p, "%s must be a number from %llu to %llu", name, (unsigned long long)min,
			(unsigned long long)max);
		return;
	}
	*out = (unsigned)n;
	*has = true;
}

/* Splits a comma-separated list in place and calls fn on each trimmed item. */
static void each_item(struct pctx *p, const char *name, char *v, struct om_wgconf *c,
		      void (*fn)(struct pctx *, struct om_wgconf *, const char *))
{
	for (;;) {
		char *comma = strchr(v, ',');
		if (comma)
			*comma = '\0';
		char *it = trim(v);
		if (!*it)
			problem(p, "%s has an empty item", name);
		else
			fn(p, c, it);
		if (!comma)
			break;
		v = comma + 1;
	}
}

static void add_address(struct pctx *p, struct om_wgconf *c, const char *it)
{
	if (c->n_address >= OM_WG_MAX_ADDR) {
		problem(p, "too many Address entries (at most %d)", OM_WG_MAX_ADDR);
		return;
	}
	if (om_cidr_parse(it, &c->address[c->n_address], false) < 0) {
		c->bad_address = true;
		problem(p, "Address '%s' is not an IP address with an optional /prefix", it);
		return;
	}
	c->n_address++;
}

static void add_allowed(struct pctx *p, struct om_wgconf *c, const char *it)
{
	if (c->n_allowed >= OM_WG_MAX_ALLOWED) {
		problem(p, "too many AllowedIPs entries (at most %d)", OM_WG_MAX_ALLOWED);
		return;
	}
	if (om_cidr_parse(it, &c->allowed[c->n_allowed], false) < 0) {
		c->bad_allowed = true;
		problem(p, "AllowedIPs entry '%s' is not an IP prefix", it);
		return;
	}
	c->n_allowed++;
}

static void add_dns(struct pctx *p, struct om_wgconf *c, const char *it)
{
	struct om_ip ip;

	if (om_ip_parse(it, &ip) == 0) {
		if (c->n_dns >= OM_WG_MAX_DNS) {
			problem(p, "too many DNS servers (at most %d)", OM_WG_MAX_DNS);
			return;
		}
		c->dns[c->n_dns++] = ip;
		return;
	}
	/* wg-quick treats a DNS entry that is not an address as a search domain. */
	if (!hostname_ok(it)) {
		problem(p, "DNS entry '%s' is neither an IP address nor a domain name", it);
		return;
	}
	if (c->n_search >= OM_WG_MAX_DNS) {
		problem(p, "too many DNS search domains (at most %d)", OM_WG_MAX_DNS);
		return;
	}
	snprintf(c->search[c->n_search++], OM_HOST_MAX + 1, "%s", it);
}

static int set_endpoint(struct pctx *p, struct om_wgconf *c, const char *v)
{
	char host[OM_HOST_MAX + 1];
	uint16_t port;
	const char *why;

	if (om_endpoint_split(v, host, &port, &why) < 0) {
		c->bad_endpoint = true;
		problem(p, "Endpoint '%s': %s", v, why);
		return -1;
	}
	c->endpoint_is_ip = om_ip_parse(host, &c->endpoint_ip) == 0;
	if (!c->endpoint_is_ip && !hostname_ok(host)) {
		c->bad_endpoint = true;
		problem(p, "Endpoint host '%s' is neither an IP address nor a host name", host);
		return -1;
	}
	memcpy(c->endpoint_host, host, sizeof(host));
	c->endpoint_port = port;
	c->has_endpoint = true;
	return 0;
}

int om_wgconf_set_endpoint(struct om_wgconf *c, const char *ep, om_diag_fn diag, void *ctx)
{
	struct pctx p = { diag, ctx, 0, 0 };

	c->has_endpoint = false;
	c->bad_endpoint = false;
	return set_endpoint(&p, c, ep);
}

/* Keys wg(8) or wg-quick(8) know but a provider must never run. */
static const char *const refused_keys[] = { "PreUp", "PostUp", "PreDown", "PostDown",
					     "SaveConfig", "Table", "FwMark" };

enum section { NONE, IFACE, PEER, BAD };

/* A second [Interface] or [Peer] is one problem: its keys are skipped (as in an
 * unknown section), so that each is not reported again as a duplicate. Hooks in
 * it are still refused, by parse_line, before the section is looked at. */
static void parse_section(struct pctx *p, struct om_wgconf *c, enum section *sec, const char *line)
{
	if (strcasecmp(line, "[Interface]") == 0) {
		if (c->has_interface) {
			problem(p, "duplicate [Interface] section: only one is allowed");
			*sec = BAD;
			return;
		}
		c->has_interface = true;
		*sec = IFACE;
	} else if (strcasecmp(line, "[Peer]") == 0) {
		if (c->has_peer) {
			problem(p, "more than one [Peer] section: only one is allowed (the provider pins exactly one endpoint)");
			*sec = BAD;
			return;
		}
		c->has_peer = true;
		*sec = PEER;
	} else {
		problem(p, "unknown section %s", line);
		*sec = BAD;
	}
}

static void iface_key(struct pctx *p, struct om_wgconf *c, const char *k, char *v)
{
	if (strcasecmp(k, "PrivateKey") == 0)
		parse_key(p, "PrivateKey", v, c->private_key, &c->has_private_key);
	else if (strcasecmp(k, "Address") == 0)
		each_item(p, "Address", v, c, add_address);
	else if (strcasecmp(k, "DNS") == 0)
		each_item(p, "DNS", v, c, add_dns);
	else if (strcasecmp(k, "MTU") == 0) {
		bool had = c->has_mtu;
		parse_uint(p, "MTU", v, OM_WG_MTU_MIN, OM_WG_MTU_MAX, &c->mtu, &c->has_mtu);
		/* The guest's eth0 is 1500 bytes and its datagrams go to the door over
		 * IPv4 (20 + 8 + 32 bytes of headers): a larger tunnel MTU would need
		 * fragments, which the provider's filter ends as a rogue frame. */
		if (!had && c->has_mtu && c->mtu > OM_WG_MTU_GUEST)
			problem(p, "MTU above %d cannot pass the guest's 1500-byte link without fragments",
				OM_WG_MTU_GUEST);
	}
	else if (strcasecmp(k, "ListenPort") == 0)
		parse_uint(p, "ListenPort", v, 0, 65535, &c->listen_port, &c->has_listen_port);
	else
		problem(p, "unknown key %s in [Interface]", k);
}

static void peer_key(struct pctx *p, struct om_wgconf *c, const char *k, char *v)
{
	if (strcasecmp(k, "PublicKey") == 0)
		parse_key(p, "PublicKey", v, c->public_key, &c->has_public_key);
	else if (strcasecmp(k, "PresharedKey") == 0)
		parse_key(p, "PresharedKey", v, c->preshared_key, &c->has_preshared_key);
	else if (strcasecmp(k, "AllowedIPs") == 0)
		each_item(p, "AllowedIPs", v, c, add_allowed);
	else if (strcasecmp(k, "Endpoint") == 0) {
		if (c->has_endpoint)
			problem(p, "duplicate Endpoint");
		else
			set_endpoint(p, c, v);
	} else if (strcasecmp(k, "PersistentKeepalive") == 0) {
		if (strcasecmp(v, "off") == 0) {
			c->has_keepalive = true;
			c->keepalive = 0;
		} else
			parse_uint(p, "PersistentKeepalive", v, 0, 65535, &c->keepalive,
				   &c->has_keepalive);
	} else
		problem(p, "unknown key %s in [Peer]", k);
}

static void parse_line(struct pctx *p, struct om_wgconf *c, enum section *sec, char *line)
{
	char *hash, *eq, *k, *v;

	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	line = trim(line);
	if (!*line)
		return;
	if (line[0] == '[') {
		parse_section(p, c, sec, line);
		return;
	}
	eq = strchr(line, '=');
	if (!eq) {
		problem(p, "expected 'Key = Value' or a [Section]");
		return;
	}
	*eq = '\0';
	k = trim(line);
	v = trim(eq + 1);
	for (size_t i = 0; i < sizeof(refused_keys) / sizeof(refused_keys[0]); i++) {
		if (strcasecmp(k, refused_keys[i]) == 0) {
			problem(p, "%s is refused: on a provider it would run the requester's commands or change the host's routing",
				refused_keys[i]);
			return;
		}
	}
	if (*sec == NONE) {
		problem(p, "%s outside any section", k);
		return;
	}
	if (*sec == BAD)
		return;
	if (!*v) {
		problem(p, "%s has no value", k);
		return;
	}
	if (*sec == IFACE)
		iface_key(p, c, k, v);
	else
		peer_key(p, c, k, v);
}

/* Length of the well-formed UTF-8 sequence of two to four bytes at s[0..n), or 0
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t more;

	if (c >= 0xc2 && c <= 0xdf)
		more = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		more = 2;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* overlong */
		hi = c == 0xed ? 0x9f : 0xbf; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		more = 3;
		lo = c == 0xf0 ? 0x90 : 0x80; /* overlong */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* above U+10FFFF */
	} else
		return 0;
	if (n <= more)
		return 0;
	for (size_t k = 1; k <= more; k++) {
		if (s[k] < lo || s[k] > hi)
			return 0;
		lo = 0x80; /* only the second byte has a narrower range */
		hi = 0xbf;
	}
	return more + 1;
}

/* Checks the bytes of one line, s[0..n). Keys and values are printable ASCII:
 * everything the tools downstream read is plain text, and a look-alike letter in
 * a key must not pass for another. A comment, from the first '#', may hold any
 * well-formed UTF-8 (a city's name, say), since nothing reads it. Control bytes
 * other than tab and CR are binary data wherever they are. 0, or -1 after one
 * problem. */
static int check_bytes(struct pctx *p, const unsigned char *s, size_t n)
{
	bool comment = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];
		size_t k;
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f) {
			problem(p, "binary data (control byte 0x%02x)", ch);
			return -1;
		}
		comment |= ch == '#';
		if (ch < 0x80)
			continue;
		if (!comment) {
			problem(p, "non-ASCII byte 0x%02x outside a comment (only comments may hold UTF-8)", ch);
			return -1;
		}
		if ((k = utf8_len(s + i, n - i)) == 0) {
			problem(p, "the comment is not valid UTF-8 (byte 0x%02x)", ch);
			return -1;
		}
		i += k - 1;
	}
	return 0;
}

/* The first byte of s[0..n) that is ASCII and not blank is '[': a section header
 * (a stray BOM or letter before it aside). */
static bool looks_like_section(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || (unsigned char)s[i] >= 0x80))
		i++;
	return i < n && s[i] == '[';
}

/* A UTF-8 byte order mark, as Windows editors write one: skipped at the very start
 * of the input, as wg-quick users expect; anywhere else it is a non-ASCII byte. */
static const char bom[] = "\xef\xbb\xbf";

int om_wgconf_parse(const char *buf, size_t len, struct om_wgconf *c, om_diag_fn diag, void *ctx)
{
	struct pctx p = { diag, ctx, 0, 0 };
	enum section sec = NONE;
	char line[OM_WG_LINE_MAX + 1];
	size_t i = 0;

	memset(c, 0, sizeof(*c));
	if (len > OM_WG_CAP) {
		c->unread = true;
		problem(&p, "input larger than %d bytes", OM_WG_CAP);
		return p.problems;
	}
	if (len >= 3 && memcmp(buf, bom, 3) == 0)
		i = 3;
	if (len == i) {
		c->unread = true;
		problem(&p, "empty input");
		return p.problems;
	}
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;

		p.line++;
		if (check_bytes(&p, (const unsigned char *)buf + i, n) < 0) {
			/* A refused header still opens a section, an unknown one: its
			 * keys are not all reported again as outside any section. */
			if (looks_like_section(buf + i, n))
				sec = BAD;
		} else if (n > OM_WG_LINE_MAX)
			problem(&p, "line longer than %d bytes", OM_WG_LINE_MAX);
		else {
			for (size_t k = 0; k < n; k++)
				line[k] = buf[i + k] == '\r' ? ' ' : buf[i + k];
			line[n] = '\0';
			parse_line(&p, c, &sec, line);
		}
		i += n + 1; /* the line and its newline */
		if (p.problems > 100) {
			problem(&p, "too many problems; giving up");
			break;
		}
	}
	om_wipe(line, sizeof(line));
	return p.problems;
}

int om_wgconf_check(const struct om_wgconf *c, const struct om_wgpolicy *pol, om_diag_fn diag,
		    void *ctx)
{
	struct pctx p = { diag, ctx, 0, 0 };
	bool v4 = false;

	if (c->unread)
		return 1; /* fail closed, quietly: "missing [Interface]" would be noise */
	if (!c->has_interface)
		problem(&p, "missing [Interface] section");
	else {
		if (!c->has_private_key)
			problem(&p, "missing PrivateKey in [Interface]");
		for (size_t i = 0; i < c->n_address; i++)
			v4 |= c->address[i].ip.family == AF_INET;
		if (!v4 && !c->bad_address)
			problem(&p, "missing IPv4 Address in [Interface]");
	}
	if (!c->has_peer) {
		problem(&p, "missing [Peer] section");
		return p.problems;
	}
	if (!c->has_public_key)
		problem(&p, "missing PublicKey in [Peer]");
	if (!c->has_endpoint) {
		if (!c->bad_endpoint)
			problem(&p, "missing Endpoint in [Peer]");
	}
	else if (!c->endpoint_is_ip) {
		if (!c->bad_endpoint)
			problem(&p, "Endpoint host '%s' is a name, not an IP address; resolve it once and pin the address (--resolve)",
				c->endpoint_host);
	} else if (!pol->allow_private) {
		const char *cls = om_ip_refused_class(&c->endpoint_ip);
		char ip[OM_IP_STRLEN];

		om_ip_format(&c->endpoint_ip, ip);
		if (cls)
			problem(&p, "Endpoint %s is %s (--allow-private-endpoint permits it)", ip, cls);
		for (size_t i = 0; !cls && i < pol->n_local_nets; i++) {
			if (om_cidr_contains(&pol->local_nets[i], &c->endpoint_ip)) {
				char net[OM_IP_STRLEN];
				om_ip_format(&pol->local_nets[i].ip, net);
				problem(&p, "Endpoint %s is on %s/%u, a subnet this host is attached to (--allow-private-endpoint permits it)",
					ip, net, pol->local_nets[i].prefix);
				break;
			}
		}
	}
	if (c->n_allowed == 0) {
		if (!c->bad_allowed)
			problem(&p, "missing AllowedIPs in [Peer]");
	} else if (!c->bad_allowed && !om_cidrs_cover_ipv4(c->allowed, c->n_allowed))
		problem(&p, "AllowedIPs must cover all of IPv4 (0.0.0.0/0): a split tunnel leaks traffic past the tunnel");
	return p.problems;
}

void om_wgconf_wipe(struct om_wgconf *c)
{
	om_wipe(c, sizeof(*c));
}

int om_wgconf_server_ip(const struct om_wgconf *w, struct om_ip *out)
{
	for (size_t d = 0; d < w->n_dns; d++)
		for (size_t i = 0; i < w->n_address; i++)
			if (w->address[i].ip.family == AF_INET && w->address[i].prefix < 32 &&
			    om_cidr_contains(&w->address[i], &w->dns[d])) {
				*out = w->dns[d];
				return 0;
			}
	for (size_t i = 0; i < w->n_address; i++) {
		if (w->address[i].ip.family == AF_INET && w->address[i].prefix < 31) {
			om_cidr_network(&w->address[i], out);
			out->a[3]++;
			if (!om_ip_equal(out, &w->address[i].ip))
				return 0;
		}
	}
	return -1;
}
