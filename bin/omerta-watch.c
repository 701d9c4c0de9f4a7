/* omerta-watch: detection and response for one job.
 *
 * Armed before the VM exists: it binds the jail's NFLOG group and only then starts
 * CMD (omerta-vmboot). On the first frame the jail's tap filter logs, on a rogue
 * datagram at the door, or on drops the guest's kill switch reports, it kills QEMU
 * with SIGKILL through a pidfd and says what it saw and how long the kill took.
 * From the door's view (never the guest's word) it stops a VM whose tunnel never came
 * up or went silent. If it dies, CMD dies with it.
 *
 * The kill path never waits on output: every record and every byte of the
 * workload's output leaves through a queue that never blocks (om_outq), and the
 * workload's streams are read only while their queue has room, so a reader that
 * stops reading holds the guest back, never a kill or a verdict. */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "om_cli.h"
#include "om_frame.h"
#include "om_jrec.h"
#include "om_json.h"
#include "om_nl.h"
#include "om_num.h"
#include "om_outq.h"
#include "om_stream.h"

/* The statuses of omerta execute: the workload's own when it completed. Bad input is
 * an error like any other here (125), as omerta-watch(1) says. */
enum { EX_USAGE_ = 2, EX_SETUP = 120, EX_ROGUE = 121, EX_DISCONNECTED = 122,
       EX_TIMEOUT = 124, EX_ERROR = 125 };
#define EX_INPUT EX_ERROR

static const char usage_text[] =
	"usage: omerta-watch [--nflog-group N] [--setup-limit S] [--silence-limit S] [--vm-events-fd FD] [--vm-stdout-fd FD --vm-stderr-fd FD] [--no-door] [--text] [--json] [--events-fd FD] -- CMD [ARG...]\n"
	"       omerta-watch --help | --version\n";

static const char help_text[] =
	"\n"
	"Run as omerta-jail's command, with omerta-vmboot as CMD. See omerta-watch(1).\n"
	"Exit status: the workload's, or 120 vpn_setup_failed, 121 rogue_connection_detected,\n"
	"122 vpn_disconnected, 124 timeout, 125 error.\n";

_Noreturn static void usage(int code)
{
	om_usage(usage_text, help_text, code);
}

/* Where records go: with --json all of them, and the workload's output as "output"
 * records, on stdout (jsq); with --events-fd FD the records (never output) on FD
 * (evq), as JSON Lines or with --text one line for people. Without --json the
 * workload's stdout and stderr go to ours (outq, errq), escaped for a terminal. */
static struct om_outq jsq, evq, outq, errq;
static bool json_on, events_on, text_out;

/* Bytes held per queue before the workload's output is held back. */
#define OUT_BOUND (256 * 1024)

static long long now_ms(void)
{
	return om_clock_ms();
}

static double now_ms_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One record as text: the event name, then key=value pairs in order (nested objects
 * flattened as outer.inner=value, null as null). A record that does not parse is
 * written as it is. */
static void to_text(const char *line, size_t n, FILE *f)
{
	static struct om_jrec r;
	const char *ev;

	if (om_jrec_parse(line, n, &r) < 0 || !(ev = om_jrec_str(&r, "event"))) {
		fwrite(line, 1, n, f);
		return;
	}
	fputs(ev, f);
	for (size_t i = 0; i < r.n; i++) {
		if (!strcmp(r.key[i], "event"))
			continue;
		fprintf(f, " %s=%s", r.key[i], r.type[i] == OM_J_NULL ? "null" : r.type[i] == OM_J_LONG ? "..." : r.val[i]);
	}
	putc('\n', f);
}

/* Every record goes out through emit(): a JSON object on one line. */
static void emit(const char *line)
{
	size_t n = strlen(line);
	bool nl = n && line[n - 1] == '\n';

	if (json_on) {
		om_queue(&jsq, line, n);
		if (!nl)
			om_queue(&jsq, "\n", 1);
	}
	if (!events_on)
		return;
	if (!text_out) {
		om_queue(&evq, line, n);
		if (!nl)
			om_queue(&evq, "\n", 1);
		return;
	}
	char *b = NULL;
	size_t bl = 0;
	FILE *f = open_memstream(&b, &bl);
	if (!f)
		return;
	to_text(line, n, f);
	fclose(f);
	om_queue(&evq, b, bl);
	free(b);
}

static struct om_rec rec;

static void ev_end(void)
{
	size_t len;
	const char *line = om_rec_end(&rec, &len);

	if (line)
		emit(line);
}

/* ---- the workload's output ----------------------------------------------------------
 * stdout and stderr of the guest, from vmboot's --stdout-fd and --stderr-fd, through
 * om_stream: with --json "output" records on stdout (never on --events-fd), else
 * our stdout and stderr, escaped where they are a terminal. */
struct stream {
	int fd; /* our end of the pipe, -1 when closed or absent */
	struct om_stream s;
};

static void stream_read(struct stream *s)
{
	unsigned char b[OM_STREAM_CHUNK];
	ssize_t n = read(s->fd, b, sizeof(b));

	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		om_stream_put(&s->s, b, 0, true);
		close(s->fd);
		s->fd = -1;
		return;
	}
	om_stream_put(&s->s, b, (size_t)n, false);
}

/* ---- NFLOG ------------------------------------------------------------------------- */

/* One config request, answered by an ACK whose error must be 0. */
static int nflog_config(int fd, unsigned group, unsigned type, const void *data, size_t n)
{
	static struct om_nlmsg m;
	struct nfgenmsg g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0,
			      .res_id = htons((uint16_t)group) };
	ssize_t r;

	m.len = m.nmsg = 0;
	om_nl_begin(&m, (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, NLM_F_ACK, &g, sizeof(g));
	om_nl_attr(&m, (uint16_t)type, data, n);
	if (m.overflow || send(fd, m.buf, m.len, 0) < 0)
		return -1;
	for (;;) {
		char rb[1024] __attribute__((aligned(4)));
		r = recv(fd, rb, sizeof(rb), 0);
		if (r < 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)(void *)rb; NLMSG_OK(h, (unsigned)r);
		     h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == m.seq) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				errno = -e->error;
				return e->error ? -1 : 0;
			}
		}
	}
}

static int nflog_open(unsigned group)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER), rcv = 1 << 20;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nfulnl_msg_config_cmd bind_cmd = { NFULNL_CFG_CMD_BIND };
	struct nfulnl_msg_config_mode mode = { htonl(256), NFULNL_COPY_PACKET, 0 };
	uint32_t qthresh = htonl(1), timeout = htonl(0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	/* Queue threshold 1 and no timeout: every frame is sent the moment it is
	 * logged (the default batches for up to a second). */
	if (nflog_config(fd, group, NFULA_CFG_CMD, &bind_cmd, sizeof(bind_cmd)) < 0 ||
	    nflog_config(fd, group, NFULA_CFG_MODE, &mode, sizeof(mode)) < 0 ||
	    nflog_config(fd, group, NFULA_CFG_QTHRESH, &qthresh, sizeof(qthresh)) < 0 ||
	    nflog_config(fd, group, NFULA_CFG_TIMEOUT, &timeout, sizeof(timeout)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct frame_seen {
	struct om_frame f;
	double t_ms;       /* the frame's time, Unix milliseconds */
	bool kernel_clock; /* from the kernel's timestamp, else when we read it */
};

/* NFULA_VLAN's nest: NFULA_VLAN_PROTO and NFULA_VLAN_TCI, both big-endian 16 bits. */
static void vlan_attrs(const uint8_t *d, size_t n, unsigned *proto, int *tci)
{
	size_t off = 0;

	while (off + NLA_HDRLEN <= n) {
		const struct nlattr *a = (const struct nlattr *)(const void *)(d + off);
		size_t alen = a->nla_len;
		if (alen < NLA_HDRLEN || off + alen > n)
			return;
		const uint8_t *v = d + off + NLA_HDRLEN;
		if (alen - NLA_HDRLEN >= 2) {
			if ((a->nla_type & NLA_TYPE_MASK) == NFULA_VLAN_PROTO)
				*proto = (unsigned)(v[0] << 8 | v[1]);
			else if ((a->nla_type & NLA_TYPE_MASK) == NFULA_VLAN_TCI)
				*tci = v[0] << 8 | v[1];
		}
		off += NLA_ALIGN(alen);
	}
}

/* Reads what the socket holds; calls back once per logged frame. Returns frames. */
static int nflog_read(int fd, void (*cb)(void *, const struct frame_seen *), void *ctx)
{
	char buf[65536] __attribute__((aligned(4)));
	ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	int n = 0;
	double now = now_ms_f();

	if (r <= 0)
		return 0;
	for (struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf; NLMSG_OK(h, (unsigned)r);
	     h = NLMSG_NEXT(h, r)) {
		if (h->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
			continue;
		struct frame_seen s = { .t_ms = now };
		unsigned proto = 0, vlan_proto = 0;
		int vlan_tci = -1;
		const uint8_t *payload = NULL;
		const char *prefix = "";
		size_t plen = 0, prefix_len = 0;
		size_t off = NLMSG_SPACE(sizeof(struct nfgenmsg));
		while (off + NLA_HDRLEN <= h->nlmsg_len) {
			struct nlattr *a = (struct nlattr *)(void *)((char *)h + off);
			size_t alen = a->nla_len;
			if (alen < NLA_HDRLEN || off + alen > h->nlmsg_len)
				break;
			const uint8_t *d = (const uint8_t *)a + NLA_HDRLEN;
			size_t dlen = alen - NLA_HDRLEN;
			switch (a->nla_type & NLA_TYPE_MASK) {
			case NFULA_PACKET_HDR:
				if (dlen >= 2)
					proto = (unsigned)(d[0] << 8 | d[1]);
				break;
			case NFULA_TIMESTAMP:
				if (dlen >= 16) {
					uint64_t sec = 0, usec = 0;
					for (int i = 0; i < 8; i++) {
						sec = sec << 8 | d[i];
						usec = usec << 8 | d[8 + i];
					}
					if (sec) {
						s.t_ms = (double)sec * 1000.0 + (double)usec / 1000.0;
						s.kernel_clock = true;
					}
				}
				break;
			case NFULA_PAYLOAD:
				payload = d;
				plen = dlen;
				break;
			case NFULA_PREFIX:
				/* The jail's named drop rules (om_frame.h) say what they matched. */
				prefix = (const char *)d;
				prefix_len = dlen;
				break;
			case NFULA_VLAN:
				/* The kernel moves the outer 802.1Q/802.1ad tag off the frame before
				 * the tap's filter runs, so the ethertype and payload above are
				 * what was under it; this nest (where the kernel gives it) is the
				 * tag. */
				vlan_attrs(d, dlen, &vlan_proto, &vlan_tci);
				break;
			}
			off += NLA_ALIGN(alen);
		}
		om_frame_parse(proto, payload ? payload : (const uint8_t *)"", plen, &s.f);
		if (vlan_proto)
			om_frame_vlan(&s.f, vlan_proto, vlan_tci);
		om_frame_prefix(&s.f, prefix, prefix_len);
		cb(ctx, &s);
		n++;
	}
	return n;
}

/* ---- the job ----------------------------------------------------------------------- */

struct job {
	pid_t child;
	int child_pidfd, qemu_pidfd;
	pid_t qemu;
	/* What ended it, first cause wins. */
	const char *verdict; /* NULL, "rogue_connection_detected", "vpn_setup_failed", ... */
	const char *reason;
	char source[16];
	struct frame_seen first;
	bool have_first;
	unsigned frames, frames_after_first;
	double kill_sent_ms, death_ms;
	bool killed, dead;
	/* The door. */
	bool handshake, vpn_up_pending, vpn_up_sent;
	long long setup_deadline_ms;
	unsigned silence_limit_ms;
	long long last_rx_age;
	/* The VM's report. */
	int exit_code;
	char vm_status[32];
};

static void kill_vm(struct job *jb, const char *verdict, const char *reason, const char *source)
{
	if (!jb->verdict) {
		jb->verdict = verdict;
		jb->reason = reason;
		snprintf(jb->source, sizeof(jb->source), "%s", source);
	}
	if (jb->killed)
		return;
	jb->killed = true;
	jb->kill_sent_ms = now_ms_f();
	/* QEMU itself when known (its pidfd); otherwise CMD, which takes QEMU with it. */
	if (jb->qemu_pidfd >= 0)
		syscall(SYS_pidfd_send_signal, jb->qemu_pidfd, SIGKILL, NULL, 0);
	else
		syscall(SYS_pidfd_send_signal, jb->child_pidfd, SIGKILL, NULL, 0);
}

static void on_frame(void *ctx, const struct frame_seen *s)
{
	struct job *jb = ctx;

	jb->frames++;
	if (!jb->have_first) {
		jb->first = *s;
		jb->have_first = true;
		kill_vm(jb, "rogue_connection_detected", "frame dropped at the jail's tap", "tap");
	} else if (!jb->dead)
		jb->frames_after_first++;
}

/* vmboot's vpn_up, passed on once the door has seen the handshake. */
static char vpn_up_line[1 << 16];

static void emit_vpn_up(struct job *jb)
{
	if (jb->vpn_up_sent)
		return;
	jb->vpn_up_sent = true;
	emit(vpn_up_line);
}

/* The door's records (omerta-jail), read with lib's strict reader: a line of ours
 * that does not parse is a bug, and ends the job rather than pass unread. */
static void on_door(struct job *jb, const char *line)
{
	static struct om_jrec r;
	const char *ev;
	long long age;

	if (om_jrec_parse(line, strlen(line), &r) < 0 || !(ev = om_jrec_str(&r, "event"))) {
		kill_vm(jb, "error", "a malformed event line from the door", "watch");
		return;
	}
	if (!strcmp(ev, "handshake")) {
		jb->handshake = true;
		if (jb->vpn_up_pending)
			emit_vpn_up(jb);
	} else if (!strcmp(ev, "rogue_datagram")) {
		emit(line);
		kill_vm(jb, "rogue_connection_detected", "datagram at the door that is not WireGuard", "door");
	} else if (!strcmp(ev, "door_stats") && jb->handshake && om_jrec_int(&r, "last_rx_age_ms", &age)) {
		jb->last_rx_age = age;
		/* The server answers the guest's heartbeat every few seconds; silence past
		 * the limit means the tunnel is dead. */
		if (jb->last_rx_age > (long long)jb->silence_limit_ms)
			kill_vm(jb, "vpn_disconnected", "no datagram from the endpoint within the silence limit", "door");
	}
}

/* vmboot's records, read the same way. */
static void on_vm(struct job *jb, const char *line)
{
	static struct om_jrec r;
	const char *ev, *st;
	long long v;

	if (om_jrec_parse(line, strlen(line), &r) < 0 || !(ev = om_jrec_str(&r, "event"))) {
		kill_vm(jb, "error", "a malformed event line from vmboot", "watch");
		return;
	}
	if (!strcmp(ev, "started") && om_jrec_int(&r, "pid", &v) && v > 1 && v <= INT32_MAX) {
		jb->qemu = (pid_t)v;
		/* QEMU is vmboot's child and not reaped before vmboot reads its end, so the
		 * PID names QEMU until the pidfd holds it. */
		jb->qemu_pidfd = (int)syscall(SYS_pidfd_open, jb->qemu, 0);
		emit(line);
	} else if (!strcmp(ev, "vpn_up")) {
		/* The guest's word alone is not believed: it is passed on only once the door
		 * has seen the server's handshake response. */
		snprintf(vpn_up_line, sizeof(vpn_up_line), "%s", line);
		if (jb->handshake)
			emit_vpn_up(jb);
		else
			jb->vpn_up_pending = true;
	} else if (!strcmp(ev, "guest_drops")) {
		emit(line);
		if (om_jrec_int(&r, "out", &v) && v > 0)
			kill_vm(jb, "rogue_connection_detected", "the guest's kill switch dropped an outgoing packet", "guest");
	} else if (!strcmp(ev, "exited")) {
		if (om_jrec_int(&r, "exit_code", &v) && v >= 0 && v <= 255)
			jb->exit_code = (int)v;
		if ((st = om_jrec_str(&r, "status")))
			snprintf(jb->vm_status, sizeof(jb->vm_status), "%s", st);
		emit(line);
	} else
		emit(line);
}

/* Splits what arrives on fd into lines; returns 0 at EOF. The lines come from our
 * own tools (vmboot, the jail's door) and are short; the workload's output never
 * passes here. A line that does not fit is not dropped: it ends the job, named. */
struct lines {
	char buf[1 << 16];
	size_t len;
};

static int read_lines(int fd, struct lines *l, struct job *jb, void (*cb)(struct job *, const char *))
{
	ssize_t r = read(fd, l->buf + l->len, sizeof(l->buf) - 1 - l->len);

	if (r <= 0)
		return r < 0 && errno == EINTR ? 1 : 0;
	l->len += (size_t)r;
	for (;;) {
		char *nl = memchr(l->buf, '\n', l->len);
		if (!nl) {
			if (l->len == sizeof(l->buf) - 1) {
				kill_vm(jb, "error", "an event line longer than 64 KiB", "watch");
				l->len = 0;
			}
			break;
		}
		*nl = '\0';
		cb(jb, l->buf);
		size_t used = (size_t)(nl - l->buf) + 1;
		memmove(l->buf, nl + 1, l->len - used);
		l->len -= used;
	}
	return 1;
}

static void on_vm_cb(struct job *jb, const char *line)
{
	/* vmboot's lines are passed on with their newline. */
	char b[1 << 16];
	snprintf(b, sizeof(b), "%s\n", line);
	on_vm(jb, b);
}

static void on_door_cb(struct job *jb, const char *line)
{
	char b[4096];
	snprintf(b, sizeof(b), "%s\n", line);
	on_door(jb, b);
}

struct wopts {
	unsigned group, setup_limit, silence_limit;
	int vm_fd_num, out_fd_num, err_fd_num, events_fd, door_fd;
	bool no_door;
	char **cmd;
};

static unsigned num_opt(const char *s, uint64_t min, uint64_t max, const char *msg)
{
	uint64_t v;

	if (om_parse_u64(s, min, max, &v) < 0)
		errx(EX_INPUT, "%s", msg);
	return (unsigned)v;
}

static void parse_opts(int argc, char **argv, struct wopts *o)
{
	static const struct option lopts[] = {
		{ "nflog-group", required_argument, NULL, 'n' },
		{ "setup-limit", required_argument, NULL, 's' },
		{ "silence-limit", required_argument, NULL, 'S' },
		{ "vm-events-fd", required_argument, NULL, 'v' },
		{ "vm-stdout-fd", required_argument, NULL, 'o' },
		{ "vm-stderr-fd", required_argument, NULL, 'r' },
		{ "no-door", no_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "text", no_argument, NULL, 't' },
		{ "events-fd", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+hj", lopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->group = num_opt(optarg, 1, 65535, "--nflog-group must be 1 to 65535"); break;
		case 's': o->setup_limit = num_opt(optarg, 1, 3600, "--setup-limit must be 1 to 3600 seconds"); break;
		case 'S': o->silence_limit = num_opt(optarg, 3, 3600, "--silence-limit must be 3 to 3600 seconds"); break;
		case 'v': o->vm_fd_num = (int)num_opt(optarg, 3, 1023, "--vm-events-fd must be 3 to 1023"); break;
		case 'o': o->out_fd_num = (int)num_opt(optarg, 3, 1023, "--vm-stdout-fd must be 3 to 1023"); break;
		case 'r': o->err_fd_num = (int)num_opt(optarg, 3, 1023, "--vm-stderr-fd must be 3 to 1023"); break;
		case 'D': o->no_door = true; break;
		case 'j': json_on = true; break;
		case 't': text_out = true; break;
		case 'e':
			o->events_fd = (int)num_opt(optarg, 3, 1023, "--events-fd must be an open descriptor from 3");
			if (fcntl(o->events_fd, F_GETFD) < 0)
				errx(EX_INPUT, "--events-fd must be an open descriptor from 3");
			events_on = true;
			break;
		case 'h': usage(0); break;
		case 'V': puts("omerta-watch " OMERTA_VERSION); exit(0);
		default: usage(EX_USAGE_);
		}
	}
	if (optind >= argc) {
		warnx("CMD is required (omerta-watch ... -- omerta-vmboot ...)");
		usage(EX_USAGE_);
	}
	o->cmd = argv + optind;
	if (o->vm_fd_num < 0) {
		warnx("--vm-events-fd is required: the watcher must learn QEMU's PID from vmboot");
		usage(EX_USAGE_);
	}
	if ((o->out_fd_num < 0) != (o->err_fd_num < 0)) {
		warnx("give both --vm-stdout-fd and --vm-stderr-fd, or neither");
		usage(EX_USAGE_);
	}
	int fds[3] = { o->vm_fd_num, o->out_fd_num, o->err_fd_num };
	for (int i = 0; i < 3; i++)
		for (int k = i + 1; k < 3; k++)
			if (fds[i] >= 0 && fds[i] == fds[k])
				errx(EX_INPUT, "--vm-events-fd, --vm-stdout-fd and --vm-stderr-fd must differ");
	if (!json_on && !events_on) {
		warnx("give --json (records on stdout), --events-fd FD, or both");
		usage(EX_USAGE_);
	}
}

/* The queues, and the door's descriptor from omerta-jail. */
static void open_outputs(struct wopts *o, struct stream st[2])
{
	uint64_t v;

	if ((json_on && om_outq_open(&jsq, STDOUT_FILENO, OUT_BOUND) < 0) ||
	    (events_on && om_outq_open(&evq, o->events_fd, OUT_BOUND) < 0))
		err(EX_ERROR, "events");
	if (events_on)
		fcntl(o->events_fd, F_SETFD, FD_CLOEXEC);
	if (json_on)
		st[0].s.json = st[1].s.json = &jsq;
	if (o->out_fd_num >= 0 && !json_on) {
		if (om_outq_open(&outq, STDOUT_FILENO, OUT_BOUND) < 0 ||
		    om_outq_open(&errq, STDERR_FILENO, OUT_BOUND) < 0)
			err(EX_ERROR, "output");
		st[0].s.tty = isatty(STDOUT_FILENO);
		st[1].s.tty = isatty(STDERR_FILENO);
	}
	if (!o->no_door) {
		const char *e = getenv("OMERTA_JAIL_EVENTS_FD");
		if (!e || om_parse_u64(e, 3, 1023, &v) < 0 || fcntl((int)v, F_GETFD) < 0)
			errx(EX_ERROR, "not armed: no door events (run under omerta-jail, or --no-door)");
		o->door_fd = (int)v;
		fcntl(o->door_fd, F_SETFD, FD_CLOEXEC);
	}
}

/* Starts CMD with vmboot's event pipe (and output pipes) on the numbers asked for. */
static void start_cmd(const struct wopts *o, struct job *jb, int *vm_rd, struct stream st[2],
		      const sigset_t *old)
{
	int vmpipe[2], op[2][2] = { { -1, -1 }, { -1, -1 } };

	if (pipe2(vmpipe, O_CLOEXEC) < 0)
		err(EX_ERROR, "pipe");
	for (int i = 0; i < 2 && o->out_fd_num >= 0; i++)
		if (pipe2(op[i], O_CLOEXEC) < 0)
			err(EX_ERROR, "pipe");
	jb->child = fork();
	if (jb->child < 0)
		err(EX_ERROR, "fork");
	if (jb->child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(EX_ERROR);
		sigprocmask(SIG_SETMASK, old, NULL);
		/* Move the write ends out of the way first: a target number may be taken. */
		int w[3] = { fcntl(vmpipe[1], F_DUPFD_CLOEXEC, 1024 - 8),
			     op[0][1] >= 0 ? fcntl(op[0][1], F_DUPFD_CLOEXEC, 1024 - 8) : -1,
			     op[1][1] >= 0 ? fcntl(op[1][1], F_DUPFD_CLOEXEC, 1024 - 8) : -1 };
		int to[3] = { o->vm_fd_num, o->out_fd_num, o->err_fd_num };
		for (int i = 0; i < 3; i++)
			if (w[i] >= 0 && dup2(w[i], to[i]) < 0)
				_exit(EX_ERROR);
		/* With --json our stdout is a stream of records: CMD (and a workload whose
		 * bytes it passes to its stdout) must never write into it, or a guest could
		 * forge a record. Its output comes through --vm-stdout-fd, or not at all. */
		if (json_on) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
				_exit(EX_ERROR);
		}
		execvp(o->cmd[0], o->cmd);
		warn("%s", o->cmd[0]);
		_exit(127);
	}
	close(vmpipe[1]);
	*vm_rd = vmpipe[0];
	for (int i = 0; i < 2; i++) {
		st[i].fd = op[i][0];
		if (op[i][1] >= 0)
			close(op[i][1]);
	}
	jb->child_pidfd = (int)syscall(SYS_pidfd_open, jb->child, 0);
}

static void emit_armed(const struct wopts *o)
{
	struct om_json *j;

	j = om_rec_begin(&rec, "armed");
	om_json_int(j, "nflog_group", o->group);
	om_json_int(j, "setup_limit_s", o->setup_limit);
	om_json_int(j, "silence_limit_s", o->silence_limit);
	ev_end();
}

/* The loop's descriptors. */
struct loopfds {
	int nl, door, vm, sfd, tfd;
	struct lines *door_lines, *vm_lines;
};

enum { P_NL, P_DOOR, P_VM, P_CHILD, P_QEMU, P_SIG, P_TIMER, P_OUT, P_ERR, P_Q0, P_N = P_Q0 + 4 };

static void on_ready(struct job *jb, struct loopfds *f, struct stream st[2], const struct pollfd *p,
		     bool *child_done, int *status, bool no_door)
{
	/* The kill path first: frames, QEMU's end, signals, the setup limit. */
	if (p[P_NL].revents & POLLIN)
		nflog_read(f->nl, on_frame, jb);
	if (p[P_QEMU].revents & POLLIN) {
		jb->dead = true;
		jb->death_ms = now_ms_f();
		nflog_read(f->nl, on_frame, jb); /* frames logged before death count */
	}
	if (p[P_DOOR].revents & (POLLIN | POLLHUP))
		if (!read_lines(f->door, f->door_lines, jb, on_door_cb))
			f->door = -1;
	if (p[P_SIG].revents & POLLIN) {
		struct signalfd_siginfo si;
		if (read(f->sfd, &si, sizeof(si)) == sizeof(si))
			kill_vm(jb, "error", "omerta-watch was told to stop", "signal");
	}
	if (p[P_TIMER].revents & POLLIN) {
		uint64_t x;
		if (read(f->tfd, &x, sizeof(x)) > 0 && !jb->handshake && !no_door)
			kill_vm(jb, "vpn_setup_failed", "no handshake from the endpoint within the setup limit", "door");
	}
	if (p[P_VM].revents & (POLLIN | POLLHUP))
		if (!read_lines(f->vm, f->vm_lines, jb, on_vm_cb))
			f->vm = -1;
	for (int i = 0; i < 2; i++)
		if (p[P_OUT + i].revents & (POLLIN | POLLHUP | POLLERR))
			stream_read(&st[i]);
	if (p[P_CHILD].revents & POLLIN) {
		waitpid(jb->child, status, 0);
		*child_done = true;
		if (!jb->dead) {
			jb->dead = true;
			jb->death_ms = now_ms_f();
		}
	}
	om_outq_flush(&jsq);
	om_outq_flush(&evq);
	om_outq_flush(&outq);
	om_outq_flush(&errq);
}

static int watch_loop(struct job *jb, struct loopfds *f, struct stream st[2], bool no_door)
{
	struct om_outq *qs[4] = { &jsq, &evq, &outq, &errq };
	bool child_done = false;
	int status = 0;

	while (!child_done || f->vm >= 0 || st[0].fd >= 0 || st[1].fd >= 0) {
		struct pollfd p[P_N] = {
			[P_NL] = { f->nl, POLLIN, 0 },
			[P_DOOR] = { f->door, POLLIN, 0 },
			[P_VM] = { f->vm, POLLIN, 0 },
			[P_CHILD] = { child_done ? -1 : jb->child_pidfd, POLLIN, 0 },
			[P_QEMU] = { (jb->qemu_pidfd >= 0 && !jb->dead) ? jb->qemu_pidfd : -1, POLLIN, 0 },
			[P_SIG] = { f->sfd, POLLIN, 0 },
			[P_TIMER] = { f->tfd, POLLIN, 0 },
		};
		/* The workload's output only while its queue has room, or once QEMU is gone
		 * (what is left then is what the pipes and vmboot hold). */
		for (int i = 0; i < 2; i++)
			p[P_OUT + i] = (struct pollfd){ (jb->dead || om_stream_room(&st[i].s)) ? st[i].fd : -1, POLLIN, 0 };
		for (int q = 0; q < 4; q++)
			p[P_Q0 + q] = (struct pollfd){ om_outq_pollfd(qs[q]), POLLOUT, 0 };
		int n = poll(p, P_N, child_done ? 500 : -1);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
		if (n > 0)
			on_ready(jb, f, st, p, &child_done, &status, no_door);
	}
	if (!child_done) {
		kill_vm(jb, "error", "CMD did not exit", "watch");
		waitpid(jb->child, &status, 0);
	}
	return status;
}

/* The verdict: one table of statuses and exit codes. */
static const struct { const char *status; int code; } verdicts[] = {
	{ "completed", -1 }, /* the workload's own */
	{ "vpn_setup_failed", EX_SETUP },
	{ "rogue_connection_detected", EX_ROGUE },
	{ "vpn_disconnected", EX_DISCONNECTED },
	{ "timeout", EX_TIMEOUT },
	{ "error", EX_ERROR },
};

static const char *verdict(const struct job *jb, int *ret)
{
	const char *st = jb->verdict;

	if (!st) {
		if (!strcmp(jb->vm_status, "completed") && jb->exit_code >= 0)
			st = "completed";
		else if (!strcmp(jb->vm_status, "vpn_setup_failed") || !strcmp(jb->vm_status, "timeout"))
			st = jb->vm_status;
		else
			st = "error";
	}
	*ret = EX_ERROR;
	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
		if (!strcmp(st, verdicts[i].status))
			*ret = verdicts[i].code < 0 ? jb->exit_code : verdicts[i].code;
	return st;
}

static void emit_verdict(const struct job *jb, const char *st)
{
	struct om_json *j;

	if (!strcmp(st, "rogue_connection_detected")) {
		j = om_rec_begin(&rec, "rogue_connection");
		om_json_str(j, "source", jb->source);
		om_json_str(j, "reason", jb->reason);
		if (jb->have_first) {
			om_json_obj_open(j, "frame");
			om_frame_json(&jb->first.f, j);
			om_json_obj_close(j);
			om_json_int(j, "frames_after", jb->frames_after_first);
			om_json_str(j, "frame_clock", jb->first.kernel_clock ? "kernel" : "receive");
			om_json_int(j, "detection_ms", (long long)(jb->death_ms - jb->first.t_ms + 0.5));
		} else
			om_json_int(j, "detection_ms", (long long)(jb->death_ms - jb->kill_sent_ms + 0.5));
		om_json_int(j, "kill_to_death_ms", (long long)(jb->death_ms - jb->kill_sent_ms + 0.5));
		ev_end();
	} else if (!strcmp(st, "vpn_disconnected") || (!strcmp(st, "vpn_setup_failed") && jb->verdict)) {
		j = om_rec_begin(&rec, st);
		om_json_str(j, "reason", jb->reason);
		if (!strcmp(st, "vpn_disconnected"))
			om_json_int(j, "silence_ms", jb->last_rx_age);
		ev_end();
	}
	j = om_rec_begin(&rec, "watch_result");
	om_json_str(j, "status", st);
	if (!strcmp(st, "completed"))
		om_json_int(j, "exit_code", jb->exit_code);
	else
		om_json_null(j, "exit_code");
	om_json_str(j, "reason", jb->reason);
	om_json_int(j, "blocked_frames", jb->frames);
	/* Output bytes a reader that went away (EPIPE) did not take: said, not hidden. */
	om_json_int(j, "output_discarded", (long long)(jsq.discarded + outq.discarded + errq.discarded));
	ev_end();
}

static int arm(const struct wopts *o)
{
	int nl = nflog_open(o->group), one = 1;

	if (nl < 0)
		err(EX_ERROR, "not armed: NFLOG group %u", o->group);
	/* Kernel timestamps on received frames, for detection_ms from the frame itself. */
	int tsock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (tsock >= 0)
		setsockopt(tsock, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	return nl;
}

int main(int argc, char **argv)
{
	struct wopts o = { .group = 1, .setup_limit = 60, .silence_limit = 10, .vm_fd_num = -1,
			   .out_fd_num = -1, .err_fd_num = -1, .events_fd = -1, .door_fd = -1 };
	struct job jb = { .child_pidfd = -1, .qemu_pidfd = -1, .exit_code = -1 };
	struct stream st[2] = { { .fd = -1, .s = { .name = "stdout", .raw = &outq } },
				{ .fd = -1, .s = { .name = "stderr", .raw = &errq } } };
	/* Static: 64 KiB each, for the life of the process. */
	static struct lines door_buf, vm_buf;
	struct loopfds f = { .door_lines = &door_buf, .vm_lines = &vm_buf };
	sigset_t mask, old;
	int ret;

	parse_opts(argc, argv, &o);
	open_outputs(&o, st);
	jb.silence_limit_ms = o.silence_limit * 1000;
	/* Arm first. Without the group bound, nothing starts: fail closed. */
	f.nl = arm(&o);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	emit_armed(&o);
	start_cmd(&o, &jb, &f.vm, st, &old);
	f.door = o.door_fd;
	jb.setup_deadline_ms = now_ms() + (long long)o.setup_limit * 1000;
	f.sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	f.tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	struct itimerspec it = { { 0, 0 }, { (time_t)(jb.setup_deadline_ms / 1000), 0 } };
	timerfd_settime(f.tfd, TFD_TIMER_ABSTIME, &it, NULL);
	watch_loop(&jb, &f, st, o.no_door);
	emit_verdict(&jb, verdict(&jb, &ret));
	/* QEMU is gone and the verdict is out of our hands: now wait on the readers. */
	om_outq_drain(&outq, -1);
	om_outq_drain(&errq, -1);
	om_outq_drain(&evq, -1);
	om_outq_drain(&jsq, -1);
	return ret;
}
