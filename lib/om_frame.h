/* A one-line summary of a frame the jail's filter logged: what the VM tried. */
#ifndef OM_FRAME_H
#define OM_FRAME_H
#include <stddef.h>
#include <stdint.h>
#include "om_json.h"

/* The NFLOG prefixes of the jail's named drop rules (omerta-jail's tap filter),
 * which the watcher reads back: the rule that matched is evidence of its own. The
 * default drop has no prefix. At most 63 characters (NF_LOG_PREFIXLEN). */
#define OM_FRAME_PREFIX_8021Q "omerta vlan 802.1Q"
#define OM_FRAME_PREFIX_8021AD "omerta vlan 802.1ad"
#define OM_FRAME_PREFIX_OVERSIZE "omerta oversize"

#define OM_FRAME_TAGS 2

struct om_frame {
	unsigned ethertype;   /* on the wire: 0x0800 IPv4, 0x0806 ARP, 0x86dd IPv6, 0x8100 802.1Q, ... */
	unsigned inner_ethertype; /* under the VLAN tags, when there are any */
	const char *kind;     /* "ipv4", "arp", "ipv6", "vlan", "other" */
	const char *proto;    /* "tcp", "udp", "icmp", ... for IP; NULL otherwise */
	const char *rule;     /* the filter rule that dropped it: "vlan", "oversize", "default" */
	unsigned ipproto;
	char src[48], dst[48]; /* addresses (ARP: sender and target IP) */
	int sport, dport;     /* -1 when not TCP or UDP */
	int icmp_type;        /* -1 when not ICMP */
	int arp_op;           /* 1 request, 2 reply; -1 when not ARP */
	char arp_sha[18];     /* the ARP sender's MAC */
	long ip_len;          /* the IP packet's own length field (v6: + 40); -1 unknown */
	struct {              /* outermost first */
		unsigned tpid;    /* 0x8100 or 0x88a8 */
		int vid;          /* -1 when the log did not carry it */
	} tag[OM_FRAME_TAGS];
	unsigned ntags;
	size_t len;           /* the bytes logged (the log copies at most 256) */
};

/* Summarises payload (starting at the network header) of the given ethertype.
 * An 802.1Q or 802.1ad ethertype means the payload starts with the rest of that
 * tag (TCI, then the inner ethertype): the tags are recorded and what is under
 * them parsed. Never reads past len; a truncated header leaves the fields it
 * could not fill at their defaults. */
void om_frame_parse(unsigned ethertype, const uint8_t *p, size_t len, struct om_frame *f);

/* Records an outer tag that the kernel took off the frame before the filter saw it
 * (it moves an 802.1Q or 802.1ad tag into the packet's metadata, so the payload and
 * ethertype the log gives are the inner ones): tpid, and tci (-1 unknown). */
void om_frame_vlan(struct om_frame *f, unsigned tpid, int tci);

/* Takes the NFLOG prefix (n bytes, maybe NUL-terminated) of the rule that logged
 * the frame: names the rule, and a VLAN rule's tag when the log carried no tag
 * (kernels before nfnetlink_log reported VLANs for the netdev family). */
void om_frame_prefix(struct om_frame *f, const char *prefix, size_t n);

/* "802.1Q", "802.1ad" or NULL. */
const char *om_frame_tag_name(unsigned tpid);

/* Writes the summary's fields into an open JSON object. */
void om_frame_json(const struct om_frame *f, struct om_json *j);

#endif
