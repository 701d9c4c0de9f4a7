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
		CHECK(om_wg_shape(b, cases[i].len) == cases[i].want, "shape type %u len %zu",
		      cases[i].type, cases[i].len);
	}
	b[0] = 1;
	b[2] = 1; /* a reserved byte set */
	CHECK(om_wg_shape(b, 148) == 0, "reserved byte accepted");
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
