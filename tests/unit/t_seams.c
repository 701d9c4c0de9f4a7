/* The seams' libraries: the strict JSON record reader, the output queue, UTF-8,
 * base64 and terminal escapes, the control-record writer, the netlink builder. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "om_ctl.h"
#include "om_json.h"
#include "om_jrec.h"
#include "om_nl.h"
#include "om_outq.h"
#include "om_stream.h"
#include "om_text.h"
#include "t.h"

static void t_jrec(void)
{
	struct om_jrec r;
	long long v = 0;
	const char *ok = "{\"event\":\"exited\",\"time_ms\":1796159135364,\"status\":\"completed\",\"exit_code\":3,"
			 "\"guest_ms\":{\"kernel\":710,\"boot\":862},\"qemu\":\"Killed\",\"w\":true,\"n\":null,"
			 "\"s\":\"a\\\"b\\\\c\\n\\u001b\\ufffd\"}\n";

	CHECK(om_jrec_parse(ok, strlen(ok), &r) == 0, "a vmboot record parses");
	CHECK(om_jrec_str(&r, "event") && !strcmp(om_jrec_str(&r, "event"), "exited"), "event");
	CHECK(om_jrec_int(&r, "exit_code", &v) && v == 3, "exit_code");
	CHECK(om_jrec_int(&r, "guest_ms.boot", &v) && v == 862, "nested keys are flattened");
	CHECK(!om_jrec_int(&r, "n", &v) && om_jrec_has(&r, "n"), "null is present, not a number");
	CHECK(!strcmp(om_jrec_str(&r, "s"), "a\"b\\c\n\x1b\xef\xbf\xbd"), "escapes decode");
	CHECK(!om_jrec_str(&r, "exit_code"), "a number is not a string");
	static const char *const bad[] = {
		"", "{", "}", "[]", "{\"a\":1} x", "{\"a\":1,}", "{\"a\":01}", "{\"a\":1.5}", "{\"a\":1e3}",
		"{\"a\":[1]}", "{\"a\":1,\"a\":2}", "{a:1}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\ud800\"}", "{\"a\":99999999999999999999}", "{\"a\":tru}", "{\"\":1}",
		"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}", "{\"a\":\"unterminated}", "\"str\"", "1",
		"{\"a\":18446744073709551620}", "{\"a\":9223372036854775808}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(om_jrec_parse(bad[i], strlen(bad[i]), &r) < 0, "malformed: %s", bad[i]);
	/* An output record's data may be long: checked, not kept. */
	char longrec[3000];
	memcpy(longrec, "{\"event\":\"output\",\"data\":\"", 26);
	memset(longrec + 26, 'x', 2000);
	memcpy(longrec + 2026, "\\n\"}", 5);
	CHECK(om_jrec_parse(longrec, 2030, &r) == 0 && !om_jrec_str(&r, "data") && om_jrec_has(&r, "data") &&
	      !strcmp(om_jrec_str(&r, "event"), "output"), "a long value is well-formed, not kept");
	longrec[1000] = '\x01';
	CHECK(om_jrec_parse(longrec, 2030, &r) < 0, "and still checked to its end");
	/* What om_json writes, om_jrec reads: every byte value in a string. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct om_json j;
	char all[200];
	for (int i = 0; i < 127; i++)
		all[i] = (char)(i + 1);
	all[127] = '\0';
	om_json_init(&j, f);
	om_json_obj_open(&j, NULL);
	om_json_str(&j, "event", "x");
	om_json_str(&j, "all", all);
	om_json_int(&j, "big", -9223372036854775807LL);
	om_json_obj_close(&j);
	om_json_end(&j);
	fclose(f);
	CHECK(om_jrec_parse(buf, len, &r) == 0, "om_json's output parses: %s", buf);
	CHECK(om_jrec_str(&r, "all") && !strcmp(om_jrec_str(&r, "all"), all), "every ASCII byte round-trips");
	CHECK(om_jrec_int(&r, "big", &v) && v == -9223372036854775807LL, "big numbers");
	free(buf);
}

static void t_text(void)
{
	char out[64];
	size_t used;
	const unsigned char in[] = "a\x1b]52;c;x\x07 \xc3\xbc \xc2\x9b \xff\n\t";
	size_t o = om_tty_escape(in, sizeof(in) - 1, true, out, &used);

	out[o] = '\0';
	CHECK(!strcmp(out, "a\\x1b]52;c;x\\x07 \xc3\xbc \\xc2\\x9b \\xff\n\t"), "escaped: %s", out);
	CHECK(used == sizeof(in) - 1, "all taken");
	/* A cut sequence waits unless final. */
	o = om_tty_escape((const unsigned char *)"ab\xe2\x9c", 4, false, out, &used);
	CHECK(o == 2 && used == 2, "the cut \\xe2\\x9c waits");
	o = om_tty_escape((const unsigned char *)"ab\xe2\x9c", 4, true, out, &used);
	CHECK(o == 10 && used == 4, "at the end it is escaped");
	o = om_tty_escape((const unsigned char *)"a\xe2\x80\xae" "b\xef\xbb\xbf", 8, true, out, &used);
	out[o] = '\0';
	CHECK(!strcmp(out, "a\\xe2\\x80\\xaeb\\xef\\xbb\\xbf"), "bidi override and BOM escaped: %s", out);
	CHECK(om_utf8_tail((const unsigned char *)"\xf0\x9f\x98", 3) == 3, "tail of a 4-byte sequence");
	CHECK(om_utf8_tail((const unsigned char *)"\xf0\x9f\x98\x80", 4) == 0, "a whole one has no tail");
	CHECK(!om_utf8_valid((const unsigned char *)"\xc0\x80", 2), "overlong");
	CHECK(!om_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3), "surrogate");
	char b[16];
	om_base64((const unsigned char *)"\xff\xfe", 2, b);
	CHECK(!memcmp(b, "//4=", 4) && om_base64_len(2) == 4, "base64");
	om_base64((const unsigned char *)"abc", 3, b);
	CHECK(!memcmp(b, "YWJj", 4), "base64 of a whole group");
}

static void t_outq(void)
{
	struct om_outq q;
	int p[2];
	char big[100000], rd[200000];

	CHECK(pipe(p) == 0, "pipe");
	CHECK(om_outq_open(&q, p[1], 1000) == 0 && q.how == OM_OUTQ_WRITE, "a pipe is reopened non-blocking");
	CHECK(om_outq_put(&q, NULL, 0) == 0 && om_outq_pending(&q) == 0, "nothing into a queue never used");
	memset(big, 'x', sizeof(big));
	CHECK(om_outq_room(&q) == 1000, "room");
	om_outq_put(&q, big, sizeof(big));
	/* The pipe takes 64 KiB; the rest stays queued, and nothing blocked. */
	size_t left = om_outq_flush(&q);
	CHECK(left > 0 && left < sizeof(big), "partly written: %zu left", left);
	CHECK(om_outq_room(&q) == 0 && om_outq_pollfd(&q) == q.fd, "no room; poll for POLLOUT");
	CHECK((fcntl(p[1], F_GETFL) & O_NONBLOCK) == 0, "the fd we were given keeps its flags");
	ssize_t n, total = 0;
	while (om_outq_pending(&q) || total < (ssize_t)sizeof(big)) {
		n = read(p[0], rd, sizeof(rd));
		if (n > 0)
			total += n;
		om_outq_flush(&q);
	}
	CHECK(total == (ssize_t)sizeof(big), "every byte arrived");
	signal(SIGPIPE, SIG_IGN); /* as the tools do */
	close(p[0]);
	om_outq_put(&q, "y", 1);
	om_outq_flush(&q);
	CHECK(q.broken && q.discarded == 1, "a reader that left: broken, counted");
	om_outq_close(&q);
	close(p[1]);
}

static int fmt(char *b, size_t n, long long t, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int r = om_ctl_vformat(b, n, t, f, ap);
	va_end(ap);
	return r;
}

static void t_ctlfmt(void)
{
	char b[OM_CTL_LINE_MAX + 2], longv[300];
	struct om_ctl_rec r;
	int n = fmt(b, sizeof(b), 42, "exit status=%d out=%d", 3, 17);

	CHECK(n > 0 && !strcmp(b, "exit status=3 out=17 t=42\n"), "formatted: %s", b);
	CHECK(om_ctl_parse(b, (size_t)n - 1, &r) == 0 && om_ctl_num(&r, "out", 100) == 17 && r.t == 42,
	      "what the guest writes the host parses");
	memset(longv, 'a', 299);
	longv[299] = '\0';
	CHECK(fmt(b, sizeof(b), 1, "x v=%s", longv) < 0, "too long: refused, never cut");
}

static void t_nl(void)
{
	static struct om_nlmsg m;
	char big[9000] = { 0 };

	om_nl_begin(&m, 16, 0, NULL, 0);
	om_nl_attr_str(&m, 3, "eth0");
	size_t at = om_nl_nest(&m, 5);
	om_nl_attr_be32(&m, 1, 7);
	om_nl_nest_end(&m, at);
	CHECK(!m.overflow && m.len == 16 + 12 + 4 + 8, "length %zu", m.len);
	CHECK(((struct nlmsghdr *)(void *)m.buf)->nlmsg_len == m.len, "header length");
	om_nl_attr(&m, 9, big, sizeof(big));
	CHECK(m.overflow, "what does not fit is an overflow, never a short message");
}

static void t_stream(void)
{
	struct om_outq q;
	int p[2];
	char rd[4096];

	CHECK(pipe(p) == 0, "pipe");
	om_outq_open(&q, p[1], 1 << 20);
	struct om_stream s = { .name = "stdout", .json = &q };
	om_stream_put(&s, (const unsigned char *)"ok \xf0\x9f", 5, false);
	om_stream_put(&s, (const unsigned char *)"\x98\x80\xff", 3, true);
	ssize_t n = read(p[0], rd, sizeof(rd) - 1);
	rd[n > 0 ? n : 0] = '\0';
	CHECK(strstr(rd, "\"data\":\"ok \"") && strstr(rd, "\"data_base64\":\"8J+YgP8=\""), "records: %s", rd);
	close(p[0]);
	close(p[1]);
	om_outq_close(&q);
}

void t_seams(void)
{
	t_jrec();
	t_text();
	t_outq();
	t_ctlfmt();
	t_nl();
	t_stream();
}
