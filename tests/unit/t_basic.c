#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "om_jobid.h"
#include "om_json.h"
#include "om_num.h"
#include "t.h"

void t_num(void)
{
	static const struct {
		const char *s;
		uint64_t min, max;
		int ok;
		uint64_t want;
	} cases[] = {
		{ "0", 0, 10, 1, 0 },
		{ "10", 0, 10, 1, 10 },
		{ "11", 0, 10, 0, 0 },
		{ "", 0, 10, 0, 0 },
		{ "-1", 0, 10, 0, 0 },
		{ "+1", 0, 10, 0, 0 },
		{ " 1", 0, 10, 0, 0 },
		{ "1 ", 0, 10, 0, 0 },
		{ "01", 0, 10, 0, 0 },
		{ "abc", 0, 10, 0, 0 },
		{ "1e3", 0, 10000, 0, 0 },
		{ "0x10", 0, 100, 0, 0 },
		{ "18446744073709551615", 0, UINT64_MAX, 1, UINT64_MAX },
		{ "18446744073709551616", 0, UINT64_MAX, 0, 0 },
		{ "99999999999999999999999", 0, UINT64_MAX, 0, 0 },
		{ "0", 1, 10, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int r = om_parse_u64(cases[i].s, cases[i].min, cases[i].max, &v);
		CHECK((r == 0) == cases[i].ok, "om_parse_u64(\"%s\") returned %d", cases[i].s, r);
		if (cases[i].ok)
			CHECK(v == cases[i].want, "om_parse_u64(\"%s\") = %llu", cases[i].s,
			      (unsigned long long)v);
	}
	CHECK(om_parse_u64(NULL, 0, 1, &(uint64_t){ 0 }) < 0, "NULL accepted");
}

void t_jobid(void)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
		{ "job1", 1 }, { "A-b_9", 1 }, { "x", 1 },
		{ "12345678901234567890123456789012", 1 },
		{ "123456789012345678901234567890123", 0 },
		{ "", 0 }, { "a/b", 0 }, { "..", 0 }, { "a.b", 0 }, { "a b", 0 },
		{ "a;rm", 0 }, { "$(x)", 0 }, { "é", 0 }, { "a\nb", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(om_jobid_valid(cases[i].s) == cases[i].ok, "jobid \"%s\"", cases[i].s);
	CHECK(!om_jobid_valid(NULL), "NULL job id accepted");
}

static char *json_of(void (*fn)(struct om_json *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct om_json j;

	om_json_init(&j, f);
	fn(&j);
	om_json_end(&j);
	fclose(f);
	return buf;
}

static void j1(struct om_json *j)
{
	om_json_obj_open(j, NULL);
	om_json_str(j, "event", "x");
	om_json_int(j, "n", -5);
	om_json_bool(j, "b", true);
	om_json_null(j, "z");
	om_json_arr_open(j, "a");
	om_json_int(j, NULL, 1);
	om_json_str(j, NULL, "two");
	om_json_arr_close(j);
	om_json_obj_open(j, "o");
	om_json_obj_close(j);
	om_json_obj_close(j);
}

static void j2(struct om_json *j)
{
	om_json_obj_open(j, NULL);
	om_json_strn(j, "s", "a\"b\\c\n\t\x01\x7f", 9);
	om_json_strn(j, "u", "\xc3\xa9\xff\xe2\x82\xac\xc0\xaf", 8);
	om_json_strn(j, "nul", "a\0b", 3);
	om_json_obj_close(j);
}

void t_json(void)
{
	char *s = json_of(j1);
	CHECK(strcmp(s, "{\"event\":\"x\",\"n\":-5,\"b\":true,\"z\":null,\"a\":[1,\"two\"],\"o\":{}}\n") == 0,
	      "json structure: %s", s);
	free(s);
	s = json_of(j2);
	CHECK(strcmp(s, "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\","
			"\"u\":\"\xc3\xa9\\ufffd\xe2\x82\xac\\ufffd\\ufffd\","
			"\"nul\":\"a\\u0000b\"}\n") == 0,
	      "json escaping: %s", s);
	free(s);
}

#include "om_wgmsg.h"

void t_wgmsg(void)
{
	uint8_t b[2048] = { 0 };
	static const struct {
		uint8_t type;
		size_t len;
		int want;
	} cases[] = {
		{ 1, 148, 1 }, { 1, 147, 0 }, { 1, 149, 0 }, { 2, 92, 2 }, { 2, 148, 0 },
		{ 3, 64, 3 }, { 3, 65, 0 }, { 4, 32, 4 }, { 4, 48, 4 }, { 4, 1440, 4 },
		{ 4, 33, 0 }, { 4, 40, 0 }, { 4, 16, 0 }, { 0, 148, 0 }, { 5, 148, 0 },
		{ 255, 92, 0 }, { 1, 0, 0 }, { 4, 3, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b[0] = cases[i].type;
		CHECK(om_wg_shape(b, cases[i].len, 1420) == cases[i].want, "shape type %u len %zu",
		      cases[i].type, cases[i].len);
	}
	b[0] = 4;
	CHECK(om_wg_shape(b, 32 + 1420, 1420) == 4, "data padded to an MTU that is not a multiple of 16");
	CHECK(om_wg_shape(b, 32 + 1421, 1420) == 0, "data past the MTU");
	CHECK(om_wg_shape(b, 32 + 1379, 0) == 4, "mtu 0 takes any length");
	CHECK(om_wg_shape(b, 31, 0) == 0, "mtu 0 still needs the header and tag");
	b[0] = 1;
	b[2] = 1; /* a reserved byte set */
	CHECK(om_wg_shape(b, 148, 1420) == 0, "reserved byte accepted");
}

#include "om_ctl.h"

void t_ctl(void)
{
	struct om_ctl_rec r;
	static const struct {
		const char *line;
		int ok;
	} cases[] = {
		{ "boot t=1790", 1 },
		{ "vpn_up verify_ms=20 tries=1 t=2110", 1 },
		{ "exit status=7 t=4190", 1 },
		{ "failed step=verify reason=no_reply_from_10.200.0.1 t=12000", 1 },
		{ "poweroff", 1 },
		{ "", 0 },
		{ "Boot t=1", 0 },
		{ "boot  t=1", 0 },
		{ "boot t=", 0 },
		{ "boot t=x", 0 },
		{ "boot t=-1", 0 },
		{ "boot =1", 0 },
		{ "boot T=1", 0 },
		{ "boot a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9", 0 },
		{ "boot t=1 ", 0 },
		{ "boot\tt=1", 0 },
		{ "exit status=7\x01", 0 },
		{ "exit status=\xc3\xa9", 0 },
		{ "x a=0123456789012345678901234567890123456789012345678901234567890123", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK((om_ctl_parse(cases[i].line, strlen(cases[i].line), &r) == 0) == cases[i].ok,
		      "ctl \"%s\"", cases[i].line);
	om_ctl_parse("vpn_up verify_ms=20 tries=1 t=2110", 34, &r);
	CHECK(strcmp(r.event, "vpn_up") == 0 && r.t == 2110 && om_ctl_num(&r, "verify_ms", 100000) == 20,
	      "ctl fields");
	CHECK(om_ctl_num(&r, "missing", 10) == -1 && om_ctl_num(&r, "verify_ms", 10) == -1, "ctl num");
	char big[400];
	memset(big, 'a', sizeof(big));
	CHECK(om_ctl_parse(big, sizeof(big), &r) < 0, "overlong line");
}

#include "om_frame.h"

void t_frame(void)
{
	struct om_frame f;
	/* IPv4 TCP SYN 10.66.0.2:56140 -> 203.0.113.10:80, as the jail logged it. */
	static const uint8_t syn[] = { 0x45, 0, 0, 0x3c, 0x16, 0x6f, 0x40, 0, 0x40, 6, 0xdd, 0xfe,
				       10, 66, 0, 2, 203, 0, 113, 10, 0xdb, 0x4c, 0, 80 };
	static const uint8_t arp[] = { 0, 1, 8, 0, 6, 4, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
				       10, 66, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 66, 0, 7 };
	static const uint8_t frag[] = { 0x45, 0, 0, 0x3c, 0, 0, 0x20, 0x10, 0x40, 17, 0, 0,
					10, 66, 0, 2, 10, 66, 0, 1, 0xca, 0x6c, 0xca, 0x6c };
	uint8_t v6[48] = { 0x60, 0, 0, 0, 0, 8, 17, 64 };

	om_frame_parse(0x0800, syn, sizeof(syn), &f);
	CHECK(!strcmp(f.kind, "ipv4") && !strcmp(f.proto, "tcp") && !strcmp(f.src, "10.66.0.2") &&
		      !strcmp(f.dst, "203.0.113.10") && f.sport == 56140 && f.dport == 80,
	      "ipv4 tcp: %s %s %s %d %d", f.kind, f.src, f.dst, f.sport, f.dport);
	om_frame_parse(0x0806, arp, sizeof(arp), &f);
	CHECK(!strcmp(f.kind, "arp") && f.arp_op == 1 && !strcmp(f.dst, "10.66.0.7") &&
		      !strcmp(f.arp_sha, "52:54:00:12:34:56"),
	      "arp: %d %s %s", f.arp_op, f.dst, f.arp_sha);
	om_frame_parse(0x0800, frag, sizeof(frag), &f);
	CHECK(f.sport == -1 && !strcmp(f.proto, "udp"), "a non-first fragment has no ports");
	om_frame_parse(0x86dd, v6, sizeof(v6), &f);
	CHECK(!strcmp(f.kind, "ipv6") && !strcmp(f.proto, "udp") && !strcmp(f.src, "::"), "ipv6");
	om_frame_parse(0x0800, syn, 10, &f);
	CHECK(!strcmp(f.kind, "ipv4") && !f.src[0] && f.sport == -1, "truncated ipv4");
	om_frame_parse(0x88cc, syn, sizeof(syn), &f);
	CHECK(!strcmp(f.kind, "other") && f.ethertype == 0x88cc, "other ethertype");
}

#include "om_blake2s.h"

static int hex_is(const uint8_t *b, size_t n, const char *hex)
{
	char s[129];

	for (size_t i = 0; i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", b[i]);
	return strcmp(s, hex) == 0;
}

/* BLAKE2s against RFC 7693's "abc" and a keyed vector (Python's hashlib.blake2s); the
 * door's peer check against a mac1 computed the same way. */
void t_blake2s(void)
{
	uint8_t out[32], in[64], key[32], pub[32], m[148] = { 1, 0, 0, 0, 0x78, 0x56, 0x34, 0x12 };
	struct om_wg_peer p;

	om_blake2s(out, 32, NULL, 0, (const uint8_t *)"abc", 3);
	CHECK(hex_is(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"), "blake2s abc");
	for (int i = 0; i < 64; i++)
		in[i] = (uint8_t)i;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i, pub[i] = (uint8_t)(i + 1);
	om_blake2s(out, 32, key, 32, in, 64);
	CHECK(hex_is(out, 32, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4"), "blake2s keyed, one full block");

	om_wg_peer_init(&p, pub);
	om_blake2s(m + 116, 16, p.mac1_key, 32, m, 116);
	CHECK(hex_is(m + 116, 16, "49f0240f945f3d7da16751acd7015b5e"), "mac1 of an initiation");
	CHECK(om_wg_peer_check(&p, m, 148, OM_WG_INITIATION) == NULL, "an initiation for the server passes");
	m[20] ^= 1;
	CHECK(om_wg_peer_check(&p, m, 148, OM_WG_INITIATION) != NULL, "a changed initiation fails mac1");
	/* Data needs an index the server announced in a response. */
	{
		uint8_t resp[92] = { 2, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd }, data[32] = { 4, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd };
		CHECK(om_wg_peer_check(&p, data, 32, OM_WG_DATA) != NULL, "data before any session");
		om_wg_peer_learn(&p, resp, sizeof(resp), OM_WG_RESPONSE);
		CHECK(om_wg_peer_check(&p, data, 32, OM_WG_DATA) == NULL, "data for the server's session");
		data[7] = 0;
		CHECK(om_wg_peer_check(&p, data, 32, OM_WG_DATA) != NULL, "data for another index");
		for (uint32_t i = 0; i < OM_WG_INDICES; i++) {
			resp[4] = (uint8_t)i;
			om_wg_peer_learn(&p, resp, sizeof(resp), OM_WG_RESPONSE);
		}
		data[7] = 0xdd;
		CHECK(om_wg_peer_check(&p, data, 32, OM_WG_DATA) != NULL, "an index forgotten after 16 newer ones");
	}
}
