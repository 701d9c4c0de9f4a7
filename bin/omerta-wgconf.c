/* omerta-wgconf: the provider's gate for a requester's WireGuard client config.
 * Parses a wg-quick style file, refuses anything a provider must not run, and prints
 * the parts the other tools need. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "om_cli.h"
#include "om_ifaddr.h"
#include "om_json.h"
#include "om_read.h"
#include "om_wgconf.h"

/* As omerta-mkinitrd: 1 for any refused input, a FILE that cannot be read too. */
enum { EX_OK = 0, EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3 };

static const char usage_text[] =
	"usage: omerta-wgconf check [--allow-private-endpoint] [--resolve] [--endpoint HOST:PORT] FILE|-\n"
	"       omerta-wgconf show [--json] [--allow-private-endpoint] [--resolve] [--endpoint HOST:PORT] FILE|-\n"
	"       omerta-wgconf setconf [--allow-private-endpoint] [--resolve] [--endpoint HOST:PORT] FILE|-\n"
	"       omerta-wgconf --help | --version\n";

static char outbuf[BUFSIZ];

static const char help_text[] =
	"\n"
	"  check     exit 0 for a sound config; otherwise list every problem on stderr\n"
	"  show      print the parsed fields (the private key is never shown)\n"
	"  setconf   print the subset wg setconf accepts, endpoint pinned\n"
	"  --allow-private-endpoint  accept an endpoint in a loopback, private,\n"
	"            link-local, multicast or provider-attached range\n"
	"  --resolve resolve a host name endpoint once and pin the address\n"
	"  --endpoint HOST:PORT  use this endpoint instead of the config's\n"
	"  -j, --json  with show: one JSON object\n"
	"Exit status: 0 sound, 1 config refused (or FILE unreadable), 2 usage,\n"
	"3 system error.\n";

_Noreturn static void usage(int code)
{
	om_usage(usage_text, help_text, code);
}

struct diagctx {
	const char *name;
	int count;
};

static void diag(void *vctx, unsigned line, const char *msg)
{
	struct diagctx *d = vctx;

	d->count++;
	if (line)
		fprintf(stderr, "omerta-wgconf: %s:%u: %s\n", d->name, line, msg);
	else
		fprintf(stderr, "omerta-wgconf: %s: %s\n", d->name, msg);
}

/* Resolves the endpoint name once. Every address the name has must pass the policy,
 * so a name cannot smuggle in a private address beside a public one; the first IPv4
 * address (else the first) is pinned. */
static int resolve(struct om_wgconf *c, bool allow_private, struct diagctx *d)
{
	struct addrinfo hints = { 0 }, *res, *r;
	int e, bad = 0;
	bool pinned = false;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	e = getaddrinfo(c->endpoint_host, NULL, &hints, &res);
	if (e) {
		char msg[400];
		snprintf(msg, sizeof(msg), "cannot resolve Endpoint host '%s': %s", c->endpoint_host,
			 gai_strerror(e));
		diag(d, 0, msg);
		c->bad_endpoint = true;
		return -1;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (r = res; r; r = r->ai_next) {
			struct om_ip ip = { 0 };
			if (r->ai_family == AF_INET) {
				ip.family = AF_INET;
				memcpy(ip.a, &((struct sockaddr_in *)(void *)r->ai_addr)->sin_addr, 4);
			} else if (r->ai_family == AF_INET6) {
				ip.family = AF_INET6;
				memcpy(ip.a, &((struct sockaddr_in6 *)(void *)r->ai_addr)->sin6_addr, 16);
			} else
				continue;
			if (pass == 0) {
				const char *cls = om_ip_refused_class(&ip);
				if (cls && !allow_private) {
					char s[OM_IP_STRLEN], msg[512];
					om_ip_format(&ip, s);
					snprintf(msg, sizeof(msg), "Endpoint host '%s' resolves to %s, which is %s",
						 c->endpoint_host, s, cls);
					diag(d, 0, msg);
					bad++;
				}
				if (!pinned && ip.family == AF_INET) {
					c->endpoint_ip = ip;
					pinned = true;
				}
			} else if (!pinned) {
				c->endpoint_ip = ip;
				pinned = true;
			}
		}
	}
	freeaddrinfo(res);
	if (bad || !pinned) {
		c->bad_endpoint = true; /* reported here; the policy check stays quiet */
		if (!pinned)
			diag(d, 0, "Endpoint host has no IPv4 or IPv6 address");
		return -1;
	}
	c->endpoint_is_ip = true;
	return 0;
}

static void endpoint_str(const struct om_wgconf *c, char *out, size_t n)
{
	char ip[OM_IP_STRLEN];

	om_ip_format(&c->endpoint_ip, ip);
	if (c->endpoint_ip.family == AF_INET6)
		snprintf(out, n, "[%s]:%u", ip, c->endpoint_port);
	else
		snprintf(out, n, "%s:%u", ip, c->endpoint_port);
}

static void cidr_str(const struct om_cidr *c, char *out, size_t n)
{
	char ip[OM_IP_STRLEN];

	om_ip_format(&c->ip, ip);
	snprintf(out, n, "%s/%u", ip, c->prefix);
}

static void print_cidrs(const char *sep, const struct om_cidr *v, size_t n)
{
	char s[OM_IP_STRLEN + 8];

	for (size_t i = 0; i < n; i++) {
		cidr_str(&v[i], s, sizeof(s));
		printf("%s%s", i ? sep : "", s);
	}
}

static void show_text(const struct om_wgconf *c)
{
	char k[OM_KEY_B64_LEN + 1], ep[OM_IP_STRLEN + 16], ip[OM_IP_STRLEN];
	uint8_t pub[OM_KEY_LEN];

	om_key_public(pub, c->private_key);
	om_key_to_b64(k, pub);
	printf("public_key\t%s\n", k);
	printf("private_key\t(hidden)\n");
	printf("address\t");
	print_cidrs(",", c->address, c->n_address);
	printf("\ndns\t");
	for (size_t i = 0; i < c->n_dns; i++) {
		om_ip_format(&c->dns[i], ip);
		printf("%s%s", i ? "," : "", ip);
	}
	if (!c->n_dns)
		putchar('-');
	printf("\ndns_search\t");
	for (size_t i = 0; i < c->n_search; i++)
		printf("%s%s", i ? "," : "", c->search[i]);
	if (!c->n_search)
		putchar('-');
	putchar('\n');
	if (c->has_mtu)
		printf("mtu\t%u\n", c->mtu);
	else
		printf("mtu\t-\n");
	if (c->has_listen_port)
		printf("listen_port\t%u\n", c->listen_port);
	else
		printf("listen_port\t-\n");
	om_key_to_b64(k, c->public_key);
	printf("peer_public_key\t%s\n", k);
	printf("preshared_key\t%s\n", c->has_preshared_key ? "(hidden)" : "-");
	endpoint_str(c, ep, sizeof(ep));
	om_ip_format(&c->endpoint_ip, ip);
	printf("endpoint\t%s\nendpoint_ip\t%s\nendpoint_port\t%u\nendpoint_host\t%s\n", ep, ip,
	       c->endpoint_port, c->endpoint_host);
	printf("allowed_ips\t");
	print_cidrs(",", c->allowed, c->n_allowed);
	putchar('\n');
	if (c->has_keepalive)
		printf("persistent_keepalive\t%u\n", c->keepalive);
	else
		printf("persistent_keepalive\t-\n");
	struct om_ip sip;
	if (om_wgconf_server_ip(c, &sip) == 0) {
		om_ip_format(&sip, ip);
		printf("server_ip\t%s\n", ip);
	} else
		printf("server_ip\t-\n");
}

static void show_json(const struct om_wgconf *c)
{
	char k[OM_KEY_B64_LEN + 1], s[OM_IP_STRLEN + 16];
	uint8_t pub[OM_KEY_LEN];
	struct om_json j;

	om_json_init(&j, stdout);
	om_json_obj_open(&j, NULL);
	om_key_public(pub, c->private_key);
	om_key_to_b64(k, pub);
	om_json_str(&j, "public_key", k);
	om_json_str(&j, "private_key", "(hidden)");
	om_json_arr_open(&j, "address");
	for (size_t i = 0; i < c->n_address; i++) {
		cidr_str(&c->address[i], s, sizeof(s));
		om_json_str(&j, NULL, s);
	}
	om_json_arr_close(&j);
	om_json_arr_open(&j, "dns");
	for (size_t i = 0; i < c->n_dns; i++) {
		om_ip_format(&c->dns[i], s);
		om_json_str(&j, NULL, s);
	}
	om_json_arr_close(&j);
	om_json_arr_open(&j, "dns_search");
	for (size_t i = 0; i < c->n_search; i++)
		om_json_str(&j, NULL, c->search[i]);
	om_json_arr_close(&j);
	if (c->has_mtu)
		om_json_int(&j, "mtu", c->mtu);
	else
		om_json_null(&j, "mtu");
	if (c->has_listen_port)
		om_json_int(&j, "listen_port", c->listen_port);
	else
		om_json_null(&j, "listen_port");
	om_key_to_b64(k, c->public_key);
	om_json_str(&j, "peer_public_key", k);
	om_json_str(&j, "preshared_key", c->has_preshared_key ? "(hidden)" : NULL);
	endpoint_str(c, s, sizeof(s));
	om_json_str(&j, "endpoint", s);
	om_ip_format(&c->endpoint_ip, s);
	om_json_str(&j, "endpoint_ip", s);
	om_json_int(&j, "endpoint_port", c->endpoint_port);
	om_json_str(&j, "endpoint_host", c->endpoint_host);
	om_json_arr_open(&j, "allowed_ips");
	for (size_t i = 0; i < c->n_allowed; i++) {
		cidr_str(&c->allowed[i], s, sizeof(s));
		om_json_str(&j, NULL, s);
	}
	om_json_arr_close(&j);
	if (c->has_keepalive)
		om_json_int(&j, "persistent_keepalive", c->keepalive);
	else
		om_json_null(&j, "persistent_keepalive");
	struct om_ip sip;
	if (om_wgconf_server_ip(c, &sip) == 0) {
		om_ip_format(&sip, s);
		om_json_str(&j, "server_ip", s);
	} else
		om_json_null(&j, "server_ip");
	om_json_obj_close(&j);
	om_json_end(&j);
}

static void setconf(const struct om_wgconf *c)
{
	char k[OM_KEY_B64_LEN + 1], ep[OM_IP_STRLEN + 16];

	om_key_to_b64(k, c->private_key);
	printf("[Interface]\nPrivateKey = %s\n", k);
	if (c->has_listen_port)
		printf("ListenPort = %u\n", c->listen_port);
	om_key_to_b64(k, c->public_key);
	printf("\n[Peer]\nPublicKey = %s\n", k);
	if (c->has_preshared_key) {
		om_key_to_b64(k, c->preshared_key);
		printf("PresharedKey = %s\n", k);
	}
	endpoint_str(c, ep, sizeof(ep));
	printf("Endpoint = %s\nAllowedIPs = ", ep);
	print_cidrs(", ", c->allowed, c->n_allowed);
	putchar('\n');
	if (c->has_keepalive)
		printf("PersistentKeepalive = %u\n", c->keepalive);
	om_wipe(k, sizeof(k));
}

enum cmd { CHECK, SHOW, SETCONF };

struct opts {
	enum cmd cmd;
	bool allow_private, resolve, json;
	const char *endpoint, *path;
};

/* The command word, then the options; usage() exits on anything wrong. */
static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "allow-private-endpoint", no_argument, NULL, 'a' },
		{ "resolve", no_argument, NULL, 'r' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const names[] = { "check", "show", "setconf" };
	int ch;

	o->cmd = CHECK;
	if (argc >= 2 && argv[1][0] != '-') {
		size_t i = 0;
		while (i < 3 && strcmp(argv[1], names[i]) != 0)
			i++;
		if (i == 3) {
			warnx("unknown command '%s'", argv[1]);
			usage(EX_USAGE_);
		}
		o->cmd = (enum cmd)i;
		argv[1] = argv[0]; /* getopt names the program by argv[0] */
		argv++;
		argc--;
	} else if (argc < 2 || (strcmp(argv[1], "-h") && strcmp(argv[1], "--help") &&
				strcmp(argv[1], "--version")))
		usage(EX_USAGE_);
	while ((ch = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': o->allow_private = true; break;
		case 'r': o->resolve = true; break;
		case 'e': o->endpoint = optarg; break;
		case 'j': o->json = true; break;
		case 'h': usage(EX_OK); break;
		case 'V': puts("omerta-wgconf " OMERTA_VERSION); exit(EX_OK);
		default: usage(EX_USAGE_);
		}
	}
	if (o->json && o->cmd != SHOW) {
		warnx("--json goes with show");
		usage(EX_USAGE_);
	}
	if (argc - optind != 1) {
		warnx(argc == optind ? "missing FILE (use - for standard input)" : "too many arguments");
		usage(EX_USAGE_);
	}
	o->path = argv[optind];
}

/* Parses and checks conf from buf, with the options' endpoint and policy. EX_OK
 * when sound, EX_INPUT after listing every problem, EX_SYS. */
static int check_conf(const struct opts *o, const char *buf, size_t len, struct om_wgconf *conf,
		      struct diagctx *d)
{
	struct om_cidr *nets = NULL;
	size_t nnets = 0;

	om_wgconf_parse(buf, len, conf, diag, d);
	if (o->endpoint)
		om_wgconf_set_endpoint(conf, o->endpoint, diag, d);
	if (o->resolve && conf->has_endpoint && !conf->endpoint_is_ip)
		resolve(conf, o->allow_private, d);
	if (!o->allow_private && om_local_nets(&nets, &nnets) < 0) {
		warn("getifaddrs");
		return EX_SYS;
	}
	struct om_wgpolicy pol = { o->allow_private, nets, nnets };
	om_wgconf_check(conf, &pol, diag, d);
	free(nets);
	return d->count ? EX_INPUT : EX_OK;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct om_wgconf *conf = NULL;
	size_t len = 0;
	char *buf = NULL;
	struct diagctx d = { 0 };
	int r, ret = EX_SYS;

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	parse_args(argc, argv, &o);
	d.name = strcmp(o.path, "-") == 0 ? "stdin" : o.path;

	r = om_read_path(o.path, OM_WG_CAP, &buf, &len);
	if (r == -2) {
		warnx("%s: larger than %d bytes; refused", d.name, OM_WG_CAP);
		ret = EX_INPUT;
		goto out;
	}
	if (r < 0) {
		/* A FILE that is missing or cannot be read is refused input, exit 1, as
		 * in omerta-mkinitrd: the caller named it, the host is not at fault. */
		warn("%s", d.name);
		ret = EX_INPUT;
		goto out;
	}
	conf = calloc(1, sizeof(*conf));
	if (!conf) {
		warn("calloc");
		goto out;
	}
	ret = check_conf(&o, buf, len, conf, &d);
	if (ret != EX_OK)
		goto out;
	if (o.cmd == SHOW)
		o.json ? show_json(conf) : show_text(conf);
	else if (o.cmd == SETCONF)
		setconf(conf);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warn("write");
		ret = EX_SYS;
	}
out:
	if (conf) {
		om_wgconf_wipe(conf);
		free(conf);
	}
	om_read_free(buf, len);
	om_wipe(outbuf, sizeof(outbuf));
	return ret;
}
