/* omerta-jail: the provider's per-job network jail with one door.
 *
 * run makes a network namespace holding only lo and a tap for the VM, with no route
 * out; an nftables netdev filter on the tap passes only ARP with the gateway and UDP
 * from the VM to the door, and logs everything else to an NFLOG group before dropping
 * it. The door is a UDP socket on the gateway address that relays WireGuard-shaped
 * datagrams, both ways, to one pinned endpoint through a socket opened in the
 * provider's own namespace, which this tool never changes. Then it runs CMD inside
 * the namespace and tears everything down when CMD ends, on every path. */
#include <arpa/inet.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "om_addr.h"
#include "om_exec.h"
#include "om_ifaddr.h"
#include "om_jobid.h"
#include "om_json.h"
#include "om_key.h"
#include "om_num.h"
#include "om_proc.h"
#include "om_state.h"
#include "om_wgmsg.h"

enum { EX_OK = 0, EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3 };

#define NETNS_DIR "/run/netns"
#define TAP "tap0"

static const char usage_text[] =
	"usage: omerta-jail run --job ID --endpoint IP:PORT [--uid UID] [--door IP:PORT] [--guest-ip IP] [--guest-mac MAC] [--rate BYTES] [--mtu N] [--peer-key KEY] [--nflog-group N] [--events-fd FD] [--allow-private-endpoint] -- CMD [ARG...]\n"
	"       omerta-jail down --job ID\n"
	"       omerta-jail gc\n"
	"       omerta-jail --help | --version\n";

static void usage(int code)
{
	fputs(usage_text, code ? stderr : stdout);
	if (!code)
		fputs("\n"
		      "  run    make the job's jail, run CMD inside it, tear it down when CMD ends\n"
		      "  down   remove what a killed run left (idempotent)\n"
		      "  gc     down for every jail whose omerta-jail is gone\n"
		      "The steps are listed in omerta-jail(1).\n"
		      "Exit status: CMD's, or 1 refused input, 2 usage, 3 system error.\n",
		      stdout);
	exit(code);
}

static char run_dir[256];

static int setup_run_dir(void)
{
	const char *d = getenv("OMERTA_RUN_DIR");

	if (!d || !*d)
		d = "/run/omerta";
	if (d[0] != '/' || strlen(d) > 190 || strpbrk(d, "\n\t")) {
		warnx("OMERTA_RUN_DIR must be an absolute path of under 190 characters");
		return -1;
	}
	if (mkdir(d, 0700) < 0 && errno != EEXIST) {
		warn("%s", d);
		return -1;
	}
	snprintf(run_dir, sizeof(run_dir), "%s/jail", d);
	if (mkdir(run_dir, 0700) < 0 && errno != EEXIST) {
		warn("%s", run_dir);
		return -1;
	}
	return 0;
}

static void netns_name(const char *job, char *out, size_t n)
{
	snprintf(out, n, "omerta-%s", job);
}

static void job_path(char *out, size_t n, const char *job, const char *file)
{
	if (file)
		snprintf(out, n, "%s/%s/%s", run_dir, job, file);
	else
		snprintf(out, n, "%s/%s", run_dir, job);
}

/* Removes one job's jail: the namespace takes the tap, its filter and the door's
 * address with it. Idempotent. */
static void teardown(const char *job)
{
	char ns[64], p[PATH_MAX];
	const char *del[] = { "ip", "netns", "del", ns, NULL };

	netns_name(job, ns, sizeof(ns));
	snprintf(p, sizeof(p), NETNS_DIR "/%s", ns);
	if (access(p, F_OK) == 0)
		om_run(del, NULL, 0, NULL, OM_RUN_QUIET);
	static const char *const files[] = { "state", "door" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		job_path(p, sizeof(p), job, files[i]);
		unlink(p);
	}
	job_path(p, sizeof(p), job, NULL);
	rmdir(p);
}

/* ---- events ---------------------------------------------------------------------- */

/* Events go to --events-fd and to a pipe that CMD reads (OMERTA_JAIL_EVENTS_FD), so
 * a watcher running as CMD hears the door without any wiring. Writes never block:
 * a reader that does not keep up loses events, the relay does not stall. */
static int ev_fd[2] = { -1, -1 };
static FILE *ev_mem;
static char *ev_buf;
static size_t ev_len;

static bool ev_on(void)
{
	return ev_fd[0] >= 0 || ev_fd[1] >= 0;
}

static long long now_ms(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ev_begin(struct om_json *j, const char *name, const char *job)
{
	ev_mem = open_memstream(&ev_buf, &ev_len);
	om_json_init(j, ev_mem ? ev_mem : stderr);
	om_json_obj_open(j, NULL);
	om_json_str(j, "event", name);
	om_json_str(j, "job_id", job);
	om_json_int(j, "time_ms", now_ms(CLOCK_REALTIME));
}

static void ev_end(struct om_json *j)
{
	om_json_obj_close(j);
	om_json_end(j);
	if (!ev_mem)
		return;
	fclose(ev_mem);
	ev_mem = NULL;
	for (int i = 0; i < 2; i++)
		if (ev_fd[i] >= 0 && write(ev_fd[i], ev_buf, ev_len) < 0 && errno != EAGAIN)
			ev_fd[i] = -1;
	free(ev_buf);
	ev_buf = NULL;
}

/* ---- the door ------------------------------------------------------------------- */

struct door {
	const char *job;
	int in, out;               /* in: the job namespace's socket; out: the provider's */
	struct sockaddr_in guest;   /* the VM's WireGuard socket, learnt from its first datagram */
	bool have_guest;
	struct om_ip guest_ip;
	unsigned long long tx_packets, tx_bytes, rx_packets, rx_bytes, rogue, rate_drops;
	long long last_rx, last_handshake, last_tx; /* CLOCK_MONOTONIC ms, 0 never */
	unsigned long long rate;    /* bytes per second out, 0 unlimited */
	size_t mtu;                 /* the guest's WireGuard MTU, for the shape of its data */
	struct om_wg_peer peer;     /* the server's mac1 key and session indices (--peer-key) */
	bool have_peer;
	double tokens;
	long long tokens_at;
	bool dirty;
};

static void write_door_state(struct door *d);

static void rogue(struct door *d, const char *why, const struct sockaddr_in *src, size_t len,
		  const uint8_t *b)
{
	struct om_json j;
	char ip[OM_IP_STRLEN], s[OM_IP_STRLEN + 8];

	d->rogue++;
	d->dirty = true;
	write_door_state(d); /* at once: a rogue datagram ends the job */
	if (!ev_on())
		return;
	inet_ntop(AF_INET, &src->sin_addr, ip, sizeof(ip));
	snprintf(s, sizeof(s), "%s:%u", ip, ntohs(src->sin_port));
	ev_begin(&j, "rogue_datagram", d->job);
	om_json_str(&j, "reason", why);
	om_json_str(&j, "src", s);
	om_json_int(&j, "len", (long long)len);
	om_json_int(&j, "first_byte", len ? b[0] : -1);
	ev_end(&j);
}

static bool take_tokens(struct door *d, size_t n)
{
	long long t = now_ms(CLOCK_MONOTONIC);

	if (!d->rate)
		return true;
	d->tokens += (double)(t - d->tokens_at) * (double)d->rate / 1000.0;
	d->tokens_at = t;
	if (d->tokens > (double)d->rate) /* a burst of up to one second */
		d->tokens = (double)d->rate;
	if (d->tokens < (double)n)
		return false;
	d->tokens -= (double)n;
	return true;
}

/* From the VM to the endpoint: only WireGuard-shaped datagrams from the VM's
 * address. Anything else is a rogue: reported, never relayed. */
static void from_guest(struct door *d)
{
	uint8_t b[65536];
	struct sockaddr_in src;
	socklen_t sl = sizeof(src);
	ssize_t n = recvfrom(d->in, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&src, &sl);
	const char *why;
	int t;

	if (n < 0)
		return;
	if (src.sin_family != AF_INET || memcmp(&src.sin_addr, d->guest_ip.a, 4) != 0) {
		rogue(d, "source is not the guest", &src, (size_t)n, b);
		return;
	}
	t = om_wg_shape(b, (size_t)n, d->mtu);
	if (!t) {
		rogue(d, "not a WireGuard datagram", &src, (size_t)n, b);
		return;
	}
	/* Shaped right is not enough: a handshake must carry the mac1 of the requester's
	 * server, and anything else an index that server chose. Junk in WireGuard's
	 * clothes never leaves. */
	if (d->have_peer && (why = om_wg_peer_check(&d->peer, b, (size_t)n, t))) {
		rogue(d, why, &src, (size_t)n, b);
		return;
	}
	if (!take_tokens(d, (size_t)n)) {
		d->rate_drops++;
		return;
	}
	d->guest = src;
	d->have_guest = true;
	if (send(d->out, b, (size_t)n, MSG_DONTWAIT) == n) {
		d->tx_packets++;
		d->tx_bytes += (unsigned long long)n;
		d->last_tx = now_ms(CLOCK_MONOTONIC);
		d->dirty = true;
	}
}

/* From the endpoint (a connected socket: nobody else can be heard on it) to the VM. */
static void from_endpoint(struct door *d)
{
	uint8_t b[65536];
	ssize_t n = recv(d->out, b, sizeof(b), MSG_DONTWAIT);
	int t;

	if (n < 0)
		return;
	/* The requester's server may use any MTU: its data messages are taken at any
	 * padded length; the header and the minimum size still must hold. */
	t = om_wg_shape(b, (size_t)n, 0);
	if (!t || !d->have_guest)
		return; /* junk from the endpoint is dropped, and is not a sign of life */
	if (d->have_peer)
		om_wg_peer_learn(&d->peer, b, (size_t)n, t);
	d->rx_packets++;
	d->rx_bytes += (unsigned long long)n;
	d->last_rx = now_ms(CLOCK_MONOTONIC);
	d->dirty = true;
	if (t == OM_WG_RESPONSE) {
		d->last_handshake = d->last_rx;
		if (ev_on()) {
			struct om_json j;
			ev_begin(&j, "handshake", d->job);
			ev_end(&j);
		}
	}
	sendto(d->in, b, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&d->guest, sizeof(d->guest));
}

static void stats(struct door *d)
{
	long long t = now_ms(CLOCK_MONOTONIC);
	struct om_json j;

	if (!ev_on())
		return;
	/* Once a second: the watcher judges liveness from last_rx_age_ms. */
	ev_begin(&j, "door_stats", d->job);
	om_json_int(&j, "tx_packets", (long long)d->tx_packets);
	om_json_int(&j, "tx_bytes", (long long)d->tx_bytes);
	om_json_int(&j, "rx_packets", (long long)d->rx_packets);
	om_json_int(&j, "rx_bytes", (long long)d->rx_bytes);
	if (d->last_rx)
		om_json_int(&j, "last_rx_age_ms", t - d->last_rx);
	else
		om_json_null(&j, "last_rx_age_ms");
	if (d->last_handshake)
		om_json_int(&j, "last_handshake_age_ms", t - d->last_handshake);
	else
		om_json_null(&j, "last_handshake_age_ms");
	om_json_int(&j, "rogue_datagrams", (long long)d->rogue);
	om_json_int(&j, "rate_drops", (long long)d->rate_drops);
	ev_end(&j);
}

static void write_door_state(struct door *d)
{
	struct om_state s = { 0 };
	char p[PATH_MAX], b[32];

	if (!d->dirty)
		return;
	d->dirty = false;
#define SETN(k, v)                                                   \
	snprintf(b, sizeof(b), "%llu", (unsigned long long)(v)); \
	om_state_set(&s, k, b)
	SETN("tx_packets", d->tx_packets);
	SETN("tx_bytes", d->tx_bytes);
	SETN("rx_packets", d->rx_packets);
	SETN("rx_bytes", d->rx_bytes);
	SETN("rogue_datagrams", d->rogue);
	SETN("rate_drops", d->rate_drops);
	SETN("last_rx_unix", d->last_rx ? time(NULL) - (now_ms(CLOCK_MONOTONIC) - d->last_rx) / 1000 : 0);
	SETN("last_handshake_unix",
	     d->last_handshake ? time(NULL) - (now_ms(CLOCK_MONOTONIC) - d->last_handshake) / 1000 : 0);
#undef SETN
	job_path(p, sizeof(p), d->job, "door");
	om_state_write(p, &s);
}

/* ---- run ------------------------------------------------------------------------ */

struct run_opts {
	const char *job;
	struct om_ip ep_ip, door_ip, guest_ip;
	unsigned ep_port, door_port, nflog, uid, gid, mtu;
	unsigned long long rate;
	char guest_mac[18];
	int events_fd;
	char **cmd;
	uint8_t peer_key[OM_KEY_LEN];
	bool have_peer;
};

static int ip_ns(const char *ns, const char *const args[])
{
	const char *argv[16] = { "ip", "-n", ns };
	size_t n = 3;

	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (om_run(argv, NULL, 0, NULL, 0) != 0) {
		warnx("ip -n %s %s %s failed", ns, args[0], args[1] ? args[1] : "");
		return -1;
	}
	return 0;
}

static int write_file(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = write(fd, v, strlen(v)) == (ssize_t)strlen(v) ? 0 : -1;
	close(fd);
	return r;
}

static int build_jail(const struct run_opts *o, const char *ns, int *job_ns)
{
	char p[PATH_MAX], door[OM_IP_STRLEN + 4], uid[16], gid[16], rules[2048];
	char guest[OM_IP_STRLEN], dip[OM_IP_STRLEN];
	const char *add[] = { "ip", "netns", "add", ns, NULL };
	const char *nft[] = { "nft", "-f", "-", NULL };
	int n;

	if (om_run(add, NULL, 0, NULL, 0) != 0) {
		warnx("ip netns add %s failed", ns);
		return -1;
	}
	snprintf(p, sizeof(p), NETNS_DIR "/%s", ns);
	*job_ns = open(p, O_RDONLY | O_CLOEXEC);
	if (*job_ns < 0) {
		warn("%s", p);
		return -1;
	}
	om_ip_format(&o->door_ip, dip);
	om_ip_format(&o->guest_ip, guest);
	snprintf(door, sizeof(door), "%s/24", dip);
	snprintf(uid, sizeof(uid), "%u", o->uid);
	snprintf(gid, sizeof(gid), "%u", o->gid);
	{
		const char *lo[] = { "link", "set", "lo", "up", NULL };
		const char *tap[] = { "tuntap", "add", TAP, "mode", "tap", "user", uid, "group", gid, NULL };
		const char *addr[] = { "address", "add", door, "dev", TAP, NULL };
		const char *up[] = { "link", "set", TAP, "up", NULL };
		if (ip_ns(ns, lo) < 0 || ip_ns(ns, tap) < 0 || ip_ns(ns, addr) < 0 || ip_ns(ns, up) < 0)
			return -1;
	}
	/* Inside the job namespace from here on: its sysctls, its nft, its door. */
	if (setns(*job_ns, CLONE_NEWNET) < 0) {
		warn("setns %s", ns);
		return -1;
	}
	/* No IPv6 at all, so the host side of the tap stays silent too. */
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/" TAP "/disable_ipv6", "1");
	/* Every frame from the VM passes this filter before anything else sees it.
	 * Only ARP between the VM and the gateway and whole (unfragmented, option-less)
	 * UDP datagrams from the VM's MAC and IP to the door pass; the rest is logged to
	 * the NFLOG group with a queue threshold of 1, so the watcher hears of the first
	 * frame at once, and dropped. */
	n = snprintf(rules, sizeof(rules),
		     "table netdev omerta {\n"
		     " chain ingress {\n"
		     "  type filter hook ingress device \"%s\" priority -500; policy accept;\n"
		     "  ether saddr %s arp htype 1 arp ptype 0x0800 arp operation { request, reply }"
		     " arp saddr ether %s arp saddr ip %s arp daddr ip %s accept\n"
		     "  ether saddr %s ip version 4 ip hdrlength 5 ip frag-off & 0x3fff == 0"
		     " ip saddr %s ip daddr %s udp dport %u accept\n"
		     "  log group %u queue-threshold 1 drop\n"
		     " }\n"
		     "}\n",
		     TAP, o->guest_mac, o->guest_mac, guest, dip, o->guest_mac, guest, dip,
		     o->door_port, o->nflog);
	if (om_run(nft, rules, (size_t)n, NULL, 0) != 0) {
		warnx("nft could not load the tap filter");
		return -1;
	}
	return 0;
}

static int open_door(const struct run_opts *o, struct door *d, int host_ns, int job_ns)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->door_port) };
	struct sockaddr_storage ep = { 0 };
	socklen_t eplen;

	/* The provider's side, opened in the provider's namespace: connected, so that
	 * only the pinned endpoint can be heard. */
	if (setns(host_ns, CLONE_NEWNET) < 0) {
		warn("setns back");
		return -1;
	}
	if (o->ep_ip.family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ep;
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)o->ep_port);
		memcpy(&s->sin_addr, o->ep_ip.a, 4);
		eplen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ep;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)o->ep_port);
		memcpy(&s->sin6_addr, o->ep_ip.a, 16);
		eplen = sizeof(*s);
	}
	d->out = socket(o->ep_ip.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d->out < 0 || connect(d->out, (struct sockaddr *)&ep, eplen) < 0) {
		warn("door: connect to the endpoint");
		return -1;
	}
	if (setns(job_ns, CLONE_NEWNET) < 0) {
		warn("setns job");
		return -1;
	}
	memcpy(&in.sin_addr, o->door_ip.a, 4);
	d->in = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d->in < 0 || bind(d->in, (struct sockaddr *)&in, sizeof(in)) < 0) {
		warn("door: bind");
		return -1;
	}
	/* Back home: nothing else this process does belongs in the jail. */
	if (setns(host_ns, CLONE_NEWNET) < 0) {
		warn("setns back");
		return -1;
	}
	return 0;
}

static int cmd_run(struct run_opts *o)
{
	char ns[64], dir[PATH_MAX], b[PATH_MAX];
	int host_ns = -1, job_ns = -1, sfd = -1, tfd = -1, status = 0, ret = EX_SYS;
	int evpipe[2] = { -1, -1 };
	struct door d = { 0 };
	struct om_state s = { 0 };
	sigset_t mask, old;
	pid_t child = -1;
	bool created = false, stopping = false;
	long long stop_at = 0;

	d.in = d.out = -1;
	d.job = o->job;
	d.guest_ip = o->guest_ip;
	d.rate = o->rate;
	d.mtu = o->mtu;
	if (o->have_peer) {
		om_wg_peer_init(&d.peer, o->peer_key);
		d.have_peer = true;
	}
	d.tokens = (double)o->rate;
	d.tokens_at = now_ms(CLOCK_MONOTONIC);
	netns_name(o->job, ns, sizeof(ns));
	if (setup_run_dir() < 0)
		return EX_SYS;
	/* A reader of the events that goes away must not take the jail with it. */
	signal(SIGPIPE, SIG_IGN);
	/* Signals wait in a signalfd from here: setup finishes or is undone whole. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	job_path(dir, sizeof(dir), o->job, NULL);
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST) {
			warnx("job %s already has a jail (omerta-jail down --job %s removes a dead one)", o->job, o->job);
			ret = EX_INPUT;
		} else
			warn("%s", dir);
		goto out;
	}
	created = true;
	snprintf(b, sizeof(b), NETNS_DIR "/%s", ns);
	if (access(b, F_OK) == 0) {
		warnx("network namespace %s exists already", ns);
		ret = EX_INPUT;
		rmdir(dir);
		created = false;
		goto out;
	}
	om_state_set(&s, "job_id", o->job);
	om_state_set(&s, "role", "provider");
	om_state_set(&s, "netns", ns);
	snprintf(b, sizeof(b), "%d", (int)getpid());
	om_state_set(&s, "pid", b);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)om_proc_starttime(getpid()));
	om_state_set(&s, "pid_start", b);
	{
		char p[PATH_MAX];
		job_path(p, sizeof(p), o->job, "state");
		if (om_state_write(p, &s) < 0) {
			warn("%s", p);
			goto fail;
		}
	}
	host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0) {
		warn("/proc/self/ns/net");
		goto fail;
	}
	if (build_jail(o, ns, &job_ns) < 0 || open_door(o, &d, host_ns, job_ns) < 0)
		goto fail;
	if (ev_on()) {
		struct om_json j;
		char dip[OM_IP_STRLEN], door[OM_IP_STRLEN + 8];
		om_ip_format(&o->door_ip, dip);
		snprintf(door, sizeof(door), "%s:%u", dip, o->door_port);
		ev_begin(&j, "jail_ready", o->job);
		om_json_str(&j, "netns", ns);
		om_json_str(&j, "tap", TAP);
		om_json_str(&j, "door", door);
		om_json_int(&j, "nflog_group", o->nflog);
		ev_end(&j);
	}

	if (pipe2(evpipe, O_CLOEXEC) < 0) {
		warn("pipe");
		goto fail;
	}
	fcntl(evpipe[1], F_SETFL, O_NONBLOCK);
	ev_fd[1] = evpipe[1];
	child = fork();
	if (child < 0) {
		warn("fork");
		goto fail;
	}
	if (child == 0) {
		/* CMD runs in the jail, and dies with this process. */
		char envns[80];
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(EX_SYS);
		if (setns(job_ns, CLONE_NEWNET) < 0)
			_exit(EX_SYS);
		sigprocmask(SIG_SETMASK, &old, NULL);
		snprintf(envns, sizeof(envns), "%s", ns);
		setenv("OMERTA_JAIL_NETNS", envns, 1);
		setenv("OMERTA_JAIL_TAP", TAP, 1);
		fcntl(evpipe[0], F_SETFD, 0);
		snprintf(envns, sizeof(envns), "%d", evpipe[0]);
		setenv("OMERTA_JAIL_EVENTS_FD", envns, 1);
		execvp(o->cmd[0], o->cmd);
		warn("%s", o->cmd[0]);
		_exit(127);
	}
	close(evpipe[0]);
	evpipe[0] = -1;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	{
		struct itimerspec it = { { 1, 0 }, { 1, 0 } };
		timerfd_settime(tfd, 0, &it, NULL);
	}
	for (;;) {
		struct pollfd p[4] = { { d.in, POLLIN, 0 }, { d.out, POLLIN, 0 }, { sfd, POLLIN, 0 },
				       { tfd, POLLIN, 0 } };
		if (poll(p, 4, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			from_guest(&d);
		if (p[1].revents & POLLIN)
			from_endpoint(&d);
		if (p[3].revents & POLLIN) {
			uint64_t x;
			if (read(tfd, &x, sizeof(x)) > 0) {
				stats(&d);
				write_door_state(&d);
			}
			if (stopping && now_ms(CLOCK_MONOTONIC) - stop_at > 2000)
				kill(child, SIGKILL);
		}
		if (p[2].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGCHLD) {
				if (waitpid(child, &status, WNOHANG) == child)
					break;
			} else if (!stopping) {
				/* Asked to stop: CMD first, then the jail. */
				stopping = true;
				stop_at = now_ms(CLOCK_MONOTONIC);
				kill(child, SIGTERM);
			}
		}
	}
	if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		ret = 128 + WTERMSIG(status);
	stats(&d);
	goto out;
fail:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
out:
	if (d.in >= 0)
		close(d.in);
	if (d.out >= 0)
		close(d.out);
	if (host_ns >= 0) {
		setns(host_ns, CLONE_NEWNET);
		close(host_ns);
	}
	if (job_ns >= 0)
		close(job_ns);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (created)
		teardown(o->job);
	if (evpipe[0] >= 0)
		close(evpipe[0]);
	if (ev_on()) {
		struct om_json j;
		ev_begin(&j, "jail_down", o->job);
		om_json_int(&j, "status", ret);
		ev_end(&j);
	}
	if (evpipe[1] >= 0)
		close(evpipe[1]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* ---- down, gc ----------------------------------------------------------------------- */

static bool jail_alive(const char *job)
{
	char p[PATH_MAX];
	struct om_state s = { 0 };
	const char *v;
	pid_t pid;
	uint64_t start;

	job_path(p, sizeof(p), job, "state");
	if (om_state_read(p, &s) < 0)
		return false;
	pid = (v = om_state_get(&s, "pid")) ? atoi(v) : 0;
	start = (v = om_state_get(&s, "pid_start")) ? strtoull(v, NULL, 10) : 0;
	return pid > 1 && start && om_proc_is(pid, start, "omerta-jail");
}

static int cmd_down(const char *job)
{
	if (setup_run_dir() < 0)
		return EX_SYS;
	if (jail_alive(job)) {
		warnx("job %s: its omerta-jail still runs; signal it instead (SIGTERM tears down)", job);
		return EX_INPUT;
	}
	teardown(job);
	return EX_OK;
}

/* Whether any process is in the network namespace whose nsfs inode is ino. */
static bool netns_in_use(ino_t ino)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool used = false;

	while (d && !used && (e = readdir(d))) {
		char p[300];
		struct stat st;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/ns/net", e->d_name);
		used = stat(p, &st) == 0 && st.st_ino == ino;
	}
	if (d)
		closedir(d);
	return used;
}

static int cmd_gc(void)
{
	DIR *dd;
	struct dirent *e;

	if (setup_run_dir() < 0)
		return EX_SYS;
	/* Jobs with a state folder whose jail is gone. */
	dd = opendir(run_dir);
	while (dd && (e = readdir(dd))) {
		if (!om_jobid_valid(e->d_name) || jail_alive(e->d_name))
			continue;
		teardown(e->d_name);
		printf("removed\t%s\n", e->d_name);
	}
	if (dd)
		closedir(dd);
	/* Namespaces named omerta-ID with no state at all (a deleted run dir may leave
	 * these). Another run dir's jails look the same from here, so only a namespace
	 * that no process is in and that is over a minute old counts as dead. */
	dd = opendir(NETNS_DIR);
	while (dd && (e = readdir(dd))) {
		char p[PATH_MAX];
		const char *job = e->d_name + 7;
		struct stat st;
		if (strncmp(e->d_name, "omerta-", 7) || !om_jobid_valid(job))
			continue;
		job_path(p, sizeof(p), job, NULL);
		if (stat(p, &st) == 0)
			continue;
		snprintf(p, sizeof(p), NETNS_DIR "/%s", e->d_name);
		if (stat(p, &st) < 0 || time(NULL) - st.st_mtime < 60 || netns_in_use(st.st_ino))
			continue;
		teardown(job);
		printf("removed\t%s\n", job);
	}
	if (dd)
		closedir(dd);
	fflush(stdout);
	return EX_OK;
}

/* ---- main ---------------------------------------------------------------------------- */

/* The endpoint follows omerta-wgconf's rules: an IP literal, not in a refused range,
 * not on a subnet the provider is attached to. */
static int check_endpoint(const struct om_ip *ip, bool allow_private)
{
	const char *cls = om_ip_refused_class(ip);
	struct om_cidr *nets;
	size_t n;
	char s[OM_IP_STRLEN];

	if (allow_private)
		return 0;
	om_ip_format(ip, s);
	if (cls) {
		warnx("endpoint %s is %s (--allow-private-endpoint permits it)", s, cls);
		return -1;
	}
	if (om_local_nets(&nets, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (om_cidr_contains(&nets[i], ip)) {
			warnx("endpoint %s is on a subnet this host is attached to (--allow-private-endpoint permits it)", s);
			free(nets);
			return -1;
		}
	}
	free(nets);
	return 0;
}

static int parse_ipport(const char *what, const char *s, struct om_ip *ip, unsigned *port)
{
	char host[OM_HOST_MAX + 1];
	uint16_t p;
	const char *why;

	if (om_endpoint_split(s, host, &p, &why) < 0 || om_ip_parse(host, ip) < 0) {
		warnx("%s must be IP:PORT ([IPv6]:PORT), an address and not a name", what);
		return -1;
	}
	*port = p;
	return 0;
}

static bool mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		char c = m[i];
		if (i % 3 == 2 ? c != ':' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	/* A unicast address: the low bit of the first octet clear. */
	return ((m[1] >= 'a' ? m[1] - 'a' + 10 : m[1] - '0') & 1) == 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "job", required_argument, NULL, 'J' },
		{ "endpoint", required_argument, NULL, 'E' },
		{ "uid", required_argument, NULL, 'u' },
		{ "door", required_argument, NULL, 'd' },
		{ "guest-ip", required_argument, NULL, 'g' },
		{ "guest-mac", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'R' },
		{ "mtu", required_argument, NULL, 'M' },
		{ "peer-key", required_argument, NULL, 'P' },
		{ "nflog-group", required_argument, NULL, 'n' },
		{ "events-fd", required_argument, NULL, 'e' },
		{ "allow-private-endpoint", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum { RUN, DOWN, GC } cmd;
	struct run_opts o = { .uid = 65534, .gid = 65534, .nflog = 1, .events_fd = -1, .mtu = 1420 };
	const char *endpoint = NULL, *door = "10.66.0.1:51820", *guest = "10.66.0.2",
		   *mac = "52:54:00:12:34:56";
	bool allow_private = false;
	uint64_t v;
	int c;

	if (argc < 2)
		usage(EX_USAGE_);
	if (!strcmp(argv[1], "run"))
		cmd = RUN;
	else if (!strcmp(argv[1], "down"))
		cmd = DOWN;
	else if (!strcmp(argv[1], "gc"))
		cmd = GC;
	else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		usage(EX_OK);
	else if (!strcmp(argv[1], "--version")) {
		puts("omerta-jail " OMERTA_VERSION);
		return EX_OK;
	} else {
		warnx("unknown command '%s'", argv[1]);
		usage(EX_USAGE_);
	}
	argv[1] = argv[0]; /* getopt names the program by argv[0] */
	argv++;
	argc--;
	/* "+": options end at CMD, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'J': o.job = optarg; break;
		case 'E': endpoint = optarg; break;
		case 'u':
			if (om_parse_u64(optarg, 1, 4294967294ULL, &v) < 0) {
				warnx("--uid must be a number from 1 (QEMU never runs as root)");
				return EX_INPUT;
			}
			o.uid = o.gid = (unsigned)v;
			break;
		case 'd': door = optarg; break;
		case 'g': guest = optarg; break;
		case 'm': mac = optarg; break;
		case 'R':
			if (om_parse_u64(optarg, 1, 1ULL << 40, &v) < 0) {
				warnx("--rate must be bytes per second, from 1");
				return EX_INPUT;
			}
			o.rate = v;
			break;
		case 'M':
			if (om_parse_u64(optarg, 576, 9000, &v) < 0) {
				warnx("--mtu must be 576 to 9000");
				return EX_INPUT;
			}
			o.mtu = (unsigned)v;
			break;
		case 'P':
			/* A public key: not a secret, so argv is fine. */
			if (om_key_from_b64(o.peer_key, optarg, strlen(optarg)) < 0) {
				warnx("--peer-key must be a WireGuard public key (44 characters of base64)");
				return EX_INPUT;
			}
			o.have_peer = true;
			break;
		case 'n':
			if (om_parse_u64(optarg, 1, 65535, &v) < 0) {
				warnx("--nflog-group must be 1 to 65535");
				return EX_INPUT;
			}
			o.nflog = (unsigned)v;
			break;
		case 'e':
			if (om_parse_u64(optarg, 3, 1023, &v) < 0 || fcntl((int)v, F_GETFD) < 0) {
				warnx("--events-fd must be an open descriptor from 3");
				return EX_INPUT;
			}
			o.events_fd = (int)v;
			break;
		case 'a': allow_private = true; break;
		case 'h': usage(EX_OK); break;
		case 'V': puts("omerta-jail " OMERTA_VERSION); return EX_OK;
		default: usage(EX_USAGE_);
		}
	}
	if (o.job && !om_jobid_valid(o.job)) {
		warnx("invalid job ID (want [A-Za-z0-9_-]{1,32})");
		return EX_INPUT;
	}
	if (cmd == GC) {
		if (o.job || optind != argc)
			usage(EX_USAGE_);
		return cmd_gc();
	}
	if (!o.job) {
		warnx("--job is required");
		usage(EX_USAGE_);
	}
	if (cmd == DOWN) {
		if (optind != argc)
			usage(EX_USAGE_);
		return cmd_down(o.job);
	}
	if (!endpoint) {
		warnx("--endpoint is required");
		usage(EX_USAGE_);
	}
	if (optind >= argc) {
		warnx("CMD is required (omerta-jail run ... -- CMD [ARG...])");
		usage(EX_USAGE_);
	}
	o.cmd = argv + optind;
	if (parse_ipport("--endpoint", endpoint, &o.ep_ip, &o.ep_port) < 0)
		return EX_INPUT;
	if (check_endpoint(&o.ep_ip, allow_private) < 0)
		return EX_INPUT;
	if (parse_ipport("--door", door, &o.door_ip, &o.door_port) < 0 || o.door_ip.family != AF_INET) {
		warnx("--door must be an IPv4 address and port");
		return EX_INPUT;
	}
	if (om_ip_parse(guest, &o.guest_ip) < 0 || o.guest_ip.family != AF_INET ||
	    memcmp(o.guest_ip.a, o.door_ip.a, 3) != 0 || om_ip_equal(&o.guest_ip, &o.door_ip)) {
		warnx("--guest-ip must be an IPv4 address in the door's /24, not the door");
		return EX_INPUT;
	}
	if (!mac_ok(mac)) {
		warnx("--guest-mac must be a unicast MAC, lower case, as 52:54:00:12:34:56");
		return EX_INPUT;
	}
	strcpy(o.guest_mac, mac);
	if (o.events_fd >= 0) {
		ev_fd[0] = o.events_fd;
		fcntl(o.events_fd, F_SETFD, FD_CLOEXEC);
	}
	if (geteuid() != 0) {
		warnx("run needs root (network namespaces, tap, nftables)");
		return EX_SYS;
	}
	return cmd_run(&o);
}
