/* The door's size check of WireGuard data (issue 15) and the frame summary of VLAN
 * frames and named drops. */
#include <string.h>
#include "t.h"
#include "om_frame.h"
#include "om_wgmsg.h"

static void shape_data(void)
{
	static uint8_t b[65536];
	static const size_t mtus[] = { 576, 1280, 1420, 1440, 1500, 8192, 9000 };

	b[0] = OM_WG_DATA;
	CHECK(om_wg_data_max(1420) == 1452, "max data for mtu 1420: %zu", om_wg_data_max(1420));
	CHECK(om_wg_data_max(9000) == 9032, "max data for mtu 9000");
	/* The two datagrams of the issue, with the usual MTU: 1472 (a full 1500-byte IP
	 * packet on eth0) and 8192 (after eth0 was raised to 9000). */
	CHECK(om_wg_shape(b, 1472, 1420) == 0, "1472-byte data at mtu 1420");
	CHECK(om_wg_shape(b, 8192, 1420) == 0, "8192-byte data at mtu 1420");
	CHECK(om_wg_shape(b, 1456, 1420) == 0, "padded to 16 past the mtu (1424 > 1420)");
	CHECK(om_wg_shape(b, 1452, 1420) == OM_WG_DATA, "padded exactly to the mtu");
	CHECK(om_wg_shape(b, 1440, 1420) == OM_WG_DATA, "1408 padded");
	CHECK(om_wg_shape(b, 1448, 1420) == 0, "1416 is not padded to 16");
	CHECK(om_wg_shape(b, 32, 1420) == OM_WG_DATA, "a keepalive");
	/* Every length, every MTU: data is taken iff it is at most 32 + mtu and its
	 * plaintext is a multiple of 16 or exactly the mtu. */
	for (size_t m = 0; m < sizeof(mtus) / sizeof(mtus[0]); m++) {
		size_t mtu = mtus[m], bad = 0;
		for (size_t len = 0; len <= 10000; len++) {
			int want = len >= 32 && len <= 32 + mtu && ((len - 32) % 16 == 0 || len - 32 == mtu);
			if ((om_wg_shape(b, len, mtu) == OM_WG_DATA) != want)
				bad++;
		}
		CHECK(bad == 0, "mtu %zu: %zu lengths judged wrong", mtu, bad);
	}
	CHECK(om_wg_shape(b, 65504, 0) == OM_WG_DATA, "mtu 0 (the endpoint's side) takes any padded length");
	/* Handshake sizes do not depend on the MTU. */
	b[0] = OM_WG_INITIATION;
	CHECK(om_wg_shape(b, 148, 576) == OM_WG_INITIATION, "initiation at mtu 576");
}

static void frame_vlan(void)
{
	struct om_frame f;
	/* UDP 10.66.0.2:40000 -> 10.66.0.1:51820 under an 802.1Q tag, VID 5. */
	static const uint8_t ip[] = { 0x45, 0, 0, 0x80, 0, 1, 0, 0, 0x40, 17, 0, 0, 10, 66, 0, 2,
				      10, 66, 0, 1, 0x9c, 0x40, 0xca, 0x6c };
	uint8_t tagged[4 + 4 + sizeof(ip)];

	/* What the log gives today: the kernel took the tag off, the ethertype is the
	 * inner one, and NFULA_VLAN (or the rule's prefix) says what the tag was. */
	om_frame_parse(0x0800, ip, sizeof(ip), &f);
	om_frame_vlan(&f, 0x8100, 0x2005);
	om_frame_prefix(&f, OM_FRAME_PREFIX_8021Q, sizeof(OM_FRAME_PREFIX_8021Q));
	CHECK(!strcmp(f.kind, "vlan") && f.ethertype == 0x8100 && f.inner_ethertype == 0x0800 && f.ntags == 1 &&
		      f.tag[0].vid == 5 && !strcmp(f.rule, "vlan") && !strcmp(f.dst, "10.66.0.1") && f.dport == 51820,
	      "802.1Q from NFULA_VLAN: %s %04x %04x %u %d", f.kind, f.ethertype, f.inner_ethertype, f.ntags,
	      f.tag[0].vid);
	/* A kernel that logs no NFULA_VLAN: the prefix alone names the tag. */
	om_frame_parse(0x0800, ip, sizeof(ip), &f);
	om_frame_prefix(&f, OM_FRAME_PREFIX_8021AD "\0", sizeof(OM_FRAME_PREFIX_8021AD) + 1);
	CHECK(!strcmp(f.kind, "vlan") && f.ethertype == 0x88a8 && f.ntags == 1 && f.tag[0].vid == -1 &&
		      !strcmp(om_frame_tag_name(f.tag[0].tpid), "802.1ad"),
	      "802.1ad from the prefix: %s %04x %u", f.kind, f.ethertype, f.ntags);
	/* The tag still in the payload (not taken off), and QinQ: the outer 802.1ad taken
	 * off, the inner 802.1Q left in. */
	memcpy(tagged, "\x00\x05\x08\x00", 4);
	memcpy(tagged + 4, ip, sizeof(ip));
	om_frame_parse(0x8100, tagged, 4 + sizeof(ip), &f);
	CHECK(!strcmp(f.kind, "vlan") && f.ethertype == 0x8100 && f.tag[0].vid == 5 && !strcmp(f.proto, "udp") &&
		      !strcmp(f.src, "10.66.0.2"),
	      "802.1Q in the payload");
	om_frame_vlan(&f, 0x88a8, 7);
	om_frame_prefix(&f, OM_FRAME_PREFIX_8021AD, strlen(OM_FRAME_PREFIX_8021AD));
	CHECK(f.ntags == 2 && f.ethertype == 0x88a8 && f.tag[0].tpid == 0x88a8 && f.tag[0].vid == 7 &&
		      f.tag[1].tpid == 0x8100 && f.tag[1].vid == 5 && f.inner_ethertype == 0x0800,
	      "QinQ: %u %04x %04x", f.ntags, f.tag[0].tpid, f.tag[1].tpid);
	/* Three tags deep: two recorded, nothing under them parsed. */
	memcpy(tagged, "\x00\x05\x81\x00\x00\x06\x81\x00", 8);
	om_frame_parse(0x88a8, tagged, sizeof(tagged), &f);
	CHECK(f.ntags == 2 && !f.src[0] && !strcmp(f.kind, "vlan"), "three tags");
	om_frame_parse(0x8100, tagged, 3, &f);
	CHECK(f.ntags == 0 && !strcmp(f.kind, "vlan") && f.ethertype == 0x8100, "truncated tag");
	/* Untagged frames: the rule, and the IP length (the log copies only 256 bytes). */
	om_frame_parse(0x0800, ip, sizeof(ip), &f);
	om_frame_prefix(&f, OM_FRAME_PREFIX_OVERSIZE, strlen(OM_FRAME_PREFIX_OVERSIZE));
	CHECK(!strcmp(f.kind, "ipv4") && !strcmp(f.rule, "oversize") && f.ip_len == 128 && f.ntags == 0,
	      "oversize: %s %s %ld", f.kind, f.rule, f.ip_len);
	om_frame_parse(0x0800, ip, sizeof(ip), &f);
	om_frame_prefix(&f, "", 0);
	CHECK(!strcmp(f.rule, "default") && f.ntags == 0, "no prefix: the default drop");
	om_frame_prefix(&f, "omerta vlan 802.1Qx", 19);
	CHECK(!strcmp(f.rule, "default") && f.ntags == 0, "a prefix that only begins like ours");
	om_frame_vlan(&f, 0x9100, 1);
	CHECK(f.ntags == 0, "0x9100 is no tag the kernel takes off");
}

void t_door(void)
{
	shape_data();
	frame_vlan();
}
