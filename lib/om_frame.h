/* A one-line summary of a frame the jail's filter logged: what the VM tried. */
#ifndef OM_FRAME_H
#define OM_FRAME_H
#include <stddef.h>
#include <stdint.h>
#include "om_json.h"

struct om_frame {
	unsigned ethertype;   /* 0x0800 IPv4, 0x0806 ARP, 0x86dd IPv6, ... */
	const char *kind;     /* "ipv4", "arp", "ipv6", "other" */
	const char *proto;    /* "tcp", "udp", "icmp", ... for IP; NULL otherwise */
	unsigned ipproto;
	char src[48], dst[48]; /* addresses (ARP: sender and target IP) */
	int sport, dport;     /* -1 when not TCP or UDP */
	int icmp_type;        /* -1 when not ICMP */
	int arp_op;           /* 1 request, 2 reply; -1 when not ARP */
	char arp_sha[18];     /* the ARP sender's MAC */
	size_t len;
};

/* Summarises payload (starting at the network header) of the given ethertype.
 * Never reads past len; a truncated header leaves the fields it could not fill
 * at their defaults. */
void om_frame_parse(unsigned ethertype, const uint8_t *p, size_t len, struct om_frame *f);

/* Writes the summary's fields into an open JSON object. */
void om_frame_json(const struct om_frame *f, struct om_json *j);

#endif
