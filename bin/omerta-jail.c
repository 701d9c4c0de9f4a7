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
#include <linux/magic.h>
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
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "om_cli.h"
#include "om_addr.h"
#include "om_frame.h"
#include "om_exec.h"
#include "om_ifaddr.h"
#include "om_jobid.h"
#include "om_json.h"
#include "om_key.h"
#include "om_num.h"
#include "om_outq.h"
#include "om_proc.h"
#include "om_read.h"
#include "om_rundir.h"
#include "om_state.h"
#include "om_wgmsg.h"

enum { EX_OK = 0, EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3 };

#define NETNS_DIR "/run/netns"
#define TAP "tap0"

/* The guest's eth0 MTU: virtio-net's 1500, since omerta-vmboot gives QEMU no host_mtu
 * and the guest's /init never changes it. No honest frame from the VM is longer
 * (WireGuard's datagrams are 28 + 32 + MTU bytes of IP, 1480 for the usual 1420). */
#define GUEST_ETH_MTU 1500

/* The door's default limits on what the VM sends, far above what a real tunnel
 * needs (bench/README.md, "The door's rate limits": a 100 MiB download through a
 * real job sent at most 73 kB/s out of the VM, a 10 MiB upload 1.3 MiB/s, each with
 * one handshake).
 * Bytes: a second's worth may go at once. Handshake messages (initiation, response,
 * cookie): WireGuard sends at most one initiation per peer every 5 s (REKEY_TIMEOUT),
 * 12 a minute, so 60 a minute in bursts of 10 never holds an honest guest back, while
 * a root workload that forges initiations with the server's mac1 (its key is in the
 * guest's config) gets 10 through, then one a second, not 10,000 in 0.12 s. */
#define DEFAULT_RATE (64ULL << 20)     /* bytes per second */
#define DEFAULT_HANDSHAKE_RATE 60      /* handshake messages per minute */

static const char usage_text[] =
	"usage: omerta-jail run --job ID --endpoint IP:PORT [--uid UID] [--door IP:PORT] [--guest-ip IP] [--guest-mac MAC] [--rate BYTES] [--handshake-rate N] [--mtu N] [--peer-key KEY] [--nflog-group N] [--events-fd FD] [--owner PID] [--allow-private-endpoint] -- CMD [ARG...]\n"
	"       omerta-jail status [--job ID] [--json]\n"
	"       omerta-jail stop --job ID\n"
	"       omerta-jail down --job ID\n"
	"       omerta-jail gc\n"
	"       omerta-jail --help | --version\n";

static const char help_text[] =
	"\n"
	"  run     make the job's jail, run CMD inside it, tear it down when CMD ends\n"
	"  status  the door's view of a job (or of every job): one record each\n"
	"  stop    stop a job's omerta-jail (proved by PID and start time), then tear down\n"
	"  down    remove what a killed run left (idempotent)\n"
	"  gc      down for every jail whose omerta-jail is gone\n"
	"--rate BYTES: bytes per second the door takes from the VM (default 67108864, 64 MiB;\n"
	"  unlimited: none); --handshake-rate N: WireGuard handshake messages a minute from\n"
	"  the VM, in bursts of N/6 (default 60; unlimited: none). Over either, a datagram\n"
	"  is dropped and counted (rate_drops).\n"
	"The steps are listed in omerta-jail(8).\n"
	"Exit status: CMD's, or 1 refused input (status: no such job), 2 usage, 3 system error.\n";

_Noreturn static void usage(int code)
{
	om_usage(usage_text, help_text, code);
}

static char run_dir[OM_RUNDIR_MAX];

/* $OMERTA_RUN_DIR/jail; created only when create is set (status and stop of a
 * machine that never ran a jail have nothing to read, and make nothing). */
static int setup_run_dir(bool create)
{
	return om_rundir_setup(run_dir, "jail", create);
}

static void netns_name(const char *job, char *out, size_t n)
{
	snprintf(out, n, "omerta-%s", job);
}

static void job_path(char *out, size_t n, const char *job, const char *file)
{
	om_rundir_path(run_dir, out, n, job, file);
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
static bool ev_sock; /* ev_fd[0] is a socket: send with MSG_DONTWAIT */
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
		if (ev_fd[i] >= 0 && (i == 0 && ev_sock ? send(ev_fd[i], ev_buf, ev_len, MSG_DONTWAIT | MSG_NOSIGNAL)
						       : write(ev_fd[i], ev_buf, ev_len)) < 0 &&
		    errno != EAGAIN)
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
	unsigned long long tx_packets, tx_bytes, rx_packets, rx_bytes, rogue, rate_drops, hs_drops;
	unsigned long long queue_drops; /* the kernel's, at d->in's full queue (SO_RXQ_OVFL) */
	long long last_rx, last_handshake, last_tx; /* CLOCK_MONOTONIC ms, 0 never */
	unsigned long long rate;    /* bytes per second out, 0 unlimited */
	unsigned hs_rate;           /* handshake messages per minute out, 0 unlimited */
	size_t mtu;                 /* the guest's WireGuard MTU, for the shape of its data */
	struct om_wg_peer peer;     /* the server's mac1 key and session indices (--peer-key) */
	bool have_peer;
	double tokens, hs_tokens;
	long long tokens_at, hs_at;
	bool said_rate, said_hs;    /* rate_limited told once for each limit */
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
	/* The first at once: a rogue datagram ends the job. The rest of a burst wait for
	 * the tick, so that a flood of junk is not a flood of fsyncs. */
	if (d->rogue == 1)
		write_door_state(d);
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

/* A token bucket: per_ms tokens a millisecond, at most cap; takes n if there. */
static bool bucket_take(double *tokens, long long *at, double per_ms, double cap, double n)
{
	long long t = now_ms(CLOCK_MONOTONIC);

	*tokens += (double)(t - *at) * per_ms;
	*at = t;
	if (*tokens > cap)
		*tokens = cap;
	if (*tokens < n)
		return false;
	*tokens -= n;
	return true;
}

/* The handshake bucket holds ten seconds' worth (at least one). */
static double hs_burst(unsigned per_min)
{
	return per_min >= 6 ? (double)per_min / 6.0 : 1.0;
}

/* The first drop of each limit is told (rate_limited), the rest only counted: a flood
 * must not become a flood of events. */
static void rate_drop(struct door *d, bool handshake)
{
	bool *said = handshake ? &d->said_hs : &d->said_rate;

	d->rate_drops++;
	if (handshake)
		d->hs_drops++;
	d->dirty = true;
	if (*said || !ev_on())
		return;
	*said = true;
	struct om_json j;
	ev_begin(&j, "rate_limited", d->job);
	om_json_str(&j, "limit", handshake ? "handshakes" : "bytes");
	if (handshake)
		om_json_int(&j, "handshakes_per_min", d->hs_rate);
	else
		om_json_int(&j, "bytes_per_s", (long long)d->rate);
	ev_end(&j);
}

/* Within the limits: handshake messages against their own bucket, every datagram
 * against the bytes. A datagram over either is dropped, counted, never relayed. */
static bool within_rate(struct door *d, int t, size_t n)
{
	if (d->hs_rate && t != OM_WG_DATA &&
	    !bucket_take(&d->hs_tokens, &d->hs_at, d->hs_rate / 60000.0, hs_burst(d->hs_rate), 1)) {
		rate_drop(d, true);
		return false;
	}
	/* A burst of up to one second. */
	if (d->rate && !bucket_take(&d->tokens, &d->tokens_at, (double)d->rate / 1000.0, (double)d->rate, (double)n)) {
		rate_drop(d, false);
		return false;
	}
	return true;
}

/* From the VM to the endpoint: only WireGuard-shaped datagrams from the VM's
 * address. Anything else is a rogue: reported, never relayed. Returns false when
 * there was nothing to read. */
static bool from_guest(struct door *d)
{
	uint8_t b[65536];
	struct sockaddr_in src;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(uint32_t))];
	} cm;
	struct iovec iov = { b, sizeof(b) };
	struct msghdr mh = { .msg_name = &src, .msg_namelen = sizeof(src), .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	ssize_t n = recvmsg(d->in, &mh, MSG_DONTWAIT);
	const char *why;
	int t;

	if (n < 0)
		return false;
	/* What a flood overran: the kernel dropped it before this socket's queue, so it
	 * was never relayed either; counted so that every datagram is accounted for. */
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SO_RXQ_OVFL &&
		    h->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
			uint32_t v;
			memcpy(&v, CMSG_DATA(h), sizeof(v));
			if (v != d->queue_drops) {
				d->queue_drops = v;
				d->dirty = true;
			}
		}
	if (src.sin_family != AF_INET || memcmp(&src.sin_addr, d->guest_ip.a, 4) != 0) {
		rogue(d, "source is not the guest", &src, (size_t)n, b);
		return true;
	}
	t = om_wg_shape(b, (size_t)n, d->mtu);
	if (!t) {
		/* WireGuard never pads a data message past its MTU: a longer one is not
		 * from WireGuard, whatever index it carries. */
		rogue(d, n >= 4 && b[0] == OM_WG_DATA && (size_t)n > om_wg_data_max(d->mtu)
				 ? "a data message longer than the tunnel MTU allows"
				 : "not a WireGuard datagram",
		      &src, (size_t)n, b);
		return true;
	}
	/* Shaped right is not enough: a handshake must carry the mac1 of the requester's
	 * server, and anything else an index that server chose. Junk in WireGuard's
	 * clothes never leaves. */
	if (d->have_peer && (why = om_wg_peer_check(&d->peer, b, (size_t)n, t))) {
		rogue(d, why, &src, (size_t)n, b);
		return true;
	}
	if (!within_rate(d, t, (size_t)n))
		return true;
	d->guest = src;
	d->have_guest = true;
	if (send(d->out, b, (size_t)n, MSG_DONTWAIT) == n) {
		d->tx_packets++;
		d->tx_bytes += (unsigned long long)n;
		d->last_tx = now_ms(CLOCK_MONOTONIC);
		d->dirty = true;
	}
	return true;
}

/* From the endpoint (a connected socket: nobody else can be heard on it) to the VM.
 * Returns false when there was nothing to read. */
static bool from_endpoint(struct door *d)
{
	uint8_t b[65536];
	ssize_t n = recv(d->out, b, sizeof(b), MSG_DONTWAIT);
	int t;

	if (n < 0)
		return false;
	/* The requester's server may use any MTU: its data messages are taken at any
	 * padded length; the header and the minimum size still must hold. */
	t = om_wg_shape(b, (size_t)n, 0);
	if (!t || !d->have_guest)
		return true; /* junk from the endpoint is dropped, and is not a sign of life */
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
	if (t == OM_WG_RESPONSE)
		write_door_state(d); /* at once, after the relay: status reads "connected" here */
	return true;
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
	om_json_int(&j, "handshake_drops", (long long)d->hs_drops);
	om_json_int(&j, "queue_drops", (long long)d->queue_drops);
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
	SETN("handshake_drops", d->hs_drops);
	SETN("queue_drops", d->queue_drops);
	SETN("rate_bytes_per_s", d->rate);
	SETN("handshakes_per_min", d->hs_rate);
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
	unsigned ep_port, door_port, nflog, uid, gid, mtu, hs_rate;
	unsigned long long rate;
	char guest_mac[18];
	int events_fd;
	pid_t owner;  /* --owner: the run ends when this process does (0: none) */
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



/* Every frame from the VM passes this filter before anything else sees it. Only ARP
 * between the VM and the gateway and whole (unfragmented, option-less) UDP datagrams
 * from the VM's MAC and IP to the door pass; the rest is counted (status reports the
 * sum of the counters as blocked frames), logged to the NFLOG group with a queue
 * threshold of 1, so the watcher hears of the first frame at once, and dropped.
 *
 * Three drops come first, each with a log prefix that names it (om_frame.h), so that
 * the watcher's evidence says what the frame was:
 * - 802.1Q and 802.1ad frames. The kernel moves the outer tag off the frame into the
 *   packet's metadata before the ingress hook, so the IP header nft reads is the one
 *   under the tag and "meta protocol" is the inner one: a tagged frame once failed
 *   the accept rules only because nft happened to test "ether type" (which nft
 *   rebuilds with the tag) for the "ip" match after "ether saddr". Tested by name,
 *   first, a tag is dropped whatever order nft or the kernel choose; the accept
 *   rules also say "ether type" themselves.
 * - Frames longer than the guest's eth0 MTU plus its Ethernet header. At the netdev
 *   ingress hook the Ethernet header has been pulled, so "meta length" is the IP
 *   packet's length: more than GUEST_ETH_MTU means a frame past 1514 bytes, which
 *   only a guest that raised its own MTU sends (a root workload raised it to 9000
 *   and sent 8192-byte datagrams; the door relayed them in 6-fragment trains). */
static int load_filter(const struct run_opts *o, const char *guest, const char *dip)
{
	const char *nft[] = { "nft", "-f", "-", NULL };
	char rules[3072];
	int n;

	n = snprintf(rules, sizeof(rules),
		     "table netdev omerta {\n"
		     " chain ingress {\n"
		     "  type filter hook ingress device \"%s\" priority -500; policy accept;\n"
		     "  ether type 8021q counter log prefix \"" OM_FRAME_PREFIX_8021Q "\" group %u queue-threshold 1 drop\n"
		     "  ether type 8021ad counter log prefix \"" OM_FRAME_PREFIX_8021AD "\" group %u queue-threshold 1 drop\n"
		     "  meta length > %u counter log prefix \"" OM_FRAME_PREFIX_OVERSIZE "\" group %u queue-threshold 1 drop\n"
		     "  ether saddr %s ether type arp arp htype 1 arp ptype 0x0800 arp operation { request, reply }"
		     " arp saddr ether %s arp saddr ip %s arp daddr ip %s accept\n"
		     "  ether saddr %s ether type ip ip version 4 ip hdrlength 5 ip frag-off & 0x3fff == 0"
		     " ip saddr %s ip daddr %s udp dport %u accept\n"
		     "  counter log group %u queue-threshold 1 drop\n"
		     " }\n"
		     "}\n",
		     TAP, o->nflog, o->nflog, GUEST_ETH_MTU, o->nflog, o->guest_mac, o->guest_mac, guest, dip,
		     o->guest_mac, guest, dip, o->door_port, o->nflog);
	if (n < 0 || (size_t)n >= sizeof(rules)) {
		warnx("the tap filter does not fit its buffer");
		return -1;
	}
	if (om_run(nft, rules, (size_t)n, NULL, 0) != 0) {
		warnx("nft could not load the tap filter");
		return -1;
	}
	return 0;
}

static int build_jail(const struct run_opts *o, const char *ns, int *job_ns)
{
	char p[PATH_MAX], door[OM_IP_STRLEN + 4], uid[16], gid[16];
	char guest[OM_IP_STRLEN], dip[OM_IP_STRLEN];
	const char *add[] = { "ip", "netns", "add", ns, NULL };

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
	om_write_knob("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	om_write_knob("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	om_write_knob("/proc/sys/net/ipv6/conf/" TAP "/disable_ipv6", "1");
	return load_filter(o, guest, dip);
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
	if (setsockopt(d->in, SOL_SOCKET, SO_RXQ_OVFL, &(int){ 1 }, sizeof(int)) < 0) {
		warn("door: SO_RXQ_OVFL");
		return -1;
	}
	/* Back home: nothing else this process does belongs in the jail. */
	if (setns(host_ns, CLONE_NEWNET) < 0) {
		warn("setns back");
		return -1;
	}
	return 0;
}


/* One run's resources, so that every step can fail and cleanup still finds all. */
struct run_ctx {
	struct run_opts *o;
	char ns[64];
	int host_ns, job_ns, sfd, tfd, evpipe[2], owner_fd;
	struct door d;
	sigset_t mask, old;
	pid_t child;
	bool created;
	struct om_state state;
};

static void run_init(struct run_ctx *c, struct run_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->host_ns = c->job_ns = c->sfd = c->tfd = c->evpipe[0] = c->evpipe[1] = c->owner_fd = -1;
	c->child = -1;
	c->d.in = c->d.out = -1;
	c->d.job = o->job;
	c->d.guest_ip = o->guest_ip;
	c->d.rate = o->rate;
	c->d.hs_rate = o->hs_rate;
	c->d.mtu = o->mtu;
	if (o->have_peer) {
		om_wg_peer_init(&c->d.peer, o->peer_key);
		c->d.have_peer = true;
	}
	c->d.tokens = (double)o->rate;
	c->d.tokens_at = c->d.hs_at = now_ms(CLOCK_MONOTONIC);
	c->d.hs_tokens = hs_burst(o->hs_rate);
	c->d.dirty = true; /* the first tick writes the door's state, its limits in it */
	netns_name(o->job, c->ns, sizeof(c->ns));
}

/* Signals wait in a signalfd from here: setup finishes or is undone whole. */
static void block_signals(struct run_ctx *c)
{
	sigemptyset(&c->mask);
	sigaddset(&c->mask, SIGINT);
	sigaddset(&c->mask, SIGTERM);
	sigaddset(&c->mask, SIGHUP);
	sigaddset(&c->mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &c->mask, &c->old);
}

/* The job's folder and its state: this process's PID and start time, which stop,
 * down and gc check before they believe or signal it. */
static int make_state(struct run_ctx *c)
{
	char dir[PATH_MAX], b[PATH_MAX];
	struct om_state *s = &c->state;
	const char *job = c->o->job;

	job_path(dir, sizeof(dir), job, NULL);
	if (mkdir(dir, 0700) < 0) {
		if (errno != EEXIST) {
			warn("%s", dir);
			return EX_SYS;
		}
		warnx("job %s already has a jail (omerta-jail down --job %s removes a dead one)", job, job);
		return EX_INPUT;
	}
	c->created = true;
	snprintf(b, sizeof(b), NETNS_DIR "/%s", c->ns);
	if (access(b, F_OK) == 0) {
		warnx("network namespace %s exists already", c->ns);
		rmdir(dir);
		c->created = false;
		return EX_INPUT;
	}
	om_state_set(s, "job_id", job);
	om_state_set(s, "role", "provider");
	om_state_set(s, "netns", c->ns);
	snprintf(b, sizeof(b), "%d", (int)getpid());
	om_state_set(s, "pid", b);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)om_proc_starttime(getpid()));
	om_state_set(s, "pid_start", b);
	job_path(b, sizeof(b), job, "state");
	if (om_state_write(b, s) < 0) {
		warn("%s", b);
		return EX_SYS;
	}
	return EX_OK;
}

static void ev_jail_ready(const struct run_ctx *c)
{
	struct om_json j;
	char dip[OM_IP_STRLEN], door[OM_IP_STRLEN + 8];

	if (!ev_on())
		return;
	om_ip_format(&c->o->door_ip, dip);
	snprintf(door, sizeof(door), "%s:%u", dip, c->o->door_port);
	ev_begin(&j, "jail_ready", c->o->job);
	om_json_str(&j, "netns", c->ns);
	om_json_str(&j, "tap", TAP);
	om_json_str(&j, "door", door);
	om_json_int(&j, "nflog_group", c->o->nflog);
	/* The door's limits, for the job's result (0: none). */
	om_json_int(&j, "mtu", c->o->mtu);
	om_json_int(&j, "max_data_len", (long long)om_wg_data_max(c->o->mtu));
	om_json_int(&j, "rate_bytes_per_s", (long long)c->o->rate);
	om_json_int(&j, "handshakes_per_min", c->o->hs_rate);
	ev_end(&j);
}

/* CMD's PID and start time join the state: status reaches the job's namespace
 * through /proc/PID/ns/net of CMD, which works from any mount namespace (a name
 * under /run/netns is only seen in the mount namespace that made it). */
static void record_cmd(struct run_ctx *c)
{
	char b[PATH_MAX];

	snprintf(b, sizeof(b), "%d", (int)c->child);
	om_state_set(&c->state, "cmd_pid", b);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)om_proc_starttime(c->child));
	om_state_set(&c->state, "cmd_start", b);
	job_path(b, sizeof(b), c->o->job, "state");
	if (om_state_write(b, &c->state) < 0)
		warn("%s", b); /* not fatal: status then counts no blocked frames */
}

/* In the child: CMD runs in the jail, and dies with this process. */
static void __attribute__((noreturn)) child_exec(const struct run_ctx *c)
{
	char v[80];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(EX_SYS);
	if (setns(c->job_ns, CLONE_NEWNET) < 0)
		_exit(EX_SYS);
	sigprocmask(SIG_SETMASK, &c->old, NULL);
	setenv("OMERTA_JAIL_NETNS", c->ns, 1);
	setenv("OMERTA_JAIL_TAP", TAP, 1);
	fcntl(c->evpipe[0], F_SETFD, 0);
	snprintf(v, sizeof(v), "%d", c->evpipe[0]);
	setenv("OMERTA_JAIL_EVENTS_FD", v, 1);
	execvp(c->o->cmd[0], c->o->cmd);
	warn("%s", c->o->cmd[0]);
	_exit(127);
}

/* Builds the jail and its door, then forks CMD into it. */
static int set_up(struct run_ctx *c)
{
	struct itimerspec it = { { 1, 0 }, { 1, 0 } };

	/* --owner: omerta execute's PID. A kill -9 of it runs no trap, so the jail
	 * watches it (a pidfd) and stops CMD, and so the VM, the moment it is gone. */
	if (c->o->owner && (c->owner_fd = (int)syscall(SYS_pidfd_open, c->o->owner, 0)) < 0) {
		warn("--owner %d", (int)c->o->owner);
		return EX_INPUT;
	}
	c->host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (c->host_ns < 0) {
		warn("/proc/self/ns/net");
		return EX_SYS;
	}
	if (build_jail(c->o, c->ns, &c->job_ns) < 0 || open_door(c->o, &c->d, c->host_ns, c->job_ns) < 0)
		return EX_SYS;
	ev_jail_ready(c);
	c->sfd = signalfd(-1, &c->mask, SFD_CLOEXEC);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (c->sfd < 0 || c->tfd < 0 || timerfd_settime(c->tfd, 0, &it, NULL) < 0) {
		warn("signalfd, timerfd");
		return EX_SYS;
	}
	if (pipe2(c->evpipe, O_CLOEXEC) < 0) {
		warn("pipe");
		return EX_SYS;
	}
	fcntl(c->evpipe[1], F_SETFL, O_NONBLOCK);
	ev_fd[1] = c->evpipe[1];
	c->child = fork();
	if (c->child < 0) {
		warn("fork");
		return EX_SYS;
	}
	if (c->child == 0)
		child_exec(c);
	record_cmd(c);
	close(c->evpipe[0]);
	c->evpipe[0] = -1;
	return EX_OK;
}

/* Kills CMD, if it runs, and reaps it: no run ends with its command unreaped. */
static void kill_child(struct run_ctx *c)
{
	if (c->child <= 0)
		return;
	kill(c->child, SIGKILL);
	while (waitpid(c->child, NULL, 0) < 0 && errno == EINTR)
		;
	c->child = -1;
}

/* A signal: SIGCHLD reaps CMD (true: the run is over); the others stop CMD first,
 * then the jail, with SIGKILL two seconds after SIGTERM (see the timer). */
static bool on_signal(struct run_ctx *c, long long *stop_at, int *status)
{
	struct signalfd_siginfo si;

	if (read(c->sfd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGCHLD) {
		if (waitpid(c->child, status, WNOHANG) != c->child)
			return false;
		c->child = -1;
		return true;
	}
	if (!*stop_at) {
		*stop_at = now_ms(CLOCK_MONOTONIC);
		kill(c->child, SIGTERM);
	}
	return false;
}

static void on_tick(struct run_ctx *c, long long stop_at)
{
	uint64_t x;

	if (read(c->tfd, &x, sizeof(x)) > 0) {
		stats(&c->d);
		write_door_state(&c->d);
	}
	if (stop_at && now_ms(CLOCK_MONOTONIC) - stop_at > 2000)
		kill(c->child, SIGKILL);
}

/* CMD's status as the run's: its exit code, or 128 + the signal that killed it. */
static int verdict(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EX_SYS;
}

/* Relays until CMD is gone. A poll() that fails for good ends the run as a system
 * error, with CMD killed and reaped first. */
static int relay(struct run_ctx *c)
{
	long long stop_at = 0;
	int status = 0;

	for (;;) {
		struct pollfd p[5] = { { c->d.in, POLLIN, 0 }, { c->d.out, POLLIN, 0 }, { c->sfd, POLLIN, 0 },
				       { c->tfd, POLLIN, 0 }, { stop_at ? -1 : c->owner_fd, POLLIN, 0 } };
		if (poll(p, 5, -1) < 0) {
			if (errno == EINTR)
				continue;
			warn("poll");
			kill_child(c);
			return EX_SYS;
		}
		/* A burst at a time each way: one datagram a wakeup would let a flood
		 * overrun a queue sooner; a bounded burst leaves the other way, the tick
		 * and the signals their turn. */
		if (p[0].revents & POLLIN)
			for (int k = 0; k < 64 && from_guest(&c->d); k++)
				;
		if (p[1].revents & POLLIN)
			for (int k = 0; k < 64 && from_endpoint(&c->d); k++)
				;
		if (p[3].revents & POLLIN)
			on_tick(c, stop_at);
		if ((p[4].revents & POLLIN) && !stop_at) {
			/* The owner is gone: stop as on SIGTERM (SIGKILL 2 s later). */
			stop_at = now_ms(CLOCK_MONOTONIC);
			kill(c->child, SIGTERM);
		}
		if ((p[2].revents & POLLIN) && on_signal(c, &stop_at, &status))
			break;
	}
	stats(&c->d);
	return verdict(status);
}

static void run_cleanup(struct run_ctx *c, int ret)
{
	if (c->d.in >= 0)
		close(c->d.in);
	if (c->d.out >= 0)
		close(c->d.out);
	if (c->host_ns >= 0) {
		setns(c->host_ns, CLONE_NEWNET);
		close(c->host_ns);
	}
	if (c->job_ns >= 0)
		close(c->job_ns);
	if (c->sfd >= 0)
		close(c->sfd);
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->owner_fd >= 0)
		close(c->owner_fd);
	if (c->created)
		teardown(c->o->job);
	if (c->evpipe[0] >= 0)
		close(c->evpipe[0]);
	if (ev_on()) {
		struct om_json j;
		ev_begin(&j, "jail_down", c->o->job);
		om_json_int(&j, "status", ret);
		ev_end(&j);
	}
	if (c->evpipe[1] >= 0)
		close(c->evpipe[1]);
	sigprocmask(SIG_SETMASK, &c->old, NULL);
}

static int cmd_run(struct run_opts *o)
{
	struct run_ctx c;
	int ret;

	run_init(&c, o);
	if (setup_run_dir(true) < 0)
		return EX_SYS;
	/* A reader of the events that goes away must not take the jail with it. */
	signal(SIGPIPE, SIG_IGN);
	block_signals(&c);
	ret = make_state(&c);
	if (ret == EX_OK)
		ret = set_up(&c);
	if (ret == EX_OK)
		ret = relay(&c);
	kill_child(&c);
	run_cleanup(&c, ret);
	return ret;
}

/* ---- down, gc ----------------------------------------------------------------------- */

/* A PID and its start time from a state, if it holds both. */
static bool state_pid(const struct om_state *s, const char *pid_key, const char *start_key, pid_t *pid,
		      uint64_t *start)
{
	const char *v;
	uint64_t n;

	if (!(v = om_state_get(s, pid_key)) || om_parse_u64(v, 2, INT_MAX, &n) < 0)
		return false;
	*pid = (pid_t)n;
	return (v = om_state_get(s, start_key)) && om_parse_u64(v, 1, UINT64_MAX, start) == 0;
}

/* The PID and start time that job's omerta-jail recorded. */
static bool jail_pid(const char *job, pid_t *pid, uint64_t *start)
{
	char p[PATH_MAX];
	struct om_state s = { 0 };

	job_path(p, sizeof(p), job, "state");
	return om_state_read(p, &s) == 0 && state_pid(&s, "pid", "pid_start", pid, start);
}

/* True only when the recorded process runs: the same PID, the same start time (a
 * reused PID has another) and the name omerta-jail. */
static bool jail_alive(const char *job)
{
	pid_t pid;
	uint64_t start;

	return jail_pid(job, &pid, &start) && om_proc_is(pid, start, "omerta-jail");
}

static int cmd_down(const char *job)
{
	if (setup_run_dir(true) < 0)
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

/* Whether some process's mount namespace has a mount at path. A name under
 * /run/netns that was made inside another mount namespace (`ip netns exec` gives
 * each command one of its own) is an nsfs mount only there; here it is a plain
 * file whose inode says nothing about the namespace. */
static bool mounted_somewhere(const char *path)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d))) {
		char p[300], line[1024], mnt[PATH_MAX];
		FILE *f;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/mountinfo", e->d_name);
		if (!(f = fopen(p, "re")))
			continue;
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ...: the mount point is field 5. */
		while (!found && fgets(line, sizeof(line), f))
			found = sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && !strcmp(mnt, path);
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

static bool is_nsfs(const char *path)
{
	struct statfs f;

	return statfs(path, &f) == 0 && f.f_type == NSFS_MAGIC;
}

/* Jobs with a state folder whose jail is gone. */
static void gc_states(void)
{
	DIR *dd = opendir(run_dir);
	struct dirent *e;

	while (dd && (e = readdir(dd))) {
		if (!om_jobid_valid(e->d_name) || jail_alive(e->d_name))
			continue;
		teardown(e->d_name);
		printf("removed\t%s\n", e->d_name);
	}
	if (dd)
		closedir(dd);
}

/* Namespaces named omerta-ID with no state at all (a deleted run dir may leave
 * these). Another run dir's jails look the same from here, so only a namespace that
 * no process is in (or, for a name that is no mount here, that no other mount
 * namespace holds a mount of) and that is over a minute old counts as dead. */
static void gc_names(void)
{
	DIR *dd = opendir(NETNS_DIR);
	struct dirent *e;

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
		if (stat(p, &st) < 0 || time(NULL) - st.st_mtime < 60 ||
		    (is_nsfs(p) ? netns_in_use(st.st_ino) : mounted_somewhere(p)))
			continue;
		teardown(job);
		printf("removed\t%s\n", job);
	}
	if (dd)
		closedir(dd);
}

static int cmd_gc(void)
{
	if (setup_run_dir(true) < 0)
		return EX_SYS;
	gc_states();
	gc_names();
	return fflush(stdout) == 0 ? EX_OK : EX_SYS;
}

/* ---- status, stop ---------------------------------------------------------------- */

/* WireGuard drops a session 180 s after its handshake (REJECT_AFTER_TIME) and makes a
 * new one every 120 s while packets flow: a door that heard none for longer is not
 * connected, whatever it heard before. */
#define REJECT_AFTER 180

/* A job as its door saw it. Times are Unix seconds, 0 for never; blocked is -1 when
 * the filter's counter cannot be read (not root, or the namespace is gone). */
struct view {
	const char *job;
	bool running, connected;
	long long handshake, last_rx, blocked;
	unsigned long long tx, rx, rogue, rate_drops, hs_drops, queue_drops, rate, hs_rate;
	bool have_limits; /* a door state that records its limits */
};

static unsigned long long door_num(const struct om_state *s, const char *key)
{
	const char *v = om_state_get(s, key);
	uint64_t n;

	return v && om_parse_u64(v, 0, UINT64_MAX, &n) == 0 ? n : 0;
}

/* The frames the tap filter dropped: the sum of its rules' counters (only the drops
 * have one), read inside the job's namespace, entered through CMD's (pid, start), proved after the open so that
 * a reused PID is never entered. Needs root; this process returns to its own at once. */
static long long blocked_frames(pid_t pid, uint64_t start)
{
	const char *nft[] = { "nft", "list", "chain", "netdev", "omerta", "ingress", NULL };
	char p[64], *out = NULL, *q;
	long long n = -1;
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd;

	snprintf(p, sizeof(p), "/proc/%d/ns/net", (int)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (self >= 0 && fd >= 0 && om_proc_alive(pid, start) && setns(fd, CLONE_NEWNET) == 0) {
		if (om_run(nft, NULL, 0, &out, OM_RUN_QUIET) == 0 && out && strstr(out, "counter packets "))
			for (n = 0, q = out; (q = strstr(q, "counter packets ")); q += 16)
				n += strtoll(q + 16, NULL, 10);
		if (setns(self, CLONE_NEWNET) < 0)
			err(EX_SYS, "setns back");
	}
	free(out);
	if (fd >= 0)
		close(fd);
	if (self >= 0)
		close(self);
	return n;
}

/* -1 when the job has no jail here. */
static int view_load(const char *job, struct view *v)
{
	char p[PATH_MAX];
	struct om_state s = { 0 }, door = { 0 };
	struct stat st;
	pid_t pid;
	uint64_t start;

	memset(v, 0, sizeof(*v));
	v->job = job;
	v->blocked = -1;
	job_path(p, sizeof(p), job, NULL);
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	job_path(p, sizeof(p), job, "state");
	if (om_state_read(p, &s) == 0 && state_pid(&s, "pid", "pid_start", &pid, &start))
		v->running = om_proc_is(pid, start, "omerta-jail");
	if (v->running && state_pid(&s, "cmd_pid", "cmd_start", &pid, &start))
		v->blocked = blocked_frames(pid, start);
	job_path(p, sizeof(p), job, "door");
	if (om_state_read(p, &door) == 0) {
		v->tx = door_num(&door, "tx_bytes");
		v->rx = door_num(&door, "rx_bytes");
		v->rogue = door_num(&door, "rogue_datagrams");
		v->rate_drops = door_num(&door, "rate_drops");
		v->hs_drops = door_num(&door, "handshake_drops");
		v->queue_drops = door_num(&door, "queue_drops");
		v->rate = door_num(&door, "rate_bytes_per_s");
		v->hs_rate = door_num(&door, "handshakes_per_min");
		v->have_limits = om_state_get(&door, "rate_bytes_per_s") != NULL;
		v->handshake = (long long)door_num(&door, "last_handshake_unix");
		v->last_rx = (long long)door_num(&door, "last_rx_unix");
	}
	v->connected = v->running && v->handshake && time(NULL) - v->handshake < REJECT_AFTER;
	return 0;
}

static void json_time(struct om_json *j, const char *key, long long t)
{
	if (t)
		om_json_int(j, key, t);
	else
		om_json_null(j, key);
}

static void print_view(const struct view *v, bool json)
{
	char hs[24] = "-", rx[24] = "-", bl[24] = "-";
	struct om_json j;

	if (!json) {
		if (v->handshake)
			snprintf(hs, sizeof(hs), "%lld", v->handshake);
		if (v->last_rx)
			snprintf(rx, sizeof(rx), "%lld", v->last_rx);
		if (v->blocked >= 0)
			snprintf(bl, sizeof(bl), "%lld", v->blocked);
		printf("%s\t%s\t%s\t%s\t%s\t%llu\t%llu\t%llu\t%llu\t%s\n", v->job, v->running ? "running" : "dead",
		       v->connected ? "yes" : "no", hs, rx, v->tx, v->rx, v->rogue, v->rate_drops, bl);
		return;
	}
	om_json_init(&j, stdout);
	om_json_obj_open(&j, NULL);
	om_json_str(&j, "job_id", v->job);
	om_json_str(&j, "state", v->running ? "running" : "dead");
	om_json_bool(&j, "connected", v->connected);
	json_time(&j, "latest_handshake", v->handshake);
	json_time(&j, "last_rx", v->last_rx);
	om_json_int(&j, "tx_bytes", (long long)v->tx);
	om_json_int(&j, "rx_bytes", (long long)v->rx);
	om_json_int(&j, "rogue_datagrams", (long long)v->rogue);
	om_json_int(&j, "rate_drops", (long long)v->rate_drops);
	om_json_int(&j, "handshake_drops", (long long)v->hs_drops);
	om_json_int(&j, "queue_drops", (long long)v->queue_drops);
	/* The door's limits; 0 is none, null an older door's state that did not say. */
	if (v->have_limits) {
		om_json_int(&j, "rate_bytes_per_s", (long long)v->rate);
		om_json_int(&j, "handshakes_per_min", (long long)v->hs_rate);
	} else {
		om_json_null(&j, "rate_bytes_per_s");
		om_json_null(&j, "handshakes_per_min");
	}
	if (v->blocked >= 0)
		om_json_int(&j, "blocked_frames", v->blocked);
	else
		om_json_null(&j, "blocked_frames");
	om_json_obj_close(&j);
	om_json_end(&j);
}

static int cmd_status(const char *job, bool json)
{
	struct view v;
	DIR *dd;
	struct dirent *e;

	if (setup_run_dir(false) < 0)
		return EX_SYS;
	if (job) {
		if (view_load(job, &v) < 0) {
			warnx("no such job: %s", job);
			return EX_INPUT;
		}
		print_view(&v, json);
		return fflush(stdout) == 0 ? EX_OK : EX_SYS;
	}
	dd = opendir(run_dir);
	while (dd && (e = readdir(dd)))
		if (om_jobid_valid(e->d_name) && view_load(e->d_name, &v) == 0)
			print_view(&v, json);
	if (dd)
		closedir(dd);
	return fflush(stdout) == 0 ? EX_OK : EX_SYS;
}

/* SIGTERM to the recorded omerta-jail, and only to it: a PID whose start time or
 * name differs is another process now, and is left alone. The jail stops CMD (SIGKILL
 * two seconds after SIGTERM) and tears itself down; SIGKILL follows after 5 s, and
 * teardown here removes whatever a killed jail left. */
static int cmd_stop(const char *job)
{
	pid_t pid;
	uint64_t start;

	if (setup_run_dir(false) < 0)
		return EX_SYS;
	if (jail_pid(job, &pid, &start) && om_proc_is(pid, start, "omerta-jail")) {
		om_proc_stop(pid, start, 5000);
		if (!om_proc_wait(pid, start, 2000)) {
			warnx("job %s: its omerta-jail (PID %d) does not exit", job, (int)pid);
			return EX_SYS;
		}
	}
	teardown(job);
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


struct args {
	struct run_opts o;
	const char *endpoint, *door, *guest, *mac;
	bool allow_private, json;
	int argc; /* what follows the options: CMD for run */
	char **argv;
};

/* A number option in [min, max], or the message and exit 1. */
static uint64_t num_opt(const char *s, uint64_t min, uint64_t max, const char *msg)
{
	uint64_t v;

	if (om_parse_u64(s, min, max, &v) < 0) {
		warnx("%s", msg);
		exit(EX_INPUT);
	}
	return v;
}

static void parse_opt(int c, struct args *a)
{
	struct run_opts *o = &a->o;

	switch (c) {
	case 'J': o->job = optarg; break;
	case 'E': a->endpoint = optarg; break;
	case 'u': o->uid = o->gid = (unsigned)num_opt(optarg, 1, 4294967294ULL,
						   "--uid must be a number from 1 (QEMU never runs as root)");
		break;
	case 'd': a->door = optarg; break;
	case 'g': a->guest = optarg; break;
	case 'm': a->mac = optarg; break;
	/* "unlimited", not 0, lifts a limit: a rate of 0 reads as "relay nothing", and
	 * is refused as before. Internally 0 is no limit. */
	case 'R':
		o->rate = !strcmp(optarg, "unlimited")
				  ? 0
				  : num_opt(optarg, 1, 1ULL << 40, "--rate must be bytes per second, from 1, or unlimited");
		break;
	case 'H':
		o->hs_rate = !strcmp(optarg, "unlimited")
				     ? 0
				     : (unsigned)num_opt(optarg, 1, 60000,
							 "--handshake-rate must be 1 to 60000 a minute, or unlimited");
		break;
	case 'M': o->mtu = (unsigned)num_opt(optarg, 576, 9000, "--mtu must be 576 to 9000"); break;
	case 'P':
		/* A public key: not a secret, so argv is fine. */
		if (om_key_from_b64(o->peer_key, optarg, strlen(optarg)) < 0) {
			warnx("--peer-key must be a WireGuard public key (44 characters of base64)");
			exit(EX_INPUT);
		}
		o->have_peer = true;
		break;
	case 'n': o->nflog = (unsigned)num_opt(optarg, 1, 65535, "--nflog-group must be 1 to 65535"); break;
	case 'e':
		o->events_fd = (int)num_opt(optarg, 3, 1023, "--events-fd must be an open descriptor from 3");
		if (fcntl(o->events_fd, F_GETFD) < 0) {
			warnx("--events-fd must be an open descriptor from 3");
			exit(EX_INPUT);
		}
		break;
	case 'o': o->owner = (pid_t)num_opt(optarg, 2, 4194304, "--owner must be a PID"); break;
	case 'a': a->allow_private = true; break;
	case 'j': a->json = true; break;
	case 'h': usage(EX_OK); break;
	case 'V': puts("omerta-jail " OMERTA_VERSION); exit(EX_OK);
	default: usage(EX_USAGE_);
	}
}

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "job", required_argument, NULL, 'J' },
		{ "endpoint", required_argument, NULL, 'E' },
		{ "uid", required_argument, NULL, 'u' },
		{ "door", required_argument, NULL, 'd' },
		{ "guest-ip", required_argument, NULL, 'g' },
		{ "guest-mac", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'R' },
		{ "handshake-rate", required_argument, NULL, 'H' },
		{ "mtu", required_argument, NULL, 'M' },
		{ "peer-key", required_argument, NULL, 'P' },
		{ "nflog-group", required_argument, NULL, 'n' },
		{ "events-fd", required_argument, NULL, 'e' },
		{ "owner", required_argument, NULL, 'o' },
		{ "allow-private-endpoint", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* "+": options end at CMD, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1)
		parse_opt(c, a);
	a->argc = argc - optind;
	a->argv = argv + optind;
	if (a->o.job && !om_jobid_valid(a->o.job)) {
		warnx("invalid job ID (want [A-Za-z0-9_-]{1,32})");
		exit(EX_INPUT);
	}
}

/* run's checks, all before the first side effect. */
static int check_run(struct args *a)
{
	struct run_opts *o = &a->o;

	if (!a->endpoint) {
		warnx("--endpoint is required");
		usage(EX_USAGE_);
	}
	if (a->argc < 1) {
		warnx("CMD is required (omerta-jail run ... -- CMD [ARG...])");
		usage(EX_USAGE_);
	}
	o->cmd = a->argv;
	if (parse_ipport("--endpoint", a->endpoint, &o->ep_ip, &o->ep_port) < 0 ||
	    check_endpoint(&o->ep_ip, a->allow_private) < 0)
		return EX_INPUT;
	if (parse_ipport("--door", a->door, &o->door_ip, &o->door_port) < 0 || o->door_ip.family != AF_INET) {
		warnx("--door must be an IPv4 address and port");
		return EX_INPUT;
	}
	if (om_ip_parse(a->guest, &o->guest_ip) < 0 || o->guest_ip.family != AF_INET ||
	    memcmp(o->guest_ip.a, o->door_ip.a, 3) != 0 || om_ip_equal(&o->guest_ip, &o->door_ip)) {
		warnx("--guest-ip must be an IPv4 address in the door's /24, not the door");
		return EX_INPUT;
	}
	if (!mac_ok(a->mac)) {
		warnx("--guest-mac must be a unicast MAC, lower case, as 52:54:00:12:34:56");
		return EX_INPUT;
	}
	strcpy(o->guest_mac, a->mac);
	if (geteuid() != 0) {
		warnx("run needs root (network namespaces, tap, nftables)");
		return EX_SYS;
	}
	return EX_OK;
}

static int do_run(struct args *a)
{
	int r = check_run(a);

	if (r != EX_OK)
		return r;
	if (a->o.events_fd >= 0) {
		/* Writes never block: --events-fd gets a non-blocking description of its
		 * own (the one given is shared with its reader and keeps its flags); a
		 * socket is written with MSG_DONTWAIT. */
		struct om_outq q;
		fcntl(a->o.events_fd, F_SETFD, FD_CLOEXEC);
		if (om_outq_open(&q, a->o.events_fd, 0) < 0) {
			warn("--events-fd");
			exit(EX_SYS);
		}
		ev_fd[0] = q.fd;
		ev_sock = q.how == OM_OUTQ_SEND;
	}
	return cmd_run(&a->o);
}

static int do_status(struct args *a) { return cmd_status(a->o.job, a->json); }
static int do_stop(struct args *a) { return cmd_stop(a->o.job); }
static int do_down(struct args *a) { return cmd_down(a->o.job); }
static int do_gc(struct args *a) { (void)a; return cmd_gc(); }

enum { JOB_NONE, JOB_OPTIONAL, JOB_REQUIRED };

static const struct subcommand {
	const char *name;
	int (*fn)(struct args *);
	int job;        /* whether --job is taken */
	bool rest;      /* whether arguments follow the options (run's CMD) */
	bool json;      /* whether --json is taken */
} subcommands[] = {
	{ "run", do_run, JOB_REQUIRED, true, false },
	{ "status", do_status, JOB_OPTIONAL, false, true },
	{ "stop", do_stop, JOB_REQUIRED, false, false },
	{ "down", do_down, JOB_REQUIRED, false, false },
	{ "gc", do_gc, JOB_NONE, false, false },
};

static const struct subcommand *find_subcommand(const char *name)
{
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(name, subcommands[i].name))
			return &subcommands[i];
	if (!strcmp(name, "-h") || !strcmp(name, "--help"))
		usage(EX_OK);
	if (!strcmp(name, "--version")) {
		puts("omerta-jail " OMERTA_VERSION);
		exit(EX_OK);
	}
	warnx("unknown command '%s'", name);
	usage(EX_USAGE_);
	return NULL;
}

int main(int argc, char **argv)
{
	struct args a = { .o = { .uid = 65534, .gid = 65534, .nflog = 1, .events_fd = -1, .mtu = 1420,
				.rate = DEFAULT_RATE, .hs_rate = DEFAULT_HANDSHAKE_RATE },
			  .door = "10.66.0.1:51820", .guest = "10.66.0.2", .mac = "52:54:00:12:34:56" };
	const struct subcommand *sc;

	if (argc < 2)
		usage(EX_USAGE_);
	sc = find_subcommand(argv[1]);
	argv[1] = argv[0]; /* getopt names the program by argv[0] */
	parse_args(argc - 1, argv + 1, &a);
	if (sc->job == JOB_NONE && a.o.job)
		usage(EX_USAGE_);
	if (sc->job == JOB_REQUIRED && !a.o.job) {
		warnx("--job is required");
		usage(EX_USAGE_);
	}
	if ((!sc->rest && a.argc) || (!sc->json && a.json))
		usage(EX_USAGE_);
	return sc->fn(&a);
}
