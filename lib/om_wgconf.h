/* Parser for a wg-quick style client configuration, and the provider's policy for it. */
#ifndef OM_WGCONF_H
#define OM_WGCONF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "om_addr.h"
#include "om_key.h"

#define OM_WG_CAP (64 * 1024) /* input size cap, bytes */
#define OM_WG_LINE_MAX 1024
#define OM_WG_MAX_ADDR 16
#define OM_WG_MAX_DNS 8
#define OM_WG_MAX_ALLOWED 64
#define OM_WG_MTU_MIN 576
#define OM_WG_MTU_MAX 9000
#define OM_WG_MTU_GUEST 1440 /* the most the guest's 1500-byte eth0 carries whole */

struct om_wgconf {
	bool has_interface, has_peer;

	bool has_private_key;
	uint8_t private_key[OM_KEY_LEN];
	struct om_cidr address[OM_WG_MAX_ADDR];
	size_t n_address;
	struct om_ip dns[OM_WG_MAX_DNS];
	size_t n_dns;
	char search[OM_WG_MAX_DNS][OM_HOST_MAX + 1]; /* DNS entries that are names */
	size_t n_search;
	bool has_mtu;
	unsigned mtu;
	bool has_listen_port;
	unsigned listen_port;

	bool has_public_key;
	uint8_t public_key[OM_KEY_LEN];
	bool has_preshared_key;
	uint8_t preshared_key[OM_KEY_LEN];
	bool has_endpoint;
	char endpoint_host[OM_HOST_MAX + 1];
	uint16_t endpoint_port;
	bool endpoint_is_ip; /* endpoint_host is an IP literal, parsed into endpoint_ip */
	struct om_ip endpoint_ip;
	struct om_cidr allowed[OM_WG_MAX_ALLOWED];
	size_t n_allowed;
	bool has_keepalive;
	unsigned keepalive;

	/* Set when a value was present but malformed (already reported), so that the
	 * policy check does not report it again as missing. */
	bool bad_address, bad_endpoint, bad_allowed;
	/* Set when the input was refused whole (empty, or over OM_WG_CAP): the check
	 * then adds no "missing" problems of its own, but still fails. */
	bool unread;
};

/* Called once per problem. line is 1-based, or 0 for the file as a whole. */
typedef void (*om_diag_fn)(void *ctx, unsigned line, const char *msg);

/* Parses buf[0..len). Reports each problem through diag and returns how many there
 * were (0: the syntax is sound). Never reads past len; buf need not be terminated. */
int om_wgconf_parse(const char *buf, size_t len, struct om_wgconf *c, om_diag_fn diag,
		    void *ctx);

/* Replaces the peer's endpoint ("HOST:PORT"). 0, or -1 after a diag. */
int om_wgconf_set_endpoint(struct om_wgconf *c, const char *ep, om_diag_fn diag, void *ctx);

struct om_wgpolicy {
	bool allow_private; /* endpoints in refused ranges and local subnets pass */
	const struct om_cidr *local_nets; /* subnets the provider is attached to */
	size_t n_local_nets;
};

/* Checks a parsed config against what a provider may run. Returns the number of
 * problems, each reported through diag; for an input refused whole (c->unread),
 * 1 with nothing reported, since parsing reported it. */
int om_wgconf_check(const struct om_wgconf *c, const struct om_wgpolicy *p, om_diag_fn diag,
		    void *ctx);

/* Wipes the secrets in c. */
void om_wgconf_wipe(struct om_wgconf *c);

/* The server's tunnel address, the one choice every tool makes the same way: a DNS
 * server that lies inside a tunnel subnet (the requester's server offers DNS there),
 * else the first host of the first IPv4 tunnel subnet that is not the client's own
 * address. 0, or -1 when the config cannot tell (a /32 or /31 Address, no DNS
 * inside it). */
int om_wgconf_server_ip(const struct om_wgconf *c, struct om_ip *out);

#endif
