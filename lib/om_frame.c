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

static int is_tpid(unsigned t)
{
	return t == 0x8100 || t == 0x88a8;
}

const char *om_frame_tag_name(unsigned tpid)
{
	return tpid == 0x8100 ? "802.1Q" : tpid == 0x88a8 ? "802.1ad" : NULL;
}

static void ports(struct om_frame *f, const uint8_t *l4, size_t n)
{
	if ((f->ipproto == 6 || f->ipproto == 17) && n >= 4) {
		f->sport = l4[0] << 8 | l4[1];
		f->dport = l4[2] << 8 | l4[3];
	} else if ((f->ipproto == 1 || f->ipproto == 58) && n >= 1)
		f->icmp_type = l4[0];
}

/* The network header of type ethertype, under any tags. */
static void network(unsigned ethertype, const uint8_t *p, size_t len, struct om_frame *f)
{
	if (ethertype == 0x0800) {
		f->kind = "ipv4";
		if (len < 20 || (p[0] >> 4) != 4)
			return;
		size_t ihl = (size_t)(p[0] & 15) * 4;
		f->ip_len = p[2] << 8 | p[3];
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
		f->ip_len = 40 + (p[4] << 8 | p[5]);
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

void om_frame_parse(unsigned ethertype, const uint8_t *p, size_t len, struct om_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->ethertype = ethertype;
	f->kind = "other";
	f->sport = f->dport = f->icmp_type = f->arp_op = -1;
	f->ip_len = -1;
	f->len = len;
	/* Tags still in the payload (the kernel takes off only the outermost): each is
	 * a TCI and the ethertype under it. Two are recorded; deeper ones stop the
	 * parse, a frame that stacks them is dropped whatever it carries. */
	while (is_tpid(ethertype)) {
		f->kind = "vlan";
		if (f->ntags == OM_FRAME_TAGS || len < 4)
			return;
		f->tag[f->ntags].tpid = ethertype;
		f->tag[f->ntags].vid = (p[0] << 8 | p[1]) & 0xfff;
		f->ntags++;
		ethertype = (unsigned)(p[2] << 8 | p[3]);
		f->inner_ethertype = ethertype;
		p += 4;
		len -= 4;
	}
	network(ethertype, p, len, f);
	if (f->ntags)
		f->kind = "vlan";
}

void om_frame_vlan(struct om_frame *f, unsigned tpid, int tci)
{
	if (!is_tpid(tpid))
		return;
	/* Outermost first: what the payload held goes one place in. */
	if (f->ntags == OM_FRAME_TAGS)
		f->ntags--;
	memmove(&f->tag[1], &f->tag[0], sizeof(f->tag[0]) * f->ntags);
	f->tag[0].tpid = tpid;
	f->tag[0].vid = tci < 0 ? -1 : tci & 0xfff;
	f->ntags++;
	if (!f->inner_ethertype)
		f->inner_ethertype = f->ethertype;
	f->ethertype = tpid;
	f->kind = "vlan";
}

static int prefix_is(const char *prefix, size_t n, const char *want)
{
	size_t w = strlen(want);

	return n >= w && !memcmp(prefix, want, w) && (n == w || prefix[w] == '\0');
}

void om_frame_prefix(struct om_frame *f, const char *prefix, size_t n)
{
	unsigned tpid = 0;

	if (prefix_is(prefix, n, OM_FRAME_PREFIX_8021Q))
		tpid = 0x8100;
	else if (prefix_is(prefix, n, OM_FRAME_PREFIX_8021AD))
		tpid = 0x88a8;
	else if (prefix_is(prefix, n, OM_FRAME_PREFIX_OVERSIZE)) {
		f->rule = "oversize";
		return;
	} else {
		f->rule = "default";
		return;
	}
	f->rule = "vlan";
	/* The rule matched this tag outermost: record it unless the log already did. */
	if (!f->ntags || f->tag[0].tpid != tpid || f->ethertype != tpid)
		om_frame_vlan(f, tpid, -1);
}

void om_frame_json(const struct om_frame *f, struct om_json *j)
{
	char et[8];

	snprintf(et, sizeof(et), "0x%04x", f->ethertype);
	om_json_str(j, "kind", f->kind);
	om_json_str(j, "ethertype", et);
	if (f->ntags) {
		om_json_str(j, "vlan", om_frame_tag_name(f->tag[0].tpid));
		om_json_arr_open(j, "vlan_tags");
		for (unsigned i = 0; i < f->ntags; i++) {
			om_json_obj_open(j, NULL);
			om_json_str(j, "tag", om_frame_tag_name(f->tag[i].tpid));
			snprintf(et, sizeof(et), "0x%04x", f->tag[i].tpid);
			om_json_str(j, "tpid", et);
			if (f->tag[i].vid >= 0)
				om_json_int(j, "vid", f->tag[i].vid);
			else
				om_json_null(j, "vid");
			om_json_obj_close(j);
		}
		om_json_arr_close(j);
		snprintf(et, sizeof(et), "0x%04x", f->inner_ethertype);
		om_json_str(j, "inner_ethertype", et);
	}
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
	if (f->ip_len >= 0)
		om_json_int(j, "ip_len", f->ip_len);
	if (f->rule)
		om_json_str(j, "rule", f->rule);
	om_json_int(j, "len", (long long)f->len);
}
