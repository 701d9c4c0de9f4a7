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
		if (strcasecmp(line, "[Interface]") == 0) {
			if (c->has_interface)
				problem(p, "duplicate [Interface] section");
			c->has_interface = true;
			*sec = IFACE;
		} else if (strcasecmp(line, "[Peer]") == 0) {
			if (c->has_peer)
				problem(p, "more than one [Peer] section (the provider pins exactly one endpoint)");
			c->has_peer = true;
			*sec = PEER;
		} else {
			problem(p, "unknown section %s", line);
			*sec = BAD;
		}
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
	if (*sec == IFACE) {
		if (strcasecmp(k, "PrivateKey") == 0)
			parse_key(p, "PrivateKey", v, c->private_key, &c->has_private_key);
		else if (strcasecmp(k, "Address") == 0)
			each_item(p, "Address", v, c, add_address);
		else if (strcasecmp(k, "DNS") == 0)
			each_item(p, "DNS", v, c, add_dns);
		else if (strcasecmp(k, "MTU") == 0)
			parse_uint(p, "MTU", v, OM_WG_MTU_MIN, OM_WG_MTU_MAX, &c->mtu, &c->has_mtu);
		else if (strcasecmp(k, "ListenPort") == 0)
			parse_uint(p, "ListenPort", v, 0, 65535, &c->listen_port, &c->has_listen_port);
		else
			problem(p, "unknown key %s in [Interface]", k);
		return;
	}
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

int om_wgconf_parse(const char *buf, size_t len, struct om_wgconf *c, om_diag_fn diag, void *ctx)
{
	struct pctx p = { diag, ctx, 0, 0 };
	enum section sec = NONE;
	char line[OM_WG_LINE_MAX + 1];
	size_t i = 0;

	memset(c, 0, sizeof(*c));
	if (len > OM_WG_CAP) {
		problem(&p, "input larger than %d bytes", OM_WG_CAP);
		return p.problems;
	}
	if (len == 0) {
		problem(&p, "empty input");
		return p.problems;
	}
	while (i < len) {
		size_t n = 0;
		bool bad = false, toolong = false;

		p.line++;
		for (; i < len && buf[i] != '\n'; i++) {
			unsigned char ch = (unsigned char)buf[i];
			if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f || ch >= 0x80)
				bad = true;
			if (n < OM_WG_LINE_MAX)
				line[n++] = ch == '\r' ? ' ' : (char)ch;
			else
				toolong = true;
		}
		i++; /* the newline */
		if (bad) {
			problem(&p, "binary or non-ASCII data");
			continue;
		}
		if (toolong) {
			problem(&p, "line longer than %d bytes", OM_WG_LINE_MAX);
			continue;
		}
		line[n] = '\0';
		parse_line(&p, c, &sec, line);
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
