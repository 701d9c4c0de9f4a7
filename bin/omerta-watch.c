/* omerta-watch: detection and response for one job.
 *
 * Armed before the VM exists: it binds the jail's NFLOG group and only then starts
 * CMD (omerta-vmboot). On the first frame the jail's tap filter logs, on a rogue
 * datagram at the door, or on drops the guest's kill switch reports, it kills QEMU
 * with SIGKILL through a pidfd and says what it saw and how long the kill took.
 * From the door's view (never the guest's word) it stops a VM whose tunnel never came
 * up or went silent. If it dies, CMD dies with it. */
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
#include "om_frame.h"
#include "om_json.h"
#include "om_num.h"

/* The statuses of omerta execute: the workload's own when it completed. */
enum { EX_INPUT = 1, EX_USAGE_ = 2, EX_SETUP = 120, EX_ROGUE = 121, EX_DISCONNECTED = 122,
       EX_TIMEOUT = 124, EX_ERROR = 125 };

static const char usage_text[] =
	"usage: omerta-watch [--nflog-group N] [--setup-limit S] [--silence-limit S] [--vm-events-fd FD] [--no-door] [--text] [--json] [--events-fd FD] -- CMD [ARG...]\n"
	"       omerta-watch --help | --version\n";

static void usage(int code)
{
	fputs(usage_text, code ? stderr : stdout);
	if (!code)
		fputs("\n"
		      "Run as omerta-jail's command, with omerta-vmboot as CMD. See omerta-watch(1).\n"
		      "Exit status: the workload's, or 120 vpn_setup_failed, 121 rogue_connection_detected,\n"
		      "122 vpn_disconnected, 124 timeout, 125 error.\n",
		      stdout);
	exit(code);
}

static FILE *out;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Every record goes out through emit(): JSON Lines, or with --text one line for
 * people: the event name, then key=value pairs (nested objects flattened). */
static bool text_out;

static void emit(const char *line)
{
	if (!text_out) {
		fputs(line, out);
		if (!strchr(line, '\n'))
			putc('\n', out);
		fflush(out);
		return;
	}
	char b[1 << 16];
	const char *p = strstr(line, "\"event\":\""), *q;
	bool in_str = false;

	snprintf(b, sizeof(b), "%s", line);
	if (p) {
		p += 9;
		q = strchr(p, '"');
		fprintf(out, "%.*s", q ? (int)(q - p) : 0, p);
		/* Drop "event":"NAME" and its comma from the copy. */
		char *e = strstr(b, "\"event\":\""), *end = e ? strchr(e + 9, '"') : NULL;
		if (e && end) {
			end += 1 + (end[1] == ',');
			memmove(e, end, strlen(end) + 1);
		}
	}
	/* The rest as key=value: braces and quotes go, ':' becomes '=', ',' a space. */
	putc(' ', out);
	for (const char *c = b; *c && *c != '\n'; c++) {
		if (*c == '"' && (c == b || c[-1] != '\\')) {
			in_str = !in_str;
			continue;
		}
		if (!in_str && (*c == '{' || *c == '}'))
			continue;
		putc(!in_str && *c == ':' ? '=' : !in_str && *c == ',' ? ' ' : *c, out);
	}
	putc('\n', out);
	fflush(out);
}

static char *ev_buf;
static size_t ev_len;
static FILE *ev_mem;

static void ev_begin(struct om_json *j, const char *name)
{
	ev_mem = open_memstream(&ev_buf, &ev_len);
	om_json_init(j, ev_mem ? ev_mem : out);
	om_json_obj_open(j, NULL);
	om_json_str(j, "event", name);
	om_json_int(j, "time_ms", now_ms());
}

static void ev_end(struct om_json *j)
{
	om_json_obj_close(j);
	om_json_end(j);
	if (!ev_mem)
		return;
	fclose(ev_mem);
	ev_mem = NULL;
	emit(ev_buf);
	free(ev_buf);
	ev_buf = NULL;
}

/* ---- NFLOG ------------------------------------------------------------------------- */

static void put_attr(char *buf, size_t *len, unsigned type, const void *data, size_t n)
{
	struct nlattr *a = (struct nlattr *)(void *)(buf + *len);

	a->nla_type = (uint16_t)type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + n);
	memcpy(buf + *len + NLA_HDRLEN, data, n);
	*len += NLA_ALIGN(NLA_HDRLEN + n);
}

/* One config request, answered by an ACK whose error must be 0. */
static int nflog_config(int fd, unsigned group, unsigned type, const void *data, size_t n)
{
	char buf[256] __attribute__((aligned(4))) = { 0 };
	struct nlmsghdr *nh = (struct nlmsghdr *)(void *)buf;
	struct nfgenmsg *g;
	size_t len = NLMSG_LENGTH(sizeof(*g));
	static unsigned seq;
	ssize_t r;

	nh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nh->nlmsg_seq = ++seq;
	g = NLMSG_DATA(nh);
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons((uint16_t)group);
	put_attr(buf, &len, type, data, n);
	nh->nlmsg_len = (uint32_t)len;
	if (send(fd, buf, len, 0) < 0)
		return -1;
	for (;;) {
		char rb[1024] __attribute__((aligned(4)));
		r = recv(fd, rb, sizeof(rb), 0);
		if (r < 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)(void *)rb; NLMSG_OK(h, (unsigned)r);
		     h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq) {
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
		unsigned proto = 0;
		const uint8_t *payload = NULL;
		size_t plen = 0;
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
			}
			off += NLA_ALIGN(alen);
		}
		om_frame_parse(proto, payload ? payload : (const uint8_t *)"", plen, &s.f);
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

/* Lines of JSON from the jail or from vmboot: only a few fields matter here. */
static const char *json_field(const char *line, const char *key, char *val, size_t n)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	if (*p == '"') {
		p++;
		e = strchr(p, '"');
	} else
		e = p + strcspn(p, ",}");
	if (!e || (size_t)(e - p) >= n)
		return NULL;
	memcpy(val, p, (size_t)(e - p));
	val[e - p] = '\0';
	return val;
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

static void on_door(struct job *jb, const char *line)
{
	char ev[32], v[64];

	if (!json_field(line, "event", ev, sizeof(ev)))
		return;
	if (!strcmp(ev, "handshake")) {
		jb->handshake = true;
		if (jb->vpn_up_pending)
			emit_vpn_up(jb);
	} else if (!strcmp(ev, "rogue_datagram")) {
		emit(line);
		kill_vm(jb, "rogue_connection_detected", "datagram at the door that is not WireGuard", "door");
	} else if (!strcmp(ev, "door_stats") && jb->handshake &&
		   json_field(line, "last_rx_age_ms", v, sizeof(v)) && strcmp(v, "null")) {
		jb->last_rx_age = atoll(v);
		/* The server answers the guest's heartbeat every few seconds; silence past
		 * the limit means the tunnel is dead. */
		if (jb->last_rx_age > (long long)jb->silence_limit_ms)
			kill_vm(jb, "vpn_disconnected", "no datagram from the endpoint within the silence limit", "door");
	}
}

static void on_vm(struct job *jb, const char *line)
{
	char ev[32], v[64];

	if (!json_field(line, "event", ev, sizeof(ev)))
		return;
	if (!strcmp(ev, "started") && json_field(line, "pid", v, sizeof(v))) {
		jb->qemu = atoi(v);
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
		if (json_field(line, "out", v, sizeof(v)) && atoll(v) > 0)
			kill_vm(jb, "rogue_connection_detected", "the guest's kill switch dropped an outgoing packet", "guest");
	} else if (!strcmp(ev, "exited")) {
		if (json_field(line, "exit_code", v, sizeof(v)) && strcmp(v, "null"))
			jb->exit_code = atoi(v);
		json_field(line, "status", jb->vm_status, sizeof(jb->vm_status));
		emit(line);
	} else
		emit(line);
}

/* Splits what arrives on fd into lines; returns 0 at EOF. */
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
			if (l->len == sizeof(l->buf) - 1)
				l->len = 0; /* an endless line: drop it */
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

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "nflog-group", required_argument, NULL, 'n' },
		{ "setup-limit", required_argument, NULL, 's' },
		{ "silence-limit", required_argument, NULL, 'S' },
		{ "vm-events-fd", required_argument, NULL, 'v' },
		{ "no-door", no_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "text", no_argument, NULL, 't' },
		{ "events-fd", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned group = 1, setup_limit = 60, silence_limit = 10;
	int vm_fd_num = -1, events_fd = -1, door_fd = -1, nl, c, tsock, vmpipe[2], sfd, tfd;
	bool no_door = false, json = false;
	struct job jb = { .child_pidfd = -1, .qemu_pidfd = -1, .exit_code = -1 };
	/* Static: 64 KiB each, for the life of the process. */
	static struct lines door_buf, vm_buf;
	struct lines *door_lines = &door_buf, *vm_lines = &vm_buf;
	sigset_t mask, old;
	uint64_t v;
	int status = 0;

	while ((c = getopt_long(argc, argv, "+hj", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (om_parse_u64(optarg, 1, 65535, &v) < 0)
				errx(EX_INPUT, "--nflog-group must be 1 to 65535");
			group = (unsigned)v;
			break;
		case 's':
			if (om_parse_u64(optarg, 1, 3600, &v) < 0)
				errx(EX_INPUT, "--setup-limit must be 1 to 3600 seconds");
			setup_limit = (unsigned)v;
			break;
		case 'S':
			if (om_parse_u64(optarg, 3, 3600, &v) < 0)
				errx(EX_INPUT, "--silence-limit must be 3 to 3600 seconds");
			silence_limit = (unsigned)v;
			break;
		case 'v':
			if (om_parse_u64(optarg, 3, 1023, &v) < 0)
				errx(EX_INPUT, "--vm-events-fd must be 3 to 1023");
			vm_fd_num = (int)v;
			break;
		case 'D': no_door = true; break;
		case 'j': json = true; break;
		case 't': text_out = true; break;
		case 'e':
			if (om_parse_u64(optarg, 3, 1023, &v) < 0 || fcntl((int)v, F_GETFD) < 0)
				errx(EX_INPUT, "--events-fd must be an open descriptor from 3");
			events_fd = (int)v;
			break;
		case 'h': usage(0); break;
		case 'V': puts("omerta-watch " OMERTA_VERSION); return 0;
		default: usage(EX_USAGE_);
		}
	}
	if (optind >= argc) {
		warnx("CMD is required (omerta-watch ... -- omerta-vmboot ...)");
		usage(EX_USAGE_);
	}
	if (vm_fd_num < 0) {
		warnx("--vm-events-fd is required: the watcher must learn QEMU's PID from vmboot");
		usage(EX_USAGE_);
	}
	if (json == (events_fd >= 0)) {
		warnx("give one of --json (events on stdout) and --events-fd (with --text for people)");
		usage(EX_USAGE_);
	}
	out = json ? stdout : fdopen(events_fd, "w");
	if (!out)
		err(EX_ERROR, "events");
	if (events_fd >= 0)
		fcntl(events_fd, F_SETFD, FD_CLOEXEC);
	if (!no_door) {
		const char *e = getenv("OMERTA_JAIL_EVENTS_FD");
		if (!e || om_parse_u64(e, 3, 1023, &v) < 0 || fcntl((int)v, F_GETFD) < 0) {
			warnx("not armed: no door events (run under omerta-jail, or --no-door)");
			return EX_ERROR;
		}
		door_fd = (int)v;
		fcntl(door_fd, F_SETFD, FD_CLOEXEC);
	}
	jb.silence_limit_ms = silence_limit * 1000;

	/* Arm first. Without the group bound, nothing starts: fail closed. */
	nl = nflog_open(group);
	if (nl < 0) {
		warn("not armed: NFLOG group %u", group);
		return EX_ERROR;
	}
	/* Kernel timestamps on received frames, for detection_ms from the frame itself. */
	tsock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	{
		int one = 1;
		if (tsock >= 0)
			setsockopt(tsock, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	if (pipe2(vmpipe, O_CLOEXEC) < 0)
		err(EX_ERROR, "pipe");
	{
		struct om_json j;
		ev_begin(&j, "armed");
		om_json_int(&j, "nflog_group", group);
		om_json_int(&j, "setup_limit_s", setup_limit);
		om_json_int(&j, "silence_limit_s", silence_limit);
		ev_end(&j);
	}
	jb.child = fork();
	if (jb.child < 0)
		err(EX_ERROR, "fork");
	if (jb.child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(EX_ERROR);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (dup2(vmpipe[1], vm_fd_num) < 0)
			_exit(EX_ERROR);
		execvp(argv[optind], argv + optind);
		warn("%s", argv[optind]);
		_exit(127);
	}
	close(vmpipe[1]);
	jb.child_pidfd = (int)syscall(SYS_pidfd_open, jb.child, 0);
	jb.setup_deadline_ms = now_ms() + (long long)setup_limit * 1000;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	{
		struct itimerspec it = { { 0, 0 }, { (time_t)(jb.setup_deadline_ms / 1000), 0 } };
		timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
	}
	bool vm_open = true, child_done = false;
	while (!child_done || vm_open) {
		struct pollfd p[7] = {
			{ nl, POLLIN, 0 },
			{ door_fd, POLLIN, 0 },
			{ vm_open ? vmpipe[0] : -1, POLLIN, 0 },
			{ child_done ? -1 : jb.child_pidfd, POLLIN, 0 },
			{ (jb.qemu_pidfd >= 0 && !jb.dead) ? jb.qemu_pidfd : -1, POLLIN, 0 },
			{ sfd, POLLIN, 0 },
			{ tfd, POLLIN, 0 },
		};
		if (poll(p, 7, child_done ? 500 : -1) == 0)
			break;
		if (p[0].revents & POLLIN)
			nflog_read(nl, on_frame, &jb);
		if (p[4].revents & POLLIN) {
			/* The moment QEMU is gone, as its pidfd tells. */
			jb.dead = true;
			jb.death_ms = now_ms_f();
			nflog_read(nl, on_frame, &jb); /* frames logged before death count */
		}
		if (p[1].revents & (POLLIN | POLLHUP))
			if (!read_lines(door_fd, door_lines, &jb, on_door_cb))
				door_fd = -1;
		if (p[2].revents & (POLLIN | POLLHUP))
			if (!read_lines(vmpipe[0], vm_lines, &jb, on_vm_cb))
				vm_open = false;
		if (p[3].revents & POLLIN) {
			waitpid(jb.child, &status, 0);
			child_done = true;
			if (!jb.dead) {
				jb.dead = true;
				jb.death_ms = now_ms_f();
			}
		}
		if (p[5].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				kill_vm(&jb, "error", "omerta-watch was told to stop", "signal");
		}
		if (p[6].revents & POLLIN) {
			uint64_t x;
			if (read(tfd, &x, sizeof(x)) > 0 && !jb.handshake && !no_door)
				kill_vm(&jb, "vpn_setup_failed", "no handshake from the endpoint within the setup limit", "door");
		}
	}
	if (!child_done) {
		kill_vm(&jb, "error", "CMD did not exit", "watch");
		waitpid(jb.child, &status, 0);
	}

	/* The verdict. */
	const char *st = jb.verdict;
	int ret;
	if (!st) {
		if (!strcmp(jb.vm_status, "completed") && jb.exit_code >= 0)
			st = "completed";
		else if (!strcmp(jb.vm_status, "vpn_setup_failed"))
			st = "vpn_setup_failed";
		else if (!strcmp(jb.vm_status, "timeout"))
			st = "timeout";
		else
			st = "error";
	}
	if (!strcmp(st, "completed"))
		ret = jb.exit_code;
	else if (!strcmp(st, "vpn_setup_failed"))
		ret = EX_SETUP;
	else if (!strcmp(st, "rogue_connection_detected"))
		ret = EX_ROGUE;
	else if (!strcmp(st, "vpn_disconnected"))
		ret = EX_DISCONNECTED;
	else if (!strcmp(st, "timeout"))
		ret = EX_TIMEOUT;
	else
		ret = EX_ERROR;
	{
		struct om_json j;
		if (!strcmp(st, "rogue_connection_detected")) {
			ev_begin(&j, "rogue_connection");
			om_json_str(&j, "source", jb.source);
			om_json_str(&j, "reason", jb.reason);
			if (jb.have_first) {
				om_json_obj_open(&j, "frame");
				om_frame_json(&jb.first.f, &j);
				om_json_obj_close(&j);
				om_json_int(&j, "frames_after", jb.frames_after_first);
				om_json_str(&j, "frame_clock", jb.first.kernel_clock ? "kernel" : "receive");
				om_json_int(&j, "detection_ms", (long long)(jb.death_ms - jb.first.t_ms + 0.5));
			} else
				om_json_int(&j, "detection_ms", (long long)(jb.death_ms - jb.kill_sent_ms + 0.5));
			om_json_int(&j, "kill_to_death_ms", (long long)(jb.death_ms - jb.kill_sent_ms + 0.5));
			ev_end(&j);
		} else if (!strcmp(st, "vpn_disconnected") || (!strcmp(st, "vpn_setup_failed") && jb.verdict)) {
			ev_begin(&j, st);
			om_json_str(&j, "reason", jb.reason);
			if (!strcmp(st, "vpn_disconnected"))
				om_json_int(&j, "silence_ms", jb.last_rx_age);
			ev_end(&j);
		}
		ev_begin(&j, "watch_result");
		om_json_str(&j, "status", st);
		if (!strcmp(st, "completed"))
			om_json_int(&j, "exit_code", jb.exit_code);
		else
			om_json_null(&j, "exit_code");
		om_json_str(&j, "reason", jb.reason);
		om_json_int(&j, "blocked_frames", jb.frames);
		ev_end(&j);
	}
	(void)status;
	return ret;
}
