#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "om_frame.h"

static const char *ipproto_name(unsigned p)
{
	switch (p) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 58: return "icmpv6";
	default: return "other";
	}
}

static void ports(struct om_frame *f, const uint8_t *l4, size_t n)
{
	if ((f->ipproto == 6 || f->ipproto == 17) && n >= 4) {
		f->sport = l4[0] << 8 | l4[1];
		f->dport = l4[2] << 8 | l4[3];
	} else if ((f->ipproto == 1 || f->ipproto == 58) && n >= 1)
		f->icmp_type = l4[0];
}

void om_frame_parse(unsigned ethertype, const uint8_t *p, size_t len, struct om_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->ethertype = ethertype;
	f->kind = "other";
	f->sport = f->dport = f->icmp_type = f->arp_op = -1;
	f->len = len;
	if (ethertype == 0x0800) {
		f->kind = "ipv4";
		if (len < 20 || (p[0] >> 4) != 4)
			return;
		size_t ihl = (size_t)(p[0] & 15) * 4;
		f->ipproto = p[9];
		f->proto = ipproto_name(f->ipproto);
		inet_ntop(AF_INET, p + 12, f->src, sizeof(f->src));
		inet_ntop(AF_INET, p + 16, f->dst, sizeof(f->dst));
		/* Ports only from a first fragment with a sane header length. */
		if (ihl >= 20 && ihl <= len && ((p[6] & 0x1f) | p[7]) == 0)
			ports(f, p + ihl, len - ihl);
	} else if (ethertype == 0x86dd) {
		f->kind = "ipv6";
		if (len < 40)
			return;
		f->ipproto = p[6];
		f->proto = ipproto_name(f->ipproto);
		inet_ntop(AF_INET6, p + 8, f->src, sizeof(f->src));
		inet_ntop(AF_INET6, p + 24, f->dst, sizeof(f->dst));
		ports(f, p + 40, len - 40);
	} else if (ethertype == 0x0806) {
		f->kind = "arp";
		/* Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4. */
		if (len < 28 || p[4] != 6 || p[5] != 4)
			return;
		f->arp_op = p[6] << 8 | p[7];
		snprintf(f->arp_sha, sizeof(f->arp_sha), "%02x:%02x:%02x:%02x:%02x:%02x", p[8], p[9],
			 p[10], p[11], p[12], p[13]);
		inet_ntop(AF_INET, p + 14, f->src, sizeof(f->src));
		inet_ntop(AF_INET, p + 24, f->dst, sizeof(f->dst));
	}
}

void om_frame_json(const struct om_frame *f, struct om_json *j)
{
	char et[8];

	snprintf(et, sizeof(et), "0x%04x", f->ethertype);
	om_json_str(j, "kind", f->kind);
	om_json_str(j, "ethertype", et);
	om_json_str(j, "protocol", f->proto);
	om_json_str(j, "src", f->src[0] ? f->src : NULL);
	om_json_str(j, "dst", f->dst[0] ? f->dst : NULL);
	if (f->sport >= 0) {
		om_json_int(j, "sport", f->sport);
		om_json_int(j, "dport", f->dport);
	}
	if (f->icmp_type >= 0)
		om_json_int(j, "icmp_type", f->icmp_type);
	if (f->arp_op >= 0) {
		om_json_int(j, "arp_op", f->arp_op);
		om_json_str(j, "arp_sender_mac", f->arp_sha);
	}
	om_json_int(j, "len", (long long)f->len);
}
