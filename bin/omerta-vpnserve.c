/* omerta-vpnserve: the requester's ephemeral per-job WireGuard server.
 *
 * up creates one WireGuard interface for one job (kernel WireGuard if the kernel has
 * it, wireguard-go otherwise), fresh keys, a free UDP port and a tunnel subnet, one nft
 * table that lets only this job's client reach only the public internet through the
 * uplink (never this host, its subnets or private ranges, but for --allow-dest), and
 * prints the client config. down and gc remove all of it. State lives in
 * $OMERTA_RUN_DIR/vpn/<job>/state; allocation is serialised by $OMERTA_RUN_DIR/vpn/.lock. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "om_cli.h"
#include "om_addr.h"
#include "om_exec.h"
#include "om_ifaddr.h"
#include "om_jobid.h"
#include "om_json.h"
#include "om_key.h"
#include "om_num.h"
#include "om_proc.h"
#include "om_read.h"
#include "om_rundir.h"
#include "om_state.h"
#include "om_stream.h"

/* 124 for a timeout, as timeout(1), omerta-watch and the pipeline use it. */
enum { EX_OK = 0, EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3, EX_NOJOB = 5, EX_TIMEOUT = 124 };

/* WireGuard's REJECT_AFTER_TIME: a session older than this carries no data. */
#define REJECT_AFTER 180
#define DEFAULT_PORT_LO 51820
#define DEFAULT_PORT_HI 52819
#define POOL "10.200.0.0/16"
#define WG_SOCK_DIR "/var/run/wireguard"
#define TUN_MTU 1420
#define MAX_ALLOW 8

static const char usage_text[] =
	"usage: omerta-vpnserve up --job ID --endpoint-host ADDR [--port N | --port-range A-B] [--subnet CIDR] [--uplink IFACE] [--dns IP] [--keepalive S] [--no-internet] [--allow-dest CIDR]... [--forward-dns | --forward-dns-to IP] [--owner PID]\n"
	"       omerta-vpnserve status [--job ID] [--json]\n"
	"       omerta-vpnserve wait --job ID [--timeout S]\n"
	"       omerta-vpnserve down --job ID\n"
	"       omerta-vpnserve gc\n"
	"       omerta-vpnserve --help | --version\n";

static char run_dir[OM_RUNDIR_MAX];

static const char help_text[] =
	"\n"
	"  up       create the job's WireGuard server; print the client config. The job\n"
	"           reaches public addresses only, never this host, its subnets or private\n"
	"           ranges, but for what --allow-dest CIDR (repeatable) names;\n"
	"           --forward-dns: the job's DNS is the server's tunnel address, forwarded\n"
	"           to this host's resolver (or --forward-dns-to IP)\n"
	"  status   one record per job (tab-separated, or JSON Lines with --json)\n"
	"  wait     exit 0 once the client has completed a handshake\n"
	"  down     remove everything of the job (idempotent)\n"
	"  gc       remove what is left of jobs whose owner or server is gone\n"
	"State: $OMERTA_RUN_DIR/vpn (default /run/omerta/vpn). See omerta-vpnserve(8).\n"
	"Exit status: 0 ok, 1 refused input, 2 usage, 3 system error, 5 no such job,\n"
	"124 wait timed out.\n";

_Noreturn static void usage(int code)
{
	om_usage(usage_text, help_text, code);
}

/* ---- names ------------------------------------------------------------------- */

/* Interface names must fit IFNAMSIZ and be unique across namespaces, because
 * wireguard-go's control sockets share one directory. A job ID is up to 32
 * characters, so the name is a hash of it: "omv" and 12 hex digits. */
static void iface_name(const char *job, char out[IFNAMSIZ])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char in[64];

	snprintf(in, sizeof(in), "omerta-vpn:%s", job);
	crypto_hash_sha256(h, (const unsigned char *)in, strlen(in));
	snprintf(out, IFNAMSIZ, "omv%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4], h[5]);
}

static void table_name(const char *job, char *out, size_t n)
{
	snprintf(out, n, "omerta-vpn-%s", job);
}

static void job_path(char *out, size_t n, const char *job, const char *file)
{
	om_rundir_path(run_dir, out, n, job, file);
}

static int setup_run_dir(void)
{
	return om_rundir_setup(run_dir, "vpn", true);
}

static int take_lock(void)
{
	return om_rundir_lock(run_dir);
}

/* The run directory, then its lock: what up, down and gc all start with. */
static int open_locked(void)
{
	if (setup_run_dir() < 0)
		return -1;
	return take_lock();
}


/* ---- small system helpers ------------------------------------------------------ */

static bool link_exists(const char *ifname)
{
	return if_nametoindex(ifname) != 0;
}

static int run_quiet(const char *const argv[])
{
	return om_run(argv, NULL, 0, NULL, OM_RUN_QUIET);
}

static int run_loud(const char *const argv[], const char *what)
{
	int r = om_run(argv, NULL, 0, NULL, 0);

	if (r != 0)
		warnx("%s failed (%s exited %d)", what, argv[0], r);
	return r == 0 ? 0 : -1;
}

static int read_sysctl(const char *path)
{
	char b[8] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC), n;

	if (fd < 0)
		return -1;
	n = (int)read(fd, b, sizeof(b) - 1);
	close(fd);
	return n > 0 ? atoi(b) : -1;
}


/* The interface of the IPv4 default route, from /proc/net/route. */
static int default_uplink(char out[IFNAMSIZ])
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifn[64];
	unsigned long dst, mask;
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lx %*x %*x %*d %*d %*d %lx", ifn, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0 && strlen(ifn) < IFNAMSIZ) {
			strcpy(out, ifn); /* forward_ifaces() checks the name */
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("_.-", s[i])))
			return false;
	return true;
}

static bool host_ok(const char *s)
{
	struct om_ip ip;
	size_t n = strlen(s);

	if (om_ip_parse(s, &ip) == 0)
		return true;
	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

/* True when a process holds the wireguard-go control socket for ifname. */
static bool wg_sock_live(const char *ifname)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), WG_SOCK_DIR "/%s.sock", ifname);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/* Removes the control socket of a wireguard-go that is gone. A Go process killed
 * with SIGKILL can look dead (its main thread a zombie) while its other threads
 * still hold the socket for a moment, so a live socket is retried for up to 2 s
 * before it is taken to belong to a wireguard-go that really runs. */
static void wg_sock_remove_stale(const char *ifname)
{
	char p[PATH_MAX];
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	snprintf(p, sizeof(p), WG_SOCK_DIR "/%s.sock", ifname);
	for (int i = 0; i < 100; i++) {
		if (access(p, F_OK) < 0)
			return;
		if (!wg_sock_live(ifname)) {
			unlink(p);
			return;
		}
		nanosleep(&ts, NULL);
	}
}

static bool udp_port_free(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return false;
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/* ---- jobs ------------------------------------------------------------------------ */

/* Ports, subnets and forwarding belong to a network namespace, while one run
 * directory may serve jobs in several: each job records its namespace, and only
 * jobs of the same namespace compete. */
static const char *netns_id(void)
{
	static char id[32];
	struct stat st;

	if (!*id)
		snprintf(id, sizeof(id), "%llu",
			 stat("/proc/self/ns/net", &st) == 0 ? (unsigned long long)st.st_ino : 0ULL);
	return id;
}

/* This boot's id: a namespace's inode number is unique only within one boot. */
static const char *boot_id(void)
{
	static char id[40];
	int fd;
	ssize_t n;

	if (!*id) {
		fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : read(fd, id, sizeof(id) - 1);
		if (fd >= 0)
			close(fd);
		id[n > 0 ? strcspn(id, "\n") : 0] = '\0';
		if (!*id)
			strcpy(id, "-");
	}
	return id;
}

static bool same_netns(const struct om_state *s)
{
	const char *v = om_state_get(s, "netns");

	return !v || strcmp(v, netns_id()) == 0;
}

/* Whether the job's namespace still exists: some process is in it, or a name under
 * /run/netns holds it. After a reboot, or once its namespace is deleted, a job's
 * interfaces, tables and wireguard-go are gone with it and only its files are left,
 * which any namespace's down or gc may remove. */
/* An fd on the network namespace whose inode is want: some process is in it, or a
 * name under /run/netns holds it. -1 when there is none. */
static int netns_open(unsigned long long want)
{
	static const char *const dirs[] = { "/proc", "/run/netns" };
	int fd = -1;

	for (size_t k = 0; k < 2 && fd < 0; k++) {
		DIR *d = opendir(dirs[k]);
		struct dirent *e;
		while (d && fd < 0 && (e = readdir(d))) {
			char p[300];
			struct stat st;
			if (e->d_name[0] == '.' || (k == 0 && (e->d_name[0] < '0' || e->d_name[0] > '9')))
				continue;
			snprintf(p, sizeof(p), k == 0 ? "/proc/%s/ns/net" : "/run/netns/%s", e->d_name);
			if (stat(p, &st) == 0 && (unsigned long long)st.st_ino == want)
				fd = open(p, O_RDONLY | O_CLOEXEC);
		}
		if (d)
			closedir(d);
	}
	return fd;
}

/* Whether the job's namespace still exists. After a reboot, or once its namespace
 * is deleted, a job's interfaces, tables and wireguard-go are gone with it and only
 * its files are left, which any namespace's down or gc may remove. */
static bool netns_alive(const struct om_state *s)
{
	const char *v = om_state_get(s, "netns");
	int fd;

	if (!v || !*v)
		return true;
	if ((fd = netns_open(strtoull(v, NULL, 10))) < 0)
		return false;
	close(fd);
	return true;
}

struct jobs {
	size_t n;
	char id[256][OM_JOBID_MAX + 1];
};

/* The job directories under run_dir (names that are valid job IDs). */
static void list_jobs(struct jobs *j)
{
	DIR *d = opendir(run_dir);
	struct dirent *e;

	j->n = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && j->n < 256) {
		char p[PATH_MAX];
		struct stat st;
		if (!om_jobid_valid(e->d_name))
			continue;
		job_path(p, sizeof(p), e->d_name, "state");
		if (stat(p, &st) < 0)
			continue;
		strcpy(j->id[j->n++], e->d_name);
	}
	closedir(d);
}

static int load_state(const char *job, struct om_state *s)
{
	char p[PATH_MAX];

	job_path(p, sizeof(p), job, "state");
	memset(s, 0, sizeof(*s));
	return om_state_read(p, s);
}

static int save_state(const char *job, const struct om_state *s)
{
	char p[PATH_MAX];

	job_path(p, sizeof(p), job, "state");
	if (om_state_write(p, s) < 0) {
		warn("write %s", p);
		return -1;
	}
	return 0;
}

static int nft_table_exists(const char *table)
{
	const char *argv[] = { "nft", "list", "table", "inet", table, NULL };
	char *out = NULL;
	int r = om_run(argv, NULL, 0, &out, OM_RUN_QUIET);

	free(out);
	return r == 0;
}

/* Whether the space-separated list holds the word w. */
static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; p && *p;) {
		while (*p == ' ')
			p++;
		if (strncmp(p, w, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return true;
		p = strchr(p, ' ');
	}
	return false;
}

/* w at the end of the space-separated list out (of size n), unless it is there. */
static void add_word(char *out, size_t n, const char *w)
{
	size_t len = strlen(out);

	if (!has_word(out, w) && len + strlen(w) + 2 < n)
		snprintf(out + len, n - len, "%s%s", len ? " " : "", w);
}

/* The next interface name of a space-separated list into ifn, moving *p past it;
 * false at the end. A word too long for a name is skipped. */
static bool next_ifname(const char **p, char ifn[IFNAMSIZ])
{
	while (*p && **p) {
		size_t n;
		while (**p == ' ')
			(*p)++;
		n = strcspn(*p, " ");
		*p += n;
		if (n && n < IFNAMSIZ) {
			memcpy(ifn, *p - n, n);
			ifn[n] = '\0';
			return true;
		}
	}
	return false;
}

/* Whether a job of namespace ns other than except forwards through ifn. */
static bool forwarding_needed_elsewhere(const char *except, const char *ns, const char *ifn)
{
	struct jobs *j = calloc(1, sizeof(*j));
	bool needed = false;

	if (!j)
		return true; /* when unsure, keep forwarding on */
	list_jobs(j);
	for (size_t i = 0; i < j->n && !needed; i++) {
		struct om_state s;
		const char *v;
		if (strcmp(j->id[i], except) != 0 && load_state(j->id[i], &s) == 0 &&
		    (v = om_state_get(&s, "netns")) && strcmp(v, ns) == 0)
			needed = has_word(om_state_get(&s, "forward_ifaces"), ifn);
	}
	free(j);
	return needed;
}

/* net.ipv4.conf.IFN.forwarding, and the file that says omerta turned it on in the
 * namespace ns (so that down turns it off again, and only then). */
static void forwarding_paths(const char *ns, const char *ifn, char knob[PATH_MAX], char mark[PATH_MAX])
{
	snprintf(knob, PATH_MAX, "/proc/sys/net/ipv4/conf/%s/forwarding", ifn);
	snprintf(mark, PATH_MAX, "%s/.forwarding.%s.%s", run_dir, ns, ifn);
}

/* Forwarding goes back to what it was: off again on every interface that omerta
 * turned it on for, once no other job of the namespace comes in through it. A job
 * of a namespace that is gone (gc after a reboot) leaves only its files to remove. */
static void restore_forwarding(const char *job, const char *ns, bool here, const char *list)
{
	char ifn[IFNAMSIZ], knob[PATH_MAX], mark[PATH_MAX];

	for (const char *p = list; next_ifname(&p, ifn);) {
		forwarding_paths(ns, ifn, knob, mark);
		if (ifname_ok(ifn) && access(mark, F_OK) == 0 && !forwarding_needed_elsewhere(job, ns, ifn)) {
			if (here && link_exists(ifn))
				om_write_knob(knob, "0");
			unlink(mark);
		}
	}
}

/* Removes everything of one job. Idempotent: every step tolerates "already gone",
 * and a job with no state (killed half-way) is cleaned by its derived names. */
static void teardown(const char *job)
{
	struct om_state s;
	char ifn[IFNAMSIZ], table[64], p[PATH_MAX];
	const char *v;
	pid_t pid = 0;
	uint64_t start = 0;

	memset(&s, 0, sizeof(s));
	load_state(job, &s);
	iface_name(job, ifn);
	table_name(job, table, sizeof(table));
	if ((v = om_state_get(&s, "pid")))
		pid = atoi(v);
	if ((v = om_state_get(&s, "pid_start")))
		start = strtoull(v, NULL, 10);

	if (link_exists(ifn)) {
		const char *argv[] = { "ip", "link", "del", ifn, NULL };
		run_quiet(argv);
	}
	/* wireguard-go exits when its interface goes; make sure, by PID and start time.
	 * A state file is only data: a PID is signalled only when its start time was
	 * recorded and the process is still a wireguard-go, never on the PID alone. */
	if (pid > 1 && start && om_proc_is(pid, start, "wireguard-go"))
		om_proc_stop(pid, start, 2000);
	wg_sock_remove_stale(ifn);
	if (nft_table_exists(table)) {
		const char *argv[] = { "nft", "delete", "table", "inet", table, NULL };
		run_quiet(argv);
	}
	v = om_state_get(&s, "netns");
	/* The namespace names a file: digits only, as netns_id() writes it. Its inode
	 * number may be another namespace's after a reboot: only a job of this boot
	 * in this namespace has its forwarding turned back here. */
	{
		const char *ns = v && *v && strspn(v, "0123456789") == strlen(v) ? v : netns_id();
		const char *b = om_state_get(&s, "boot_id");
		bool here = strcmp(ns, netns_id()) == 0 && (!b || strcmp(b, boot_id()) == 0);
		restore_forwarding(job, ns, here, om_state_get(&s, "forward_ifaces"));
	}
	static const char *const files[] = { "state", "server.conf", "wireguard-go.log" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		job_path(p, sizeof(p), job, files[i]);
		unlink(p);
	}
	job_path(p, sizeof(p), job, NULL);
	if (rmdir(p) < 0 && errno != ENOENT)
		warn("rmdir %s", p);
}

/* ---- up ---------------------------------------------------------------------------- */

struct up_opts {
	const char *job, *endpoint_host, *uplink, *dns;
	unsigned port_lo, port_hi, keepalive;
	bool have_subnet, internet;
	struct om_cidr subnet;
	pid_t owner;
	struct om_cidr allow[MAX_ALLOW]; /* --allow-dest: networks, host bits cleared */
	size_t n_allow;
	char fwd[OM_STATE_VAL]; /* the interfaces its packets come in on: forward_ifaces() */
	/* --forward-dns[-to]: port 53 at the server's tunnel address goes on to this
	 * resolver, and the client config names the tunnel address as its DNS. */
	char dns_to[OM_IP_STRLEN];
	bool forward_dns;
};

static bool overlaps(const struct om_cidr *a, const struct om_cidr *b)
{
	struct om_cidr shorter = a->prefix < b->prefix ? *a : *b;
	const struct om_cidr *longer = a->prefix < b->prefix ? b : a;

	return om_cidr_contains(&shorter, &longer->ip);
}

/* A subnet is taken when another job uses it or this host has an address in it. */
static bool subnet_taken(const struct om_cidr *c, const struct jobs *j)
{
	struct om_cidr *nets;
	size_t n;

	for (size_t k = 0; k < j->n; k++) {
		struct om_state s;
		struct om_cidr o;
		const char *v;
		if (load_state(j->id[k], &s) == 0 && same_netns(&s) && (v = om_state_get(&s, "subnet")) &&
		    om_cidr_parse(v, &o, true) == 0 && overlaps(c, &o))
			return true;
	}
	if (om_local_nets(&nets, &n) < 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (nets[i].ip.family == AF_INET && om_cidr_contains(c, &nets[i].ip)) {
			free(nets);
			return true;
		}
	}
	free(nets);
	return false;
}

static bool port_taken(unsigned port, const struct jobs *j)
{
	for (size_t k = 0; k < j->n; k++) {
		struct om_state s;
		const char *v;
		if (load_state(j->id[k], &s) == 0 && same_netns(&s) &&
		    (v = om_state_get(&s, "listen_port")) &&
		    (unsigned)atoi(v) == port)
			return true;
	}
	return !udp_port_free(port);
}

static void host_of(const struct om_cidr *net, unsigned k, char out[OM_IP_STRLEN])
{
	struct om_ip ip;
	uint32_t v;

	om_cidr_network(net, &ip);
	v = (uint32_t)ip.a[0] << 24 | (uint32_t)ip.a[1] << 16 | (uint32_t)ip.a[2] << 8 | ip.a[3];
	v += k;
	ip.a[0] = (uint8_t)(v >> 24);
	ip.a[1] = (uint8_t)(v >> 16);
	ip.a[2] = (uint8_t)(v >> 8);
	ip.a[3] = (uint8_t)v;
	om_ip_format(&ip, out);
}

static int write_server_conf(const char *path, const uint8_t spriv[OM_KEY_LEN], unsigned port,
			     const uint8_t cpub[OM_KEY_LEN], const uint8_t psk[OM_KEY_LEN],
			     const char *client_ip)
{
	char k1[OM_KEY_B64_LEN + 1], k2[OM_KEY_B64_LEN + 1], k3[OM_KEY_B64_LEN + 1];
	char buf[512];
	int fd, n, r = -1;

	om_key_to_b64(k1, spriv);
	om_key_to_b64(k2, cpub);
	om_key_to_b64(k3, psk);
	n = snprintf(buf, sizeof(buf),
		     "[Interface]\nPrivateKey = %s\nListenPort = %u\n\n[Peer]\nPublicKey = %s\n"
		     "PresharedKey = %s\nAllowedIPs = %s/32\n",
		     k1, port, k2, k3, client_ip);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		r = write(fd, buf, (size_t)n) == n ? 0 : -1;
		close(fd);
	}
	om_wipe(buf, sizeof(buf));
	om_wipe(k1, sizeof(k1));
	om_wipe(k3, sizeof(k3));
	return r;
}

/* What up allocated for the job. */
struct up_net {
	unsigned port;
	struct om_cidr sub;
	char server_ip[OM_IP_STRLEN], client_ip[OM_IP_STRLEN];
};

/* The interface of the longest IPv4 route to ip, from /proc/net/route. 0 or -1. */
static int route_dev(const struct om_ip *ip, char out[IFNAMSIZ])
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifn[64];
	unsigned long dst, mask;
	uint32_t a;
	int best = -1;

	if (!f)
		return -1;
	/* The file prints each address as the 32-bit word in memory, so the bytes
	 * compare as they are, with no byte swap. */
	memcpy(&a, ip->a, 4);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lx %*x %*x %*d %*d %*d %lx", ifn, &dst, &mask) == 3 &&
		    (a & (uint32_t)mask) == (uint32_t)dst && strlen(ifn) < IFNAMSIZ &&
		    __builtin_popcountl(mask) > best) {
			best = __builtin_popcountl(mask);
			strcpy(out, ifn);
		}
	}
	fclose(f);
	return best < 0 ? -1 : 0;
}

/* What a job's traffic may never reach through the server: every IPv4 row of the
 * address-class table that is no destination (loopback, private, CGNAT,
 * link-local and so metadata, multicast, broadcast, reserved), and every address
 * and attached subnet of this namespace: the requester's own host, the uplink's
 * subnet (a home LAN sits there), the other interfaces' networks and the other
 * jobs' tunnels. The attached subnets are those of the moment of up; whatever is
 * attached later is reached through an interface that is not the uplink, which
 * the chain refuses anyway. The documentation ranges stay reachable, as for
 * endpoints: the test worlds' internet, routed nowhere real. */
static int blocked_elements(FILE *f)
{
	struct om_cidr *nets;
	size_t n;
	const char *sep = "";

	for (size_t i = 0; i < om_addr_n_classes; i++) {
		const struct om_addr_class *c = &om_addr_classes[i];
		if (!strchr(c->prefix, ':') && !om_addr_class_dest_ok(c)) {
			fprintf(f, "%s%s", sep, c->prefix);
			sep = ", ";
		}
	}
	if (om_local_nets(&nets, &n) < 0) {
		warn("cannot list this host's addresses");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char a[OM_IP_STRLEN], net[OM_IP_STRLEN];
		struct om_ip nip;
		if (nets[i].ip.family != AF_INET)
			continue;
		om_cidr_network(&nets[i], &nip);
		om_ip_format(&nets[i].ip, a);
		om_ip_format(&nip, net);
		fprintf(f, ", %s/32, %s/%u", a, net, nets[i].prefix);
	}
	free(nets);
	return 0;
}

/* The resolver the job may reach on port 53: the --forward-dns target, or what --dns
 * names when it is IPv4 (an IPv6 one is never reached through the tunnel); or NULL. */
static const char *resolver_v4(const struct up_opts *o)
{
	struct om_ip ip;

	if (o->dns_to[0])
		return o->dns_to;
	return o->dns && om_ip_parse(o->dns, &ip) == 0 && ip.family == AF_INET ? o->dns : NULL;
}

/* One table per job: teardown is one delete. Only this job's interface is
 * matched, so jobs cannot reach each other's clients.
 *
 * input: the client reaches this host only at the server's tunnel address, with
 * the verify ping and the heartbeat (ICMP echo) and DNS when --dns names that
 * address; nothing else of the host (a service on 0.0.0.0 included).
 * forward: --allow-dest first (the requester's own choice), then the blocked set,
 * then the uplink, and nothing else. An interface whose forwarding omerta turned
 * on forwards no new connection but into the jobs' tunnels, so that the requester's
 * host does not start routing for anyone else; replies to what its other routing
 * (a NAT of its own, set up later) sent out still pass. Each refusal counts in the counter "refused",
 * which status prints. */
static int nft_apply(const char *table, const char *ifn, const struct up_opts *o,
		     const struct up_net *net, const char *fwd_ifaces)
{
	const char *argv[] = { "nft", "-f", "-", NULL };
	const char *cip = net->client_ip, *sip = net->server_ip;
	char *rules = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&rules, &len);
	int r = -1;

	if (!f)
		return -1;
	fprintf(f, "table inet %s {\n counter refused { }\n"
		   " set blocked { type ipv4_addr; flags interval; auto-merge; elements = { ", table);
	if (blocked_elements(f) < 0) {
		fclose(f);
		free(rules);
		return -1;
	}
	fprintf(f, " } }\n");
	if (o->n_allow) {
		fprintf(f, " set allowed { type ipv4_addr; flags interval; auto-merge; elements = { ");
		for (size_t i = 0; i < o->n_allow; i++) {
			char a[OM_IP_STRLEN];
			om_ip_format(&o->allow[i].ip, a);
			fprintf(f, "%s%s/%u", i ? ", " : "", a, o->allow[i].prefix);
		}
		fprintf(f, " } }\n");
	}
	/* No "ct state established,related accept" here: conntrack takes an ICMP error
	 * as related to any flow of the host's that its inner header names, whoever
	 * sends it, so the job could refuse the host's own UDP flows or shrink its TCP
	 * paths' MTU. The host starts nothing toward the client; the rules below match
	 * every packet of the flows the client may start. */
	fprintf(f, " chain input {\n  type filter hook input priority filter; policy accept;\n"
		   "  iifname \"%s\" ip saddr %s ip daddr %s icmp type echo-request accept\n",
		ifn, cip, sip);
	/* The resolver the client config names is reached on port 53 only, wherever
	 * it is: the server's address, another of this host's, or the requester's LAN. */
	if (resolver_v4(o))
		fprintf(f, "  iifname \"%s\" ip saddr %s ip daddr %s meta l4proto { tcp, udp } th dport 53 accept\n",
			ifn, cip, resolver_v4(o));
	if (o->n_allow)
		fprintf(f, "  iifname \"%s\" ip saddr %s ip daddr @allowed accept\n", ifn, cip);
	fprintf(f, "  iifname \"%s\" counter name \"refused\" drop\n }\n", ifn);
	fprintf(f, " chain forward {\n  type filter hook forward priority filter; policy accept;\n"
		   "  oifname \"%s\" ct state established,related accept\n"
		   "  oifname \"%s\" drop\n", ifn, ifn);
	if (o->n_allow)
		fprintf(f, "  iifname \"%s\" ip saddr %s ip daddr @allowed accept\n", ifn, cip);
	if (resolver_v4(o))
		fprintf(f, "  iifname \"%s\" ip saddr %s ip daddr %s meta l4proto { tcp, udp } th dport 53 accept\n",
			ifn, cip, resolver_v4(o));
	fprintf(f, "  iifname \"%s\" ip daddr @blocked counter name \"refused\" drop\n", ifn);
	if (o->internet)
		fprintf(f, "  iifname \"%s\" oifname \"%s\" ip saddr %s accept\n", ifn, o->uplink, cip);
	fprintf(f, "  iifname \"%s\" counter name \"refused\" drop\n", ifn);
	{
		char x[IFNAMSIZ], knob[PATH_MAX], mark[PATH_MAX];
		for (const char *p = fwd_ifaces; next_ifname(&p, x);) {
			forwarding_paths(netns_id(), x, knob, mark);
			if (access(mark, F_OK) == 0)
				fprintf(f, "  iifname \"%s\" oifname != \"omv*\" ct state new,invalid,untracked drop\n", x);
		}
	}
	/* --forward-dns: the job asks the server's tunnel address, and the requester's
	 * resolver answers, whichever network it sits on. */
	fprintf(f, " }\n");
	if (o->forward_dns)
		fprintf(f, " chain prerouting {\n  type nat hook prerouting priority dstnat; policy accept;\n"
			   "  iifname \"%s\" ip saddr %s ip daddr %s meta l4proto { tcp, udp } th dport 53 dnat ip to %s\n }\n",
			ifn, cip, sip, o->dns_to);
	fprintf(f, " chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n"
		   "  oifname != \"%s\" ip saddr %s masquerade\n }\n}\n", ifn, cip);
	if (fclose(f) == 0 && om_run(argv, rules, len, NULL, 0) == 0)
		r = 0;
	else
		warnx("nft could not load table %s", table);
	free(rules);
	return r;
}

static int start_interface(const char *job, const char *ifn, struct om_state *s)
{
	const char *add[] = { "ip", "link", "add", ifn, "type", "wireguard", NULL };
	char log[PATH_MAX], b[32];
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	if (run_quiet(add) == 0) {
		om_state_set(s, "impl", "kernel");
		return 0;
	}
	/* No wireguard module (as on this project's hosts): wireguard-go, kept in the
	 * foreground as our detached child so that its PID is known. */
	if (wg_sock_live(ifn)) {
		warnx("interface %s is in use in another network namespace (job %s exists there)", ifn, job);
		return -1;
	}
	wg_sock_remove_stale(ifn);
	job_path(log, sizeof(log), job, "wireguard-go.log");
	const char *argv[] = { "wireguard-go", ifn, NULL };
	const char *env[] = { "WG_PROCESS_FOREGROUND=1", NULL };
	pid_t pid = om_spawn_detached(argv, env, log);
	if (pid < 0) {
		warn("cannot start wireguard-go (apt-get install wireguard-go)");
		return -1;
	}
	/* Record the PID first, so that a failure below still cleans it up. */
	om_state_set(s, "impl", "wireguard-go");
	snprintf(b, sizeof(b), "%d", (int)pid);
	om_state_set(s, "pid", b);
	for (int i = 0; i < 250 && !om_proc_starttime(pid); i++)
		nanosleep(&ts, NULL);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)om_proc_starttime(pid));
	om_state_set(s, "pid_start", b);
	save_state(job, s);
	for (int i = 0; i < 250; i++) { /* up to 5 s */
		if (link_exists(ifn) && wg_sock_live(ifn))
			return 0;
		if (!om_proc_alive(pid, 0)) {
			warnx("wireguard-go exited at start; see its log in %s", log);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	warnx("wireguard-go did not create %s within 5 s", ifn);
	return -1;
}

/* The job's keys: on cmd_up's stack only, and wiped on every path. */
struct up_keys {
	uint8_t spriv[OM_KEY_LEN], spub[OM_KEY_LEN], cpriv[OM_KEY_LEN], cpub[OM_KEY_LEN],
		psk[OM_KEY_LEN];
};

/* The job's directory and first state. EX_OK with *created set, or EX_INPUT or
 * EX_SYS after a message. */
static int claim_job(const struct up_opts *o, struct om_state *s, const char *ifn,
		     const char *table, bool *created)
{
	char dir[PATH_MAX], b[64];

	job_path(dir, sizeof(dir), o->job, NULL);
	if (mkdir(dir, 0700) < 0) {
		if (errno != EEXIST) {
			warn("%s", dir);
			return EX_SYS;
		}
		warnx("job %s already exists (omerta-vpnserve down --job %s removes it)", o->job, o->job);
		return EX_INPUT;
	}
	if (link_exists(ifn)) {
		warnx("interface %s for job %s already exists", ifn, o->job);
		rmdir(dir); /* the interface is not ours: leave it */
		return EX_INPUT;
	}
	*created = true;
	om_state_set(s, "job_id", o->job);
	om_state_set(s, "role", "requester");
	om_state_set(s, "netns", netns_id());
	om_state_set(s, "boot_id", boot_id());
	om_state_set(s, "interface", ifn);
	om_state_set(s, "nft_table", table);
	om_state_set(s, "internet", o->internet ? "1" : "0");
	{
		char list[OM_STATE_VAL] = "", a[OM_IP_STRLEN];
		for (size_t i = 0; i < o->n_allow; i++) {
			om_ip_format(&o->allow[i].ip, a);
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s/%u",
				 i ? "," : "", a, o->allow[i].prefix);
		}
		om_state_set(s, "allow_dest", list);
		om_state_set(s, "dns_forward", o->dns_to);
	}
	snprintf(b, sizeof(b), "%lld", (long long)time(NULL));
	om_state_set(s, "created", b);
	snprintf(b, sizeof(b), "%d", (int)o->owner);
	om_state_set(s, "owner", b);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)om_proc_starttime(o->owner));
	om_state_set(s, "owner_start", b);
	return save_state(o->job, s) < 0 ? EX_SYS : EX_OK;
}

/* The subnet asked for, or the first free /30 of the pool. 0, or -1 after a message. */
static int find_subnet(const struct up_opts *o, const struct jobs *j, struct om_cidr *sub)
{
	struct om_cidr pool;

	if (o->have_subnet) {
		om_cidr_network(&o->subnet, &sub->ip);
		sub->prefix = o->subnet.prefix;
		if (!subnet_taken(sub, j))
			return 0;
		warnx("subnet is in use by another job or by this host");
		return -1;
	}
	om_cidr_parse(POOL, &pool, true);
	for (unsigned i = 0; i < (1u << (30 - pool.prefix)); i++) {
		uint32_t v = (uint32_t)pool.ip.a[2] << 8 | pool.ip.a[3];
		*sub = pool;
		sub->prefix = 30;
		v += i * 4;
		sub->ip.a[2] = (uint8_t)(v >> 8);
		sub->ip.a[3] = (uint8_t)v;
		if (!subnet_taken(sub, j))
			return 0;
	}
	warnx("no free tunnel subnet in %s", POOL);
	return -1;
}

/* A UDP port and a subnet no other job of this namespace holds, recorded in the
 * state before anything uses them. EX_OK, EX_INPUT or EX_SYS. */
static int allocate(const struct up_opts *o, struct om_state *s, struct up_net *n)
{
	struct jobs *j = calloc(1, sizeof(*j));
	char b[OM_IP_STRLEN + 8], net[OM_IP_STRLEN];
	int ret = EX_INPUT;

	if (!j)
		return EX_SYS;
	list_jobs(j);
	n->port = 0;
	for (unsigned p = o->port_lo; p <= o->port_hi && !n->port; p++)
		if (!port_taken(p, j))
			n->port = p;
	if (!n->port)
		warnx("no free UDP port in %u-%u", o->port_lo, o->port_hi);
	else if (find_subnet(o, j, &n->sub) == 0)
		ret = EX_OK;
	free(j);
	if (ret != EX_OK)
		return ret;
	host_of(&n->sub, 1, n->server_ip);
	host_of(&n->sub, 2, n->client_ip);
	snprintf(b, sizeof(b), "%u", n->port);
	om_state_set(s, "listen_port", b);
	om_ip_format(&n->sub.ip, net);
	snprintf(b, sizeof(b), "%s/%u", net, n->sub.prefix);
	om_state_set(s, "subnet", b);
	om_state_set(s, "server_ip", n->server_ip);
	om_state_set(s, "client_ip", n->client_ip);
	om_state_set(s, "uplink", o->internet ? o->uplink : "-");
	om_state_set(s, "endpoint_host", o->endpoint_host);
	om_state_set(s, "phase", "creating");
	return save_state(o->job, s) < 0 ? EX_SYS : EX_OK;
}

/* Fresh keys for this job only: a reused client key keeps old peer state. */
static int make_keys(struct up_keys *k)
{
	if (om_key_random(k->spriv) < 0 || om_key_random(k->cpriv) < 0 || om_key_random(k->psk) < 0) {
		warnx("cannot initialise libsodium");
		return -1;
	}
	om_key_clamp(k->spriv);
	om_key_clamp(k->cpriv);
	if (om_key_public(k->spub, k->spriv) < 0 || om_key_public(k->cpub, k->cpriv) < 0) {
		warnx("cannot derive the public keys");
		return -1;
	}
	return 0;
}

/* The interfaces a job's packets come in on, its own aside: the uplink (the
 * replies from the internet) and the way to each --allow-dest. Space-separated
 * into out. 0, or -1 after a message. */
static int forward_ifaces(const struct up_opts *o, char *out, size_t n)
{
	out[0] = '\0';
	if (o->internet && !ifname_ok(o->uplink)) {
		warnx("the uplink's name '%s' cannot go into a filter rule (want [A-Za-z0-9_.-]); give --uplink", o->uplink);
		return -1;
	}
	if (o->internet)
		snprintf(out, n, "%s", o->uplink);
	for (size_t i = 0; i < o->n_allow; i++) {
		char dev[IFNAMSIZ], a[OM_IP_STRLEN];
		if (route_dev(&o->allow[i].ip, dev) < 0) {
			om_ip_format(&o->allow[i].ip, a);
			warnx("--allow-dest %s/%u: no route to it", a, o->allow[i].prefix);
			return -1;
		}
		/* The name goes into the nft text and names a sysctl: a quote or a '*'
		 * (which Linux allows) would change the rule, and a name the restore
		 * refuses would leave forwarding on. */
		if (!ifname_ok(dev)) {
			om_ip_format(&o->allow[i].ip, a);
			warnx("--allow-dest %s/%u: the way there, '%s', is a name that cannot go into a filter rule (want [A-Za-z0-9_.-])",
			      a, o->allow[i].prefix, dev);
			return -1;
		}
		add_word(out, n, dev);
	}
	/* The resolver's way, when it has one here (the server's own tunnel address,
	 * not made yet, has none and needs none). */
	if (resolver_v4(o)) {
		char dev[IFNAMSIZ];
		struct om_ip ip;
		om_ip_parse(resolver_v4(o), &ip);
		if (route_dev(&ip, dev) == 0 && ifname_ok(dev))
			add_word(out, n, dev);
	}
	return 0;
}

/* Forwarding per interface, never net.ipv4.ip_forward for the whole namespace:
 * the job's interface and those in list. Where it was off, a file says that omerta
 * turned it on, before it does (so that a failure half-way still turns it off). With
 * mark_only, only those files are made: the nft table reads them, and is loaded
 * before any forwarding starts. 0, or -1 after a message. */
static int enable_forwarding(const char *ifn, const char *list, bool mark_only)
{
	char x[IFNAMSIZ], knob[PATH_MAX], mark[PATH_MAX];

	for (const char *p = list; next_ifname(&p, x);) {
		int fd;
		forwarding_paths(netns_id(), x, knob, mark);
		if (mark_only) {
			if (read_sysctl(knob) != 1 &&
			    (fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0)
				close(fd);
		} else if (access(mark, F_OK) == 0 && read_sysctl(knob) != 1 && om_write_knob(knob, "1") < 0) {
			warn("cannot enable %s", knob);
			return -1;
		}
	}
	if (!mark_only) {
		forwarding_paths(netns_id(), ifn, knob, mark);
		if (om_write_knob(knob, "1") < 0) {
			warn("cannot enable %s", knob);
			return -1;
		}
	}
	return 0;
}

/* The interface with the server's key, its address, the job's nft table. 0 or -1. */
static int bring_up(const struct up_opts *o, const char *ifn, const char *table,
		    struct om_state *s, const struct up_keys *k, const struct up_net *n)
{
	char conf[PATH_MAX], addr[OM_IP_STRLEN + 4], mtu[8];
	int r;

	if (start_interface(o->job, ifn, s) < 0)
		return -1;
	save_state(o->job, s);
	/* The key reaches wg through a 0600 file, never argv; the file is removed as
	 * soon as the interface holds the key. */
	job_path(conf, sizeof(conf), o->job, "server.conf");
	if (write_server_conf(conf, k->spriv, n->port, k->cpub, k->psk, n->client_ip) < 0) {
		warn("write %s", conf);
		return -1;
	}
	{
		const char *argv[] = { "wg", "setconf", ifn, conf, NULL };
		r = run_loud(argv, "wg setconf");
		unlink(conf);
		if (r < 0)
			return -1;
	}
	snprintf(addr, sizeof(addr), "%s/%u", n->server_ip, n->sub.prefix);
	snprintf(mtu, sizeof(mtu), "%d", TUN_MTU);
	{
		const char *a1[] = { "ip", "address", "add", addr, "dev", ifn, NULL };
		const char *a2[] = { "ip", "link", "set", ifn, "mtu", mtu, "up", NULL };
		if (run_loud(a1, "ip address add") < 0 || run_loud(a2, "ip link set up") < 0)
			return -1;
	}
	/* Recorded first: down restores forwarding from this list. */
	om_state_set(s, "forward_ifaces", o->fwd);
	if (save_state(o->job, s) < 0 || enable_forwarding(ifn, o->fwd, true) < 0 ||
	    nft_apply(table, ifn, o, n, o->fwd) < 0 || enable_forwarding(ifn, o->fwd, false) < 0)
		return -1;
	return 0;
}


/* The client config, for wg-quick or for a provider's omerta-execute. It holds the
 * client's private key and the PSK, so it is built in one buffer on this stack and
 * written with write(2), never through stdio (whose buffer nothing wipes), and the
 * buffer and the base64 copies are wiped whatever happens. 0, or -1 after a message. */
static int print_client_conf(const struct up_opts *o, const struct up_keys *k,
			     const struct up_net *n)
{
	char buf[1024], priv[OM_KEY_B64_LEN + 1], pub[OM_KEY_B64_LEN + 1], psk[OM_KEY_B64_LEN + 1];
	bool v6 = strchr(o->endpoint_host, ':') != NULL;
	const char *dns = o->forward_dns ? n->server_ip : o->dns;
	int len, r = -1;

	om_key_to_b64(priv, k->cpriv);
	om_key_to_b64(pub, k->spub);
	om_key_to_b64(psk, k->psk);
	len = snprintf(buf, sizeof(buf),
		       "[Interface]\nPrivateKey = %s\nAddress = %s/%u\n%s%s%s"
		       "\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nEndpoint = %s%s%s:%u\n"
		       "AllowedIPs = 0.0.0.0/0\nPersistentKeepalive = %u\n",
		       priv, n->client_ip, n->sub.prefix, dns ? "DNS = " : "", dns ? dns : "",
		       dns ? "\n" : "", pub, psk, v6 ? "[" : "", o->endpoint_host, v6 ? "]" : "",
		       n->port, o->keepalive);
	if (len < 0 || (size_t)len >= sizeof(buf))
		warnx("the client config does not fit in %zu bytes", sizeof(buf));
	else if (om_write_all(STDOUT_FILENO, buf, (size_t)len) < 0)
		warn("write the client config");
	else
		r = 0;
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(psk, sizeof(psk));
	return r;
}

/* Whether SIGINT, SIGTERM or SIGHUP arrived while they were blocked. */
static bool interrupted(void)
{
	sigset_t pending;

	sigpending(&pending);
	return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) ||
	       sigismember(&pending, SIGHUP);
}

static int cmd_up(const struct up_opts *o)
{
	struct om_state s;
	struct up_keys keys;
	struct up_net net;
	char ifn[IFNAMSIZ], table[64];
	int lock, ret;
	bool created = false;
	sigset_t block, old;
	struct sigaction ign = { .sa_handler = SIG_IGN }, oldpipe;

	lock = open_locked();
	if (lock < 0)
		return EX_SYS;
	/* Setup is all or nothing: SIGINT/SIGTERM/SIGHUP wait until it is done, and a
	 * pending one then undoes it. A reader that went away makes the config's
	 * write fail (EPIPE), which undoes it too, instead of killing us half-way. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGPIPE, &ign, &oldpipe);

	memset(&s, 0, sizeof(s));
	memset(&keys, 0, sizeof(keys));
	iface_name(o->job, ifn);
	table_name(o->job, table, sizeof(table));
	ret = claim_job(o, &s, ifn, table, &created);
	if (ret == EX_OK)
		ret = allocate(o, &s, &net);
	if (ret != EX_OK)
		goto out;
	ret = EX_SYS;
	if (make_keys(&keys) < 0 || bring_up(o, ifn, table, &s, &keys, &net) < 0)
		goto out;
	om_state_set(&s, "phase", "up");
	if (save_state(o->job, &s) < 0)
		goto out;
	if (interrupted()) {
		warnx("interrupted; job %s removed", o->job);
		goto out;
	}
	if (print_client_conf(o, &keys, &net) == 0)
		ret = EX_OK;
out:
	if (ret != EX_OK && created)
		teardown(o->job);
	sodium_memzero(&keys, sizeof(keys));
	close(lock);
	sigaction(SIGPIPE, &oldpipe, NULL);
	/* Anything that arrived during setup is handled now: the default action. */
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* ---- status, wait ------------------------------------------------------------------ */

struct status {
	char job[OM_JOBID_MAX + 1];
	const char *ifn, *server_ip, *client_ip, *port, *allow, *dns_forward;
	long long handshake;
	unsigned long long rx, tx, refused;
	bool alive, connected, elsewhere; /* elsewhere: in a namespace we cannot enter */
};

/* The first line of `wg show IFACE VERB` (one peer: its public key, then numbers)
 * parsed as up to two numbers. -1 when wg failed (the interface is not there). */
static int wg_show(const char *ifn, const char *verb, unsigned long long *a, unsigned long long *b)
{
	const char *argv[] = { "wg", "show", ifn, verb, NULL };
	char *out = NULL;
	int r = om_run(argv, NULL, 0, &out, OM_RUN_QUIET) == 0 && out ? 0 : -1;

	if (r == 0 && sscanf(out, "%*s %llu %llu", a, b) < 1)
		*a = *b = 0; /* no peer, or no handshake yet */
	free(out);
	return r;
}

/* The job's tunnel as wg sees it. Only the verbs that print public keys and
 * numbers are used: `wg show IFACE dump` would bring the server's private key and
 * the PSK into this process (and into om_run's buffer) only to read three numbers.
 * wait wants no byte counts, so it asks for the handshake only. */
static void query_here(const struct om_state *s, struct status *st, bool counts);

/* A job made in another network namespace (a status from the host, say) is asked
 * there: its interface lives there. We enter it for the two wg questions and come
 * back; a namespace we cannot enter leaves the job "elsewhere", never zeros that
 * read as a dead tunnel. */
static void query(const char *job, const struct om_state *s, struct status *st, bool counts)
{
	const char *v = om_state_get(s, "netns");
	int home, there;

	memset(st, 0, sizeof(*st));
	snprintf(st->job, sizeof(st->job), "%s", job);
	if (same_netns(s)) {
		query_here(s, st, counts);
		return;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	there = netns_open(strtoull(v, NULL, 10));
	if (home >= 0 && there >= 0 && setns(there, CLONE_NEWNET) == 0) {
		query_here(s, st, counts);
		if (setns(home, CLONE_NEWNET) < 0)
			err(EX_SYS, "cannot return to this network namespace");
	} else {
		query_here(s, st, false);
		st->alive = false;
		st->elsewhere = true;
	}
	if (home >= 0)
		close(home);
	if (there >= 0)
		close(there);
}

/* The packets the job's filter refused: its counter "refused". 0 when unknown. */
static unsigned long long refused_packets(const char *table)
{
	const char *argv[] = { "nft", "list", "counter", "inet", table, "refused", NULL };
	char *out = NULL, *p;
	unsigned long long n = 0;

	if (table && om_run(argv, NULL, 0, &out, OM_RUN_QUIET) == 0 && out &&
	    (p = strstr(out, "packets ")))
		n = strtoull(p + 8, NULL, 10);
	free(out);
	return n;
}

static void query_here(const struct om_state *s, struct status *st, bool counts)
{
	const char *v;
	unsigned long long hs = 0, rx = 0, tx = 0, unused;

	st->ifn = (v = om_state_get(s, "interface")) ? v : "-";
	st->server_ip = (v = om_state_get(s, "server_ip")) ? v : "-";
	st->client_ip = (v = om_state_get(s, "client_ip")) ? v : "-";
	st->port = (v = om_state_get(s, "listen_port")) ? v : "-";
	st->allow = (v = om_state_get(s, "allow_dest")) ? v : "";
	st->dns_forward = (v = om_state_get(s, "dns_forward")) && *v ? v : NULL;
	if (!ifname_ok(st->ifn) || !link_exists(st->ifn))
		return;
	if (wg_show(st->ifn, "latest-handshakes", &hs, &unused) < 0)
		return;
	st->alive = true;
	st->handshake = hs > (unsigned long long)LLONG_MAX ? 0 : (long long)hs;
	if (counts && wg_show(st->ifn, "transfer", &rx, &tx) == 0) {
		st->rx = rx;
		st->tx = tx;
	}
	if (counts)
		st->refused = refused_packets(om_state_get(s, "nft_table"));
	st->connected = st->handshake > 0 && time(NULL) - st->handshake < REJECT_AFTER;
}

static void print_status(const struct status *st, bool json)
{
	if (json) {
		struct om_json j;
		om_json_init(&j, stdout);
		om_json_obj_open(&j, NULL);
		om_json_str(&j, "job_id", st->job);
		om_json_str(&j, "interface", st->ifn);
		om_json_int(&j, "listen_port", atoi(st->port));
		om_json_str(&j, "server_ip", st->server_ip);
		om_json_str(&j, "client_ip", st->client_ip);
		om_json_int(&j, "latest_handshake", st->handshake);
		om_json_int(&j, "rx_bytes", (long long)st->rx);
		om_json_int(&j, "tx_bytes", (long long)st->tx);
		om_json_bool(&j, "connected", st->connected);
		om_json_str(&j, "state", st->elsewhere ? "elsewhere" : st->alive ? "up" : "dead");
		om_json_int(&j, "refused_packets", (long long)st->refused);
		om_json_arr_open(&j, "allow_dest");
		for (const char *p = st->allow; *p;) {
			size_t n = strcspn(p, ",");
			om_json_strn(&j, NULL, p, n);
			p += n + (p[n] == ',');
		}
		om_json_arr_close(&j);
		om_json_str(&j, "dns_forward", st->dns_forward);
		om_json_obj_close(&j);
		om_json_end(&j);
	} else
		printf("%s\t%s\t%s\t%s\t%s\t%lld\t%llu\t%llu\t%s\t%s\t%llu\t%s\n", st->job, st->ifn,
		       st->port, st->server_ip, st->client_ip, st->handshake, st->rx, st->tx,
		       st->connected ? "yes" : "no", st->elsewhere ? "elsewhere" : st->alive ? "up" : "dead",
		       st->refused, *st->allow ? st->allow : "-");
}

static int cmd_status(const char *job, bool json)
{
	struct jobs *j;
	struct om_state s;
	struct status st;

	if (setup_run_dir() < 0)
		return EX_SYS;
	if (job) {
		if (load_state(job, &s) < 0) {
			warnx("no such job: %s", job);
			return EX_NOJOB;
		}
		query(job, &s, &st, true);
		if (st.elsewhere) {
			warnx("job %s belongs to another network namespace that cannot be entered; run status there", job);
			return EX_INPUT;
		}
		print_status(&st, json);
		return EX_OK;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return EX_SYS;
	list_jobs(j);
	for (size_t i = 0; i < j->n; i++) {
		if (load_state(j->id[i], &s) < 0)
			continue;
		query(j->id[i], &s, &st, true);
		print_status(&st, json);
	}
	free(j);
	return EX_OK;
}

static int cmd_wait(const char *job, unsigned timeout)
{
	struct om_state s;
	struct status st;
	struct timespec t0, now, ts = { 0, 100 * 1000 * 1000 };

	if (setup_run_dir() < 0)
		return EX_SYS;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* WireGuard reports handshakes through no event a user can wait on, so this
	 * polls the interface every 100 ms; it only runs while a job is coming up. */
	for (;;) {
		if (load_state(job, &s) < 0) {
			warnx("no such job: %s", job);
			return EX_NOJOB;
		}
		query(job, &s, &st, false);
		if (st.handshake > 0)
			return EX_OK;
		const char *ph = om_state_get(&s, "phase");
		if (ph && strcmp(ph, "up") == 0 && !st.alive) {
			warnx("job %s: the interface %s is gone", job, st.ifn);
			return EX_SYS;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= (time_t)timeout) {
			warnx("job %s: no handshake from the client within %u s", job, timeout);
			return EX_TIMEOUT;
		}
		nanosleep(&ts, NULL);
	}
}

static int cmd_down(const char *job)
{
	int lock = open_locked();
	struct om_state s;

	if (lock < 0)
		return EX_SYS;
	/* Interfaces, tables and sysctls live in the job's namespace: removing the
	 * state from another one would leave them behind for good. */
	if (load_state(job, &s) == 0 && !same_netns(&s) && netns_alive(&s)) {
		warnx("job %s belongs to another network namespace; run down there", job);
		close(lock);
		return EX_INPUT;
	}
	teardown(job);
	close(lock);
	return EX_OK;
}

/* A job is dead when its owner is gone, or it got as far as "up" and its interface
 * or its wireguard-go is gone. */
static bool job_dead(const struct om_state *s)
{
	const char *v;
	pid_t owner = (v = om_state_get(s, "owner")) ? atoi(v) : 0;
	uint64_t ostart = (v = om_state_get(s, "owner_start")) ? strtoull(v, NULL, 10) : 0;
	pid_t pid = (v = om_state_get(s, "pid")) ? atoi(v) : 0;
	uint64_t pstart = (v = om_state_get(s, "pid_start")) ? strtoull(v, NULL, 10) : 0;
	const char *ifn = om_state_get(s, "interface");
	const char *phase = om_state_get(s, "phase");

	if (owner > 0 && !om_proc_alive(owner, ostart))
		return true;
	if (phase && strcmp(phase, "up") == 0) {
		if (!ifn || !ifname_ok(ifn) || !link_exists(ifn))
			return true;
		if (pid > 0 && !om_proc_alive(pid, pstart))
			return true;
	}
	/* A job that never reached "up" is being set up under the lock, or was killed
	 * mid-setup; gc holds the lock, so it is the latter. */
	return !phase || strcmp(phase, "up") != 0;
}

static int cmd_gc(void)
{
	struct jobs *j;
	int lock = open_locked();

	if (lock < 0)
		return EX_SYS;
	j = calloc(1, sizeof(*j));
	if (!j) {
		close(lock);
		return EX_SYS;
	}
	list_jobs(j);
	for (size_t i = 0; i < j->n; i++) {
		struct om_state s;
		if (load_state(j->id[i], &s) == 0 && !same_netns(&s) && netns_alive(&s))
			continue; /* another namespace's gc collects it */
		if (load_state(j->id[i], &s) < 0 || job_dead(&s)) {
			teardown(j->id[i]);
			printf("removed\t%s\n", j->id[i]);
		}
	}
	/* Job directories with no state file: killed before the first write. */
	DIR *d = opendir(run_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;
		if (!om_jobid_valid(e->d_name))
			continue;
		job_path(p, sizeof(p), e->d_name, "state");
		if (stat(p, &st) < 0 && errno == ENOENT) {
			teardown(e->d_name);
			printf("removed\t%s\n", e->d_name);
		}
	}
	if (d)
		closedir(d);
	free(j);
	close(lock);
	fflush(stdout);
	return EX_OK;
}

/* ---- main ------------------------------------------------------------------------- */

static unsigned num_or_die(const char *what, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (om_parse_u64(s, min, max, &v) < 0) {
		warnx("%s must be a number from %llu to %llu, not '%s'", what,
		      (unsigned long long)min, (unsigned long long)max, s);
		exit(EX_INPUT);
	}
	return (unsigned)v;
}

enum cmd { UP, STATUS, WAIT, DOWN, GC };

struct args {
	enum cmd cmd;
	struct up_opts o;
	const char *port, *range, *subnet, *owner, *timeout, *dns_to;
	bool json;
	char uplink[IFNAMSIZ];
};

/* The command word; --help and --version are answered here. */
static enum cmd parse_cmd(const char *w)
{
	static const char *const names[] = { "up", "status", "wait", "down", "gc" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(w, names[i]))
			return (enum cmd)i;
	if (!strcmp(w, "-h") || !strcmp(w, "--help"))
		usage(EX_OK);
	if (!strcmp(w, "--version")) {
		puts("omerta-vpnserve " OMERTA_VERSION);
		exit(EX_OK);
	}
	warnx("unknown command '%s'", w);
	usage(EX_USAGE_);
	return UP; /* not reached */
}

/* The options, and the combinations every command checks; exits on a wrong one. */
static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "job", required_argument, NULL, 'J' },
		{ "endpoint-host", required_argument, NULL, 'E' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-range", required_argument, NULL, 'P' },
		{ "subnet", required_argument, NULL, 'S' },
		{ "uplink", required_argument, NULL, 'U' },
		{ "dns", required_argument, NULL, 'D' },
		{ "keepalive", required_argument, NULL, 'K' },
		{ "no-internet", no_argument, NULL, 'N' },
		{ "owner", required_argument, NULL, 'O' },
		{ "allow-dest", required_argument, NULL, 'A' },
		{ "forward-dns", no_argument, NULL, 'F' },
		{ "forward-dns-to", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct up_opts *o = &a->o;
	int c;

	if (argc < 2)
		usage(EX_USAGE_);
	a->cmd = parse_cmd(argv[1]);
	argv[1] = argv[0]; /* getopt names the program by argv[0] */
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (c) {
		case 'J': o->job = optarg; break;
		case 'E': o->endpoint_host = optarg; break;
		case 'p': a->port = optarg; break;
		case 'P': a->range = optarg; break;
		case 'S': a->subnet = optarg; break;
		case 'U': o->uplink = optarg; break;
		case 'D': o->dns = optarg; break;
		case 'K': o->keepalive = num_or_die("--keepalive", optarg, 0, 65535); break;
		case 'N': o->internet = false; break;
		case 'O': a->owner = optarg; break;
		case 'F': o->forward_dns = true; break;
		case 'f': o->forward_dns = true; a->dns_to = optarg; break;
		case 'A':
			if (o->n_allow == MAX_ALLOW) {
				warnx("--allow-dest: at most %d", MAX_ALLOW);
				exit(EX_INPUT);
			}
			if (om_cidr_parse(optarg, &o->allow[o->n_allow], false) < 0 ||
			    o->allow[o->n_allow].ip.family != AF_INET) {
				warnx("--allow-dest must be an IPv4 address or prefix, such as 192.168.1.10/32 (the tunnel carries IPv4 only)");
				exit(EX_INPUT);
			}
			om_cidr_network(&o->allow[o->n_allow], &o->allow[o->n_allow].ip);
			o->n_allow++;
			break;
		case 'j': a->json = true; break;
		case 't': a->timeout = optarg; break;
		case 'h': usage(EX_OK); break;
		case 'V': puts("omerta-vpnserve " OMERTA_VERSION); exit(EX_OK);
		default: usage(EX_USAGE_);
		}
	}
	if (optind != argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		usage(EX_USAGE_);
	}
	/* Every option is checked before the first side effect. */
	if (o->job && !om_jobid_valid(o->job)) {
		warnx("invalid job ID (want [A-Za-z0-9_-]{1,32})");
		exit(EX_INPUT);
	}
	if ((a->cmd == UP || a->cmd == WAIT || a->cmd == DOWN) && !o->job) {
		warnx("--job is required");
		usage(EX_USAGE_);
	}
	if (a->cmd != UP && (o->endpoint_host || a->port || a->range || a->subnet || o->uplink ||
			     o->dns || !o->internet || a->owner || o->keepalive != 25 || o->n_allow ||
			     o->forward_dns)) {
		warnx("these options go with up");
		usage(EX_USAGE_);
	}
	if ((a->json && a->cmd != STATUS) || (a->timeout && a->cmd != WAIT) || (o->job && a->cmd == GC)) {
		warnx("option not valid with this command");
		usage(EX_USAGE_);
	}
}

/* up's endpoint and ports. EX_OK or EX_INPUT after a message; exits on bad usage. */
static int check_up_ports(struct args *a)
{
	struct up_opts *o = &a->o;

	if (!o->endpoint_host) {
		warnx("--endpoint-host is required (the address the client reaches this host on)");
		usage(EX_USAGE_);
	}
	if (!host_ok(o->endpoint_host)) {
		warnx("--endpoint-host must be an IP address or a host name");
		return EX_INPUT;
	}
	if (a->port && a->range) {
		warnx("--port and --port-range exclude each other");
		usage(EX_USAGE_);
	}
	if (a->port)
		o->port_lo = o->port_hi = num_or_die("--port", a->port, 1, 65535);
	if (a->range) {
		char lo[8] = { 0 }, *dash = strchr(a->range, '-');
		if (!dash || (size_t)(dash - a->range) >= sizeof(lo)) {
			warnx("--port-range must be A-B");
			return EX_INPUT;
		}
		memcpy(lo, a->range, (size_t)(dash - a->range));
		o->port_lo = num_or_die("--port-range start", lo, 1, 65535);
		o->port_hi = num_or_die("--port-range end", dash + 1, 1, 65535);
		if (o->port_lo > o->port_hi) {
			warnx("--port-range %u-%u is empty", o->port_lo, o->port_hi);
			return EX_INPUT;
		}
	}
	return EX_OK;
}

/* The resolver --forward-dns sends the job's queries to: --forward-dns-to's, or the
 * first IPv4 nameserver of /etc/resolv.conf (in a namespace of its own, ip netns exec
 * shows /etc/netns/NAME/resolv.conf there). Never one on loopback: a forwarded
 * packet cannot be delivered to 127/8 (systemd-resolved's 127.0.0.53 is one), nor
 * an address no destination may have, but a resolver on the requester's LAN is
 * fine (port 53 only). 0, or -1 after a message. */
static int pick_resolver(const char *given, char out[OM_IP_STRLEN])
{
	struct om_ip ip;
	char line[256], a[OM_IP_STRLEN];
	FILE *f;

	if (given) {
		if (om_ip_parse(given, &ip) < 0 || ip.family != AF_INET || ip.a[0] == 127 ||
		    ip.a[0] == 0 || ip.a[0] >= 224) {
			warnx("--forward-dns-to must be an IPv4 unicast address off loopback");
			return -1;
		}
		om_ip_format(&ip, out);
		return 0;
	}
	f = fopen("/etc/resolv.conf", "re");
	if (!f) {
		warn("--forward-dns: /etc/resolv.conf");
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nameserver %45s", a) == 1 && om_ip_parse(a, &ip) == 0 &&
		    ip.family == AF_INET && ip.a[0] != 127 && ip.a[0] != 0 && ip.a[0] < 224) {
			om_ip_format(&ip, out);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	warnx("--forward-dns: /etc/resolv.conf names no IPv4 resolver off loopback (127.0.0.53 cannot be forwarded to); give --forward-dns-to IP");
	return -1;
}

/* up's subnet, DNS, owner and uplink. EX_OK or EX_INPUT; exits on bad usage. */
static int check_up_net(struct args *a)
{
	struct up_opts *o = &a->o;
	struct om_ip ip;

	if (a->subnet) {
		if (om_cidr_parse(a->subnet, &o->subnet, true) < 0 || o->subnet.ip.family != AF_INET ||
		    o->subnet.prefix < 8 || o->subnet.prefix > 30) {
			warnx("--subnet must be an IPv4 prefix from /8 to /30, such as 10.99.0.0/24");
			return EX_INPUT;
		}
		o->have_subnet = true;
	}
	if (o->dns && om_ip_parse(o->dns, &ip) < 0) {
		warnx("--dns must be an IP address");
		return EX_INPUT;
	}
	if (o->forward_dns && (o->dns || !o->internet)) {
		warnx(o->dns ? "--dns and --forward-dns exclude each other" : "--forward-dns needs the internet (not --no-internet)");
		usage(EX_USAGE_);
	}
	if (o->forward_dns && pick_resolver(a->dns_to, o->dns_to) < 0)
		return EX_INPUT;
	if (a->owner) {
		unsigned pid = num_or_die("--owner", a->owner, 1, 4194304);
		o->owner = (pid_t)pid;
		if (!om_proc_alive(o->owner, 0)) {
			warnx("--owner %u: no such process", pid);
			return EX_INPUT;
		}
	} else
		o->owner = getppid();
	if (!o->internet) {
		if (o->uplink) {
			warnx("--uplink and --no-internet exclude each other");
			usage(EX_USAGE_);
		}
	} else if (o->uplink) {
		if (!ifname_ok(o->uplink) || !link_exists(o->uplink)) {
			warnx("--uplink: no such interface");
			return EX_INPUT;
		}
	} else if (default_uplink(a->uplink) < 0) {
		warnx("no default route to find the uplink; give --uplink IFACE or --no-internet");
		return EX_INPUT;
	} else
		o->uplink = a->uplink;
	return forward_ifaces(o, o->fwd, sizeof(o->fwd)) < 0 ? EX_INPUT : EX_OK;
}

int main(int argc, char **argv)
{
	struct args a = { .o = { .port_lo = DEFAULT_PORT_LO, .port_hi = DEFAULT_PORT_HI,
				 .keepalive = 25, .internet = true } };
	int ret;

	parse_args(argc, argv, &a);
	if (sodium_init() < 0) {
		warnx("cannot initialise libsodium");
		return EX_SYS;
	}
	switch (a.cmd) {
	case STATUS:
		return cmd_status(a.o.job, a.json);
	case WAIT:
		return cmd_wait(a.o.job, a.timeout ? num_or_die("--timeout", a.timeout, 1, 86400) : 30);
	case DOWN:
		return cmd_down(a.o.job);
	case GC:
		return cmd_gc();
	case UP:
		break;
	}
	ret = check_up_ports(&a);
	if (ret == EX_OK)
		ret = check_up_net(&a);
	return ret == EX_OK ? cmd_up(&a.o) : ret;
}
