/* omerta-guest: the guest /init's boot steps, done in one small static process
 * instead of a fork and exec of busybox, nft, ip and wg for each.
 *
 * Why it exists: under TCG every exec of a dynamically linked tool costs tens of
 * milliseconds (nft alone loads ten libraries), and the boot path ran about forty of
 * them. Each step here is a few netlink messages.
 *
 *   omerta-guest modules DIR            finit_module() each DIR/<name>.ko listed in DIR/order
 *   omerta-guest ports NAME...          waits (up to 5 s) for the virtio-serial ports
 *                                       NAME... and prints each one's /dev path, a line each
 *   omerta-guest killswitch DOOR PORT   table inet omerta, as one nf_tables batch
 *   omerta-guest drops                  "out=N in=N": the kill switch's drop counters
 *   omerta-guest net ADDR/PREFIX        lo up; eth0 addressed statically and up (no DHCP)
 *   omerta-guest wg CONF MTU ADDR/PREFIX...
 *                                       wg0 from CONF (the subset of wg setconf's format
 *                                       omerta-mkinitrd writes), its addresses, MTU, up,
 *                                       and the default route into it
 *   omerta-guest as-job PROG ARG...     exec PROG as the unprivileged user "job"
 *                                       (uid and gid 1000, no groups, no_new_privs)
 *   omerta-guest as-root PROG ARG...    exec PROG as root (--root), with the same
 *                                       clean environment as as-job; both add the
 *                                       requester's --env entries from /job/env
 *   omerta-guest boot                   /init's steps 1 to 5 in this one process: mount,
 *                                       modules, ports (their /dev paths on stdout as
 *                                       soon as they are found; the fourth is
 *                                       omerta.in's, or /dev/null without one), the job's parameters,
 *                                       killswitch, net, wg, resolv.conf, and verify
 *                                       (ICMP echo to the server's tunnel address),
 *                                       each reported on omerta.ctl as it completes;
 *                                       a failure is reported there as
 *                                       "failed step=... reason=..."; after vpn_up,
 *                                       the server's address, the heartbeat period,
 *                                       root (0|1) and the interpreter, a line each
 *   omerta-guest heartbeat SERVER_IP SECONDS CTL
 *                                       one ICMP echo to SERVER_IP every SECONDS, and
 *                                       "drops out=N in=N" on CTL when they change and
 *                                       once more on SIGTERM
 *
 * Exit 0 on success; 1 with one line on stderr naming the step that failed; 2 on usage.
 * Every request is acknowledged by the kernel before the next step counts as done, so
 * a kill switch that was not installed is a failure, never a silent success.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>
#include <dirent.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include "om_ctl.h"
#include "om_key.h"
#include "om_nl.h"

static const char *step = "omerta-guest";

/* Set by "boot": a failure is also reported on the control channel. */
static void (*on_fail)(const char *why);

static void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	char why[160];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "omerta-guest: %s: %s", step, why);
	if (e)
		fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	if (on_fail)
		on_fail(why);
	exit(1);
}

/* ---- netlink messages (lib/om_nl) ------------------------------------------------ */


static int nl_open(int proto)
{
	struct timeval tv = { 5, 0 };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);

	if (fd < 0)
		die("netlink socket");
	/* A kernel that never answers must not hang the boot: the host's setup limit
	 * would end the job anyway, but a clear error is better. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("netlink bind");
	return fd;
}

typedef void (*reply_fn)(const struct nlmsghdr *h, void *arg);

/* Sends m and reads until every message numbered first..last was acknowledged (or a
 * dump ended), handing data messages to fn. Any error from the kernel is fatal. */
static void talk(int fd, struct om_nlmsg *m, uint32_t first, uint32_t last, reply_fn fn, void *arg)
{
	static uint8_t rb[32768];
	uint32_t acked = 0, want = last - first + 1;

	errno = 0;
	if (m->overflow)
		die("netlink message too long");
	if (send(fd, m->buf, m->len, 0) != (ssize_t)m->len)
		die("netlink send");
	while (acked < want) {
		ssize_t n = recv(fd, rb, sizeof(rb), 0);
		if (n < 0)
			die("netlink receive");
		for (struct nlmsghdr *h = (void *)rb; NLMSG_OK(h, (uint32_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (e->error) {
					errno = -e->error;
					die("the kernel refused request %u", e->msg.nlmsg_seq - first + 1);
				}
				acked++;
			} else if (h->nlmsg_type == NLMSG_DONE) {
				acked++;
			} else if (fn) {
				fn(h, arg);
			}
		}
	}
}

/* ---- modules --------------------------------------------------------------------- */

static int cmd_modules(const char *dir, const char *order)
{
	char path[512], name[128];
	FILE *f;

	step = "modules";
	snprintf(path, sizeof(path), "%s/%s", dir, order);
	f = fopen(path, "re");
	if (!f)
		die("%s", path);
	while (fgets(name, sizeof(name), f)) {
		int fd;
		name[strcspn(name, "\n")] = '\0';
		if (!name[0])
			continue;
		snprintf(path, sizeof(path), "%s/%s.ko", dir, name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("insmod_%s", name);
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			die("insmod_%s", name);
		close(fd);
	}
	fclose(f);
	return 0;
}

/* ---- virtio-serial ports --------------------------------------------------------- */

/* The ports appear some time after virtio_console is loaded: QEMU announces them and
 * their names over the control queue, and devtmpfs creates the nodes after that. */
static int find_port(const char *want, char dev[64])
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char p[512], name[64] = "";
		FILE *f;
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", e->d_name);
		f = fopen(p, "re");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
		snprintf(dev, 64, "/dev/%.50s", e->d_name);
		found = !strcmp(name, want) && access(dev, W_OK) == 0;
	}
	closedir(d);
	return found;
}

/* Waits up to 5 s for each port NAME in names, its /dev path into dev. */
static void wait_ports(const char *const *names, int n, char dev[][64])
{
	struct timespec nap = { 0, 2 * 1000 * 1000 };

	step = "channels";
	for (int i = 0; i < n; i++)
		for (int tries = 0; !find_port(names[i], dev[i]); tries++) {
			if (tries == 2500) {
				errno = 0;
				die("no_%s_port", names[i]);
			}
			nanosleep(&nap, NULL);
		}
}

static int cmd_ports(char **names, int n)
{
	char dev[16][64];

	if (n > 16)
		n = 16;
	wait_ports((const char *const *)names, n, dev);
	for (int i = 0; i < n; i++)
		puts(dev[i]);
	return 0;
}

/* ---- the kill switch ------------------------------------------------------------- */

static void nft_begin(struct om_nlmsg *m, uint16_t type, uint16_t flags, uint8_t family)
{
	struct nfgenmsg g = { .nfgen_family = family, .version = NFNETLINK_V0 };

	om_nl_begin(m, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | type), flags, &g, sizeof(g));
}

static size_t expr(struct om_nlmsg *m, const char *name, size_t *data)
{
	size_t e = om_nl_nest(m, NFTA_LIST_ELEM);

	om_nl_attr_str(m, NFTA_EXPR_NAME, name);
	*data = om_nl_nest(m, NFTA_EXPR_DATA);
	return e;
}

static void expr_end(struct om_nlmsg *m, size_t e, size_t data)
{
	om_nl_nest_end(m, data);
	om_nl_nest_end(m, e);
}

static void e_meta(struct om_nlmsg *m, uint32_t key)
{
	size_t d, e = expr(m, "meta", &d);
	om_nl_attr_be32(m, NFTA_META_KEY, key);
	om_nl_attr_be32(m, NFTA_META_DREG, NFT_REG_1);
	expr_end(m, e, d);
}

static void e_payload(struct om_nlmsg *m, uint32_t base, uint32_t off, uint32_t len)
{
	size_t d, e = expr(m, "payload", &d);
	om_nl_attr_be32(m, NFTA_PAYLOAD_DREG, NFT_REG_1);
	om_nl_attr_be32(m, NFTA_PAYLOAD_BASE, base);
	om_nl_attr_be32(m, NFTA_PAYLOAD_OFFSET, off);
	om_nl_attr_be32(m, NFTA_PAYLOAD_LEN, len);
	expr_end(m, e, d);
}

static void e_cmp(struct om_nlmsg *m, const void *v, size_t n)
{
	size_t d, e = expr(m, "cmp", &d), c;
	om_nl_attr_be32(m, NFTA_CMP_SREG, NFT_REG_1);
	om_nl_attr_be32(m, NFTA_CMP_OP, NFT_CMP_EQ);
	c = om_nl_nest(m, NFTA_CMP_DATA);
	om_nl_attr(m, NFTA_DATA_VALUE, v, n);
	om_nl_nest_end(m, c);
	expr_end(m, e, d);
}

static void e_ifname(struct om_nlmsg *m, uint32_t key, const char *name)
{
	char v[IFNAMSIZ] = { 0 };

	strncpy(v, name, sizeof(v) - 1);
	e_meta(m, key);
	e_cmp(m, v, sizeof(v));
}

static void e_verdict(struct om_nlmsg *m, uint32_t code)
{
	size_t d, e = expr(m, "immediate", &d), v, c;
	om_nl_attr_be32(m, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
	v = om_nl_nest(m, NFTA_IMMEDIATE_DATA);
	c = om_nl_nest(m, NFTA_DATA_VERDICT);
	om_nl_attr_be32(m, NFTA_VERDICT_CODE, code);
	om_nl_nest_end(m, c);
	om_nl_nest_end(m, v);
	expr_end(m, e, d);
}

static void e_counter(struct om_nlmsg *m)
{
	uint64_t zero = 0;
	size_t d, e = expr(m, "counter", &d);
	om_nl_attr(m, NFTA_COUNTER_BYTES, &zero, 8);
	om_nl_attr(m, NFTA_COUNTER_PACKETS, &zero, 8);
	expr_end(m, e, d);
}

static size_t rule_begin(struct om_nlmsg *m, const char *chain)
{
	nft_begin(m, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, NFPROTO_INET);
	om_nl_attr_str(m, NFTA_RULE_TABLE, "omerta");
	om_nl_attr_str(m, NFTA_RULE_CHAIN, chain);
	return om_nl_nest(m, NFTA_RULE_EXPRESSIONS);
}

static void chain(struct om_nlmsg *m, const char *name, uint32_t hook)
{
	size_t h;

	nft_begin(m, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK, NFPROTO_INET);
	om_nl_attr_str(m, NFTA_CHAIN_TABLE, "omerta");
	om_nl_attr_str(m, NFTA_CHAIN_NAME, name);
	h = om_nl_nest(m, NFTA_CHAIN_HOOK);
	om_nl_attr_be32(m, NFTA_HOOK_HOOKNUM, hook);
	om_nl_attr_be32(m, NFTA_HOOK_PRIORITY, 0);
	om_nl_nest_end(m, h);
	om_nl_attr_be32(m, NFTA_CHAIN_POLICY, NF_DROP);
	om_nl_attr_str(m, NFTA_CHAIN_TYPE, "filter");
}

/* lo and wg0 pass; on eth0 only UDP between the guest and the door's address and
 * port; everything else is counted and dropped. In, the same, mirrored. */
static void door_rules(struct om_nlmsg *m, const char *chain_name, int out, const struct in_addr *door,
		       uint16_t port)
{
	uint32_t meta = out ? NFT_META_OIFNAME : NFT_META_IIFNAME;
	uint8_t ipv4 = NFPROTO_IPV4, udp = IPPROTO_UDP;
	uint16_t p = htons(port);
	size_t r;

	r = rule_begin(m, chain_name);
	e_ifname(m, meta, "lo");
	e_verdict(m, NF_ACCEPT);
	om_nl_nest_end(m, r);
	r = rule_begin(m, chain_name);
	e_ifname(m, meta, "wg0");
	e_verdict(m, NF_ACCEPT);
	om_nl_nest_end(m, r);
	r = rule_begin(m, chain_name);
	e_ifname(m, meta, "eth0");
	e_meta(m, NFT_META_NFPROTO);
	e_cmp(m, &ipv4, 1);
	e_payload(m, NFT_PAYLOAD_NETWORK_HEADER, out ? 16 : 12, 4); /* daddr : saddr */
	e_cmp(m, door, 4);
	e_meta(m, NFT_META_L4PROTO);
	e_cmp(m, &udp, 1);
	e_payload(m, NFT_PAYLOAD_TRANSPORT_HEADER, out ? 2 : 0, 2); /* dport : sport */
	e_cmp(m, &p, 2);
	e_verdict(m, NF_ACCEPT);
	om_nl_nest_end(m, r);
	r = rule_begin(m, chain_name);
	e_counter(m);
	e_verdict(m, NF_DROP);
	om_nl_nest_end(m, r);
}

static uint16_t parse_port(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || v < 1 || v > 65535 || errno) {
		errno = 0;
		die("bad port %s", s);
	}
	return (uint16_t)v;
}

static int cmd_killswitch(const char *door_s, const char *port_s)
{
	static struct om_nlmsg m;
	struct in_addr door;
	uint16_t port;
	uint32_t first;
	int fd;

	step = "killswitch";
	errno = 0;
	if (inet_pton(AF_INET, door_s, &door) != 1)
		die("bad door address %s", door_s);
	port = parse_port(port_s);
	fd = nl_open(NETLINK_NETFILTER);
	{
		struct nfgenmsg g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0,
				      .res_id = htons(NFNL_SUBSYS_NFTABLES) };
		om_nl_begin(&m, NFNL_MSG_BATCH_BEGIN, 0, &g, sizeof(g));
	}
	first = m.seq + 1;
	nft_begin(&m, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK, NFPROTO_INET);
	om_nl_attr_str(&m, NFTA_TABLE_NAME, "omerta");
	chain(&m, "output", NF_INET_LOCAL_OUT);
	door_rules(&m, "output", 1, &door, port);
	chain(&m, "input", NF_INET_LOCAL_IN);
	door_rules(&m, "input", 0, &door, port);
	chain(&m, "forward", NF_INET_FORWARD);
	{
		struct nfgenmsg g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0,
				      .res_id = htons(NFNL_SUBSYS_NFTABLES) };
		uint32_t last = m.seq;
		om_nl_begin(&m, NFNL_MSG_BATCH_END, 0, &g, sizeof(g));
		/* The whole batch commits or none of it does. */
		talk(fd, &m, first, last, NULL, NULL);
	}
	close(fd);
	return 0;
}

/* ---- drop counters --------------------------------------------------------------- */

struct drops {
	uint64_t out, in;
	int in_omerta, is_out, is_in;
	uint64_t cur;
	int have;
};

static void counter_attr(const struct nlattr *a, void *arg)
{
	struct drops *d = arg;
	if (om_nla_type(a) == NFTA_COUNTER_PACKETS && om_nla_len(a) == 8) {
		uint64_t v;
		memcpy(&v, om_nla_data(a), 8);
		d->cur = be64toh(v);
		d->have = 1;
	}
}

static void expr_attr(const struct nlattr *a, void *arg)
{
	struct drops *d = arg;
	static int is_counter;

	if (om_nla_type(a) == NFTA_EXPR_NAME)
		is_counter = om_nla_len(a) >= 8 && !strncmp(om_nla_data(a), "counter", 8);
	else if (om_nla_type(a) == NFTA_EXPR_DATA && is_counter)
		om_nl_each_attr(om_nla_data(a), om_nla_len(a), counter_attr, d);
}

static void list_attr(const struct nlattr *a, void *arg)
{
	if (om_nla_type(a) == NFTA_LIST_ELEM)
		om_nl_each_attr(om_nla_data(a), om_nla_len(a), expr_attr, arg);
}

static void rule_attr(const struct nlattr *a, void *arg)
{
	struct drops *d = arg;
	const char *s = om_nla_data(a);
	size_t n = om_nla_len(a);

	if (om_nla_type(a) == NFTA_RULE_TABLE)
		d->in_omerta = n == 7 && !memcmp(s, "omerta", 7);
	else if (om_nla_type(a) == NFTA_RULE_CHAIN) {
		d->is_out = n == 7 && !memcmp(s, "output", 7);
		d->is_in = n == 6 && !memcmp(s, "input", 6);
	} else if (om_nla_type(a) == NFTA_RULE_EXPRESSIONS)
		om_nl_each_attr(s, n, list_attr, d);
}

static void rule_reply(const struct nlmsghdr *h, void *arg)
{
	struct drops *d = arg;
	size_t hl = NLMSG_SPACE(sizeof(struct nfgenmsg));

	if (h->nlmsg_len < hl)
		return;
	d->in_omerta = d->is_out = d->is_in = d->have = 0;
	om_nl_each_attr((const uint8_t *)h + hl, h->nlmsg_len - hl, rule_attr, d);
	if (d->in_omerta && d->have) {
		if (d->is_out)
			d->out += d->cur;
		if (d->is_in)
			d->in += d->cur;
	}
}

static int cmd_drops(void)
{
	static struct om_nlmsg m;
	struct drops d = { 0 };
	int fd;

	step = "drops";
	fd = nl_open(NETLINK_NETFILTER);
	nft_begin(&m, NFT_MSG_GETRULE, NLM_F_DUMP, NFPROTO_INET);
	talk(fd, &m, m.seq, m.seq, rule_reply, &d);
	close(fd);
	printf("out=%llu in=%llu\n", (unsigned long long)d.out, (unsigned long long)d.in);
	return 0;
}

/* ---- interfaces, addresses, routes ----------------------------------------------- */

static void link_reply(const struct nlmsghdr *h, void *arg)
{
	if (h->nlmsg_type == RTM_NEWLINK)
		*(int *)arg = ((const struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
}

static int ifindex(int fd, const char *name)
{
	static struct om_nlmsg m;
	struct ifinfomsg i = { .ifi_family = AF_UNSPEC };
	int index = 0;

	m.len = m.nmsg = 0;
	om_nl_begin(&m, RTM_GETLINK, NLM_F_ACK, &i, sizeof(i));
	om_nl_attr_str(&m, IFLA_IFNAME, name);
	talk(fd, &m, m.seq, m.seq, link_reply, &index);
	if (index <= 0) {
		errno = ENODEV;
		die("%s", name);
	}
	return index;
}

static void request(int fd, struct om_nlmsg *m)
{
	talk(fd, m, m->seq, m->seq, NULL, NULL);
	m->len = m->nmsg = 0;
}

static void link_up(int fd, struct om_nlmsg *m, int index, unsigned mtu)
{
	struct ifinfomsg i = { .ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP,
			       .ifi_change = IFF_UP };

	om_nl_begin(m, RTM_NEWLINK, NLM_F_ACK, &i, sizeof(i));
	if (mtu)
		om_nl_attr(m, IFLA_MTU, &mtu, 4);
	request(fd, m);
}

static void parse_prefix(const char *s, struct in_addr *a, unsigned *len)
{
	char b[32], *slash, *end;
	unsigned long v;

	errno = 0;
	if (strlen(s) >= sizeof(b))
		die("bad address %s", s);
	strcpy(b, s);
	slash = strchr(b, '/');
	if (!slash)
		die("bad address %s (no prefix)", s);
	*slash = '\0';
	v = strtoul(slash + 1, &end, 10);
	if (inet_pton(AF_INET, b, a) != 1 || !slash[1] || *end || v > 32)
		die("bad address %s", s);
	*len = (unsigned)v;
}

static void add_addr(int fd, struct om_nlmsg *m, int index, const char *cidr)
{
	struct in_addr a;
	unsigned len;
	struct ifaddrmsg i = { .ifa_family = AF_INET, .ifa_index = (unsigned)index };

	parse_prefix(cidr, &a, &len);
	i.ifa_prefixlen = (unsigned char)len;
	om_nl_begin(m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &i, sizeof(i));
	om_nl_attr(m, IFA_LOCAL, &a, 4);
	om_nl_attr(m, IFA_ADDRESS, &a, 4);
	request(fd, m);
}

static int cmd_net(const char *cidr)
{
	static struct om_nlmsg m;
	int fd;

	step = "eth0";
	fd = nl_open(NETLINK_ROUTE);
	link_up(fd, &m, ifindex(fd, "lo"), 0);
	{
		int e = ifindex(fd, "eth0");
		add_addr(fd, &m, e, cidr);
		link_up(fd, &m, e, 0);
	}
	close(fd);
	return 0;
}

/* ---- WireGuard ------------------------------------------------------------------- */

/* A WireGuard key: 44 characters of base64, decoded in constant time (lib's
 * om_key_from_b64, the host's own decoder). */
static void key_decode(const char *s, uint8_t k[WG_KEY_LEN], const char *what)
{
	errno = 0;
	if (om_key_from_b64(k, s, strlen(s)) < 0)
		die("bad %s", what);
}

struct wgconf {
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN], psk[WG_KEY_LEN];
	int has_priv, has_pub, has_psk;
	struct sockaddr_in ep;
	uint16_t keepalive;
};

static void read_conf(const char *path, struct wgconf *c)
{
	char line[256];
	FILE *f = fopen(path, "re");

	if (!f)
		die("%s", path);
	errno = 0;
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v = strstr(line, " = ");
		line[strcspn(line, "\n")] = '\0';
		if (!v)
			continue; /* section headers and blank lines */
		*v = '\0';
		v += 3;
		if (!strcmp(k, "PrivateKey"))
			key_decode(v, c->priv, "PrivateKey"), c->has_priv = 1;
		else if (!strcmp(k, "PublicKey"))
			key_decode(v, c->pub, "PublicKey"), c->has_pub = 1;
		else if (!strcmp(k, "PresharedKey"))
			key_decode(v, c->psk, "PresharedKey"), c->has_psk = 1;
		else if (!strcmp(k, "Endpoint")) {
			char *colon = strrchr(v, ':');
			if (!colon)
				die("bad Endpoint");
			*colon = '\0';
			c->ep.sin_family = AF_INET;
			c->ep.sin_port = htons(parse_port(colon + 1));
			if (inet_pton(AF_INET, v, &c->ep.sin_addr) != 1)
				die("bad Endpoint");
		} else if (!strcmp(k, "PersistentKeepalive"))
			c->keepalive = parse_port(v);
		else if (strcmp(k, "AllowedIPs") != 0)
			die("unexpected key %s", k);
	}
	/* The private key leaves the file system as soon as it is read; the caller
	 * removes the file too. */
	om_wipe(line, sizeof(line));
	fclose(f);
	if (!c->has_priv || !c->has_pub || !c->ep.sin_family)
		die("%s: PrivateKey, PublicKey and Endpoint are required", path);
}

static void family_attr(const struct nlattr *a, void *arg)
{
	if (om_nla_type(a) == CTRL_ATTR_FAMILY_ID && om_nla_len(a) == 2)
		memcpy(arg, om_nla_data(a), 2);
}

static void family_reply(const struct nlmsghdr *h, void *arg)
{
	size_t hl = NLMSG_SPACE(GENL_HDRLEN);

	if (h->nlmsg_len > hl)
		om_nl_each_attr((const uint8_t *)h + hl, h->nlmsg_len - hl, family_attr, arg);
}

static uint16_t wg_family(int fd, struct om_nlmsg *m)
{
	struct genlmsghdr g = { .cmd = CTRL_CMD_GETFAMILY, .version = 1 };
	uint16_t family = 0;

	om_nl_begin(m, GENL_ID_CTRL, NLM_F_ACK, &g, sizeof(g));
	om_nl_attr_str(m, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	talk(fd, m, m->seq, m->seq, family_reply, &family);
	m->len = m->nmsg = 0;
	if (!family) {
		errno = ENOENT;
		die("no wireguard netlink family");
	}
	return family;
}

/* Whether wg0's peer has completed a handshake (its last handshake time is set). */
static void hs_peer_attr(const struct nlattr *a, void *arg)
{
	int64_t sec = 0;

	if (om_nla_type(a) == WGPEER_A_LAST_HANDSHAKE_TIME && om_nla_len(a) >= 16) {
		memcpy(&sec, om_nla_data(a), sizeof(sec));
		if (sec)
			*(bool *)arg = true;
	}
}

static void hs_peers_attr(const struct nlattr *a, void *arg)
{
	om_nl_each_attr(om_nla_data(a), om_nla_len(a), hs_peer_attr, arg);
}

static void hs_dev_attr(const struct nlattr *a, void *arg)
{
	if (om_nla_type(a) == WGDEVICE_A_PEERS)
		om_nl_each_attr(om_nla_data(a), om_nla_len(a), hs_peers_attr, arg);
}

static void hs_reply(const struct nlmsghdr *h, void *arg)
{
	size_t hl = NLMSG_SPACE(GENL_HDRLEN);

	if (h->nlmsg_len > hl)
		om_nl_each_attr((const uint8_t *)h + hl, h->nlmsg_len - hl, hs_dev_attr, arg);
}

static bool wg_handshaken(void)
{
	static struct om_nlmsg m;
	struct genlmsghdr g = { .cmd = WG_CMD_GET_DEVICE, .version = WG_GENL_VERSION };
	int fd = nl_open(NETLINK_GENERIC);
	uint16_t family = wg_family(fd, &m);
	bool done = false;

	om_nl_begin(&m, family, NLM_F_DUMP, &g, sizeof(g));
	om_nl_attr_str(&m, WGDEVICE_A_IFNAME, "wg0");
	talk(fd, &m, m.seq, m.seq, hs_reply, &done);
	m.len = m.nmsg = 0;
	close(fd);
	return done;
}

/* One DNS query (". NS", 17 bytes of question) to server:53 through the tunnel: the
 * verify step's trigger for a handshake and the heartbeat's liveness signal when
 * the config names no server address (a commercial VPN's: its resolver answers). */
static void dns_probe(int fd, struct in_addr server, uint16_t id)
{
	unsigned char q[17] = { 0 };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr = server };

	q[0] = (unsigned char)(id >> 8), q[1] = (unsigned char)id;
	q[2] = 0x01;            /* recursion desired */
	q[5] = 1;               /* one question */
	q[12] = 0;              /* the root name */
	q[14] = 2, q[16] = 1;   /* type NS, class IN */
	if (sendto(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) < 0) {
		/* the next beat tries again */
	}
	/* Answers are not read: that they arrive is what counts (the door hears them). */
	for (char b[512]; recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0;)
		;
}

static void wg_set(const struct wgconf *c)
{
	static struct om_nlmsg m;
	struct genlmsghdr g = { 0 };
	uint16_t family;
	uint32_t flags = WGDEVICE_F_REPLACE_PEERS, pflags = WGPEER_F_REPLACE_ALLOWEDIPS;
	uint16_t af = AF_INET;
	uint8_t zero[4] = { 0 }, mask = 0;
	size_t peers, peer, ips, ip;
	int fd = nl_open(NETLINK_GENERIC);

	family = wg_family(fd, &m);
	g.cmd = WG_CMD_SET_DEVICE;
	g.version = WG_GENL_VERSION;
	om_nl_begin(&m, family, NLM_F_ACK, &g, sizeof(g));
	om_nl_attr_str(&m, WGDEVICE_A_IFNAME, "wg0");
	om_nl_attr(&m, WGDEVICE_A_PRIVATE_KEY, c->priv, WG_KEY_LEN);
	om_nl_attr(&m, WGDEVICE_A_FLAGS, &flags, 4);
	peers = om_nl_nest(&m, WGDEVICE_A_PEERS);
	peer = om_nl_nest(&m, 0);
	om_nl_attr(&m, WGPEER_A_PUBLIC_KEY, c->pub, WG_KEY_LEN);
	if (c->has_psk)
		om_nl_attr(&m, WGPEER_A_PRESHARED_KEY, c->psk, WG_KEY_LEN);
	om_nl_attr(&m, WGPEER_A_FLAGS, &pflags, 4);
	om_nl_attr(&m, WGPEER_A_ENDPOINT, &c->ep, sizeof(c->ep));
	om_nl_attr(&m, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, &c->keepalive, 2);
	/* Everything goes into the tunnel: AllowedIPs = 0.0.0.0/0. */
	ips = om_nl_nest(&m, WGPEER_A_ALLOWEDIPS);
	ip = om_nl_nest(&m, 0);
	om_nl_attr(&m, WGALLOWEDIP_A_FAMILY, &af, 2);
	om_nl_attr(&m, WGALLOWEDIP_A_IPADDR, zero, 4);
	om_nl_attr(&m, WGALLOWEDIP_A_CIDR_MASK, &mask, 1);
	om_nl_nest_end(&m, ip);
	om_nl_nest_end(&m, ips);
	om_nl_nest_end(&m, peer);
	om_nl_nest_end(&m, peers);
	talk(fd, &m, m.seq, m.seq, NULL, NULL);
	/* The message held the private key. */
	explicit_bzero(m.buf, sizeof(m.buf));
	close(fd);
}

static int cmd_wg(const char *conf, const char *mtu_s, char **addrs, int naddrs)
{
	static struct om_nlmsg m;
	struct wgconf c = { 0 };
	unsigned mtu;
	int fd, wg;

	step = "wg";
	read_conf(conf, &c);
	mtu = parse_port(mtu_s);
	if (mtu < 576)
		die("bad mtu %s", mtu_s);
	fd = nl_open(NETLINK_ROUTE);
	{
		struct ifinfomsg i = { .ifi_family = AF_UNSPEC };
		size_t li;
		om_nl_begin(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &i, sizeof(i));
		om_nl_attr_str(&m, IFLA_IFNAME, "wg0");
		li = om_nl_nest(&m, IFLA_LINKINFO);
		om_nl_attr_str(&m, IFLA_INFO_KIND, "wireguard");
		om_nl_nest_end(&m, li);
		request(fd, &m);
	}
	wg = ifindex(fd, "wg0");
	wg_set(&c);
	explicit_bzero(&c, sizeof(c));
	for (int i = 0; i < naddrs; i++)
		add_addr(fd, &m, wg, addrs[i]);
	link_up(fd, &m, wg, mtu);
	{
		struct rtmsg r = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN,
				   .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_LINK,
				   .rtm_type = RTN_UNICAST };
		uint32_t oif = (uint32_t)wg;
		om_nl_begin(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &r, sizeof(r));
		om_nl_attr(&m, RTA_OIF, &oif, 4);
		request(fd, &m);
	}
	close(fd);
	return 0;
}

/* ---- the workload's user --------------------------------------------------------- */

#define JOB_ID 1000 /* omerta-mkinitrd's /etc/passwd: job:x:1000:1000 */
#define ENV_FILE "/job/env"
#define ENV_FILE_MAX (65536 + 256 + 1)
#define ENV_MAX (256 + 8)

/* The workload's environment: the fixed entries, then the requester's --env
 * entries from /job/env (NAME=VALUE, each ending in a NUL; omerta-mkinitrd checked
 * the names), which may replace a fixed one (PATH, say). Nothing of /init's own
 * environment passes. Exits on a file that is not what mkinitrd writes. */
static char **job_env(char *const fixed[], size_t n_fixed)
{
	static char buf[ENV_FILE_MAX];
	static char *env[ENV_MAX + 1];
	size_t n = 0, len = 0;
	ssize_t r;
	int fd = open(ENV_FILE, O_RDONLY | O_CLOEXEC);

	for (size_t i = 0; i < n_fixed; i++)
		env[n++] = fixed[i];
	if (fd < 0) {
		if (errno != ENOENT)
			die("open %s", ENV_FILE);
		env[n] = NULL;
		return env;
	}
	while (len < sizeof(buf) && (r = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)r;
	close(fd);
	if (len == sizeof(buf) || (len && buf[len - 1] != '\0'))
		die("%s is too long or not NUL-terminated", ENV_FILE);
	for (size_t off = 0; off < len;) {
		char *e = buf + off, *eq = strchr(e, '=');
		size_t k;
		off += strlen(e) + 1;
		if (!eq || eq == e)
			die("%s: an entry without NAME=", ENV_FILE);
		for (k = 0; k < n_fixed; k++)
			if (strncmp(env[k], e, (size_t)(eq - e) + 1) == 0)
				break;
		if (k < n_fixed)
			env[k] = e;
		else if (n < ENV_MAX)
			env[n++] = e;
		else
			die("%s: too many entries", ENV_FILE);
	}
	env[n] = NULL;
	return env;
}

/* With an image (setup_image), the workload's root is the image's overlay. */
static void enter_image(void)
{
	if (access("/run/omerta/root/job", F_OK) < 0)
		return;
	if (chroot("/run/omerta/root") < 0 || chdir("/home/job") < 0)
		die("chroot");
}

static int cmd_as_root(char **argv)
{
	static char *fixed[] = { "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh",
				 "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "OMERTA_OUT=/home/job/out" };

	step = "as-root";
	enter_image();
	execve(argv[0], argv, job_env(fixed, sizeof(fixed) / sizeof(fixed[0])));
	die("%s", argv[0]);
	return 1;
}

static int cmd_as_job(char **argv)
{
	static char *fixed[] = { "HOME=/home/job", "USER=job", "LOGNAME=job", "SHELL=/bin/sh",
				 "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "OMERTA_OUT=/home/job/out" };
	char **env;

	step = "as-job";
	/* Read as root, before the drop: /job/env is root's file. */
	env = job_env(fixed, sizeof(fixed) / sizeof(fixed[0]));
	enter_image();
	/* Groups first, then gid, then uid: after setuid there is no way back, and
	 * no_new_privs means nothing the workload runs (a setuid binary, a file
	 * capability) can gain privileges again. */
	if (setgroups(0, NULL) < 0 || setgid(JOB_ID) < 0 || setuid(JOB_ID) < 0)
		die("cannot drop to uid %d", JOB_ID);
	if (setuid(0) == 0) {
		errno = 0;
		die("uid 0 could be regained");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
	execve(argv[0], argv, env);
	die("%s", argv[0]);
	return 1;
}

/* ---- the whole boot path --------------------------------------------------------- */

/* Under TCG every fork and exec in the guest costs 5-7 ms, and /init's steps 1 to 5
 * used to take about twenty of them (mount, the helper once a step, tr, rm, ping).
 * "boot" does them in this one process, in the same order, with the same records. */

#define JOB_FILE "/etc/omerta/job"
#define WG_FILE "/etc/omerta/wg.conf"

static int ctl = -1;
static int boot_failed_after_killswitch;
static volatile sig_atomic_t hb_stop;

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_BOOTTIME, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One control record, "EVENT key=value ... t=MS". Written whole in one write. */
static void report(const char *fmt, ...)
{
	char b[OM_CTL_LINE_MAX + 2];
	va_list ap;
	int n;

	if (ctl < 0)
		return;
	va_start(ap, fmt);
	n = om_ctl_vformat(b, sizeof(b), now_ms(), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (write(ctl, b, (size_t)n) != n) {
		/* The host reads what it gets; nothing else to do. */
	}
}

/* The drop counters as "out=N in=N" into b (0 and 0 if the table cannot be read).
 * In a child, since the counting dies on any netlink error. */
static void drops_string(char b[64])
{
	int p[2], st;
	pid_t pid;
	ssize_t n;

	strcpy(b, "out=0 in=0");
	if (pipe(p) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		on_fail = NULL;
		close(p[0]);
		if (dup2(p[1], 1) < 0)
			_exit(1);
		if (freopen("/dev/null", "w", stderr) == NULL) {
			/* messages would only go to the console */
		}
		cmd_drops();
		fflush(stdout);
		_exit(0);
	}
	close(p[1]);
	/* The heartbeat's SIGTERM may land here: retry, it only asks for a last count. */
	do
		n = pid > 0 ? read(p[0], b, 63) : -1;
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	b[n > 0 ? n : 0] = '\0';
	b[strcspn(b, "\n")] = '\0';
	if (strncmp(b, "out=", 4) != 0)
		strcpy(b, "out=0 in=0");
}

/* The drop counters, as /init reports them: "drops out=N in=N". */
static void report_drops(void)
{
	char b[64];

	drops_string(b);
	report("drops %s", b);
}

/* A failed step: "failed step=STEP reason=WHY" with WHY as one word, then the drop
 * counters once the kill switch is in. The private key's file goes in any case. */
static void boot_fail(const char *why)
{
	char r[64];
	size_t i;

	on_fail = NULL;
	unlink(WG_FILE);
	for (i = 0; why[i] && why[i] != ':' && i < sizeof(r) - 1; i++) {
		unsigned char c = (unsigned char)why[i];
		r[i] = (char)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				      c == '_' || c == '.' || c == '-' || c == '(' || c == ')' || c == '?'
			      ? c
			      : '_');
	}
	r[i] = '\0';
	report("failed step=%s reason=%s", step, i ? r : "unknown");
	if (boot_failed_after_killswitch)
		report_drops();
}

struct job {
	char guest_addr[32], tunnel_addrs[160], dns[160], mtu[8], server_ip[32], verify[16], verify_tries[8],
		door[32], door_port[8], heartbeat[8], root[4], interpreter[64];
};

/* The job's parameters, written and checked by omerta-mkinitrd; read here without any
 * shell in between. Unknown keys are for /init (heartbeat, root, interpreter). */
static void read_job(struct job *j)
{
	static const struct {
		const char *key;
		size_t off, size;
	} keys[] = {
#define K(f) { #f, offsetof(struct job, f), sizeof(((struct job *)0)->f) }
		K(guest_addr), K(tunnel_addrs), K(dns), K(mtu), K(server_ip), K(verify), K(verify_tries), K(door), K(door_port),
		K(heartbeat), K(root), K(interpreter),
#undef K
	};
	char line[256];
	FILE *f = fopen(JOB_FILE, "re");

	if (!f) {
		step = "unpack";
		errno = 0;
		die("no_job_archive_(too_little_memory?)");
	}
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, '=');
		line[strcspn(line, "\n")] = '\0';
		if (!v)
			continue;
		*v++ = '\0';
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(line, keys[i].key)) {
				if (strlen(v) >= keys[i].size) {
					errno = 0;
					die("%s_too_long", line);
				}
				strcpy((char *)j + keys[i].off, v);
			}
	}
	fclose(f);
	if (!j->mtu[0])
		strcpy(j->mtu, "1420");
	if (!j->verify_tries[0])
		strcpy(j->verify_tries, "10");
	if (!j->heartbeat[0])
		strcpy(j->heartbeat, "2");
	if (!j->root[0])
		strcpy(j->root, "0");
	/* Printed for /init as one word each. */
	errno = 0;
	if (!j->interpreter[0] || strpbrk(j->interpreter, " \t") || strpbrk(j->server_ip, " \t") ||
	    strpbrk(j->heartbeat, " \t") || strpbrk(j->root, " \t"))
		die("bad_job_parameters");
}

static uint16_t icmp_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* One ICMP echo to dst, as "ping -c 1 -W 1" does: 1 if the answer came within a
 * second. The first one also sets off WireGuard's handshake. */
static int echo_once(int fd, struct in_addr dst, uint16_t id, uint16_t seq)
{
	struct {
		struct icmphdr h;
		uint8_t data[56];
	} q = { .h = { .type = ICMP_ECHO } };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
	long long until = now_ms() + 1000;

	q.h.un.echo.id = htons(id);
	q.h.un.echo.sequence = htons(seq);
	memset(q.data, 0x6f, sizeof(q.data));
	q.h.checksum = icmp_sum(&q, sizeof(q));
	if (sendto(fd, &q, sizeof(q), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		/* No route yet, or a full queue: this try failed; wait it out as ping does. */
	}
	for (long long left; (left = until - now_ms()) > 0;) {
		uint8_t b[1500];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&pf, 1, (int)left) <= 0) {
			if (hb_stop)
				return 0;
			continue;
		}
		n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (n >= (ssize_t)sizeof(struct iphdr) && from.sin_addr.s_addr == dst.s_addr) {
			const struct iphdr *ip = (const void *)b;
			size_t hl = (size_t)ip->ihl * 4;
			const struct icmphdr *h = (const void *)(b + hl);
			if ((size_t)n >= hl + sizeof(*h) && h->type == ICMP_ECHOREPLY &&
			    h->un.echo.id == htons(id) && h->un.echo.sequence == htons(seq))
				return 1;
		}
	}
	return 0;
}

static void split_words(char *s, char **w, int *n, int max)
{
	*n = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t && *n < max; t = strtok_r(NULL, ",", &save))
		w[(*n)++] = t;
}

/* Whether the kernel command line holds the word w: omerta-vmboot's word for the
 * guest, never the workload's (which has no say in it). */
static bool cmdline_has(const char *w)
{
	char b[1024], *save = NULL;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof(b) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	b[n] = '\0';
	for (char *t = strtok_r(b, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		if (!strcmp(t, w))
			return true;
	return false;
}

/* The value of the kernel command line's word "key=value" into out, or false. */
static bool cmdline_value(const char *key, char *out, size_t outlen)
{
	char b[1024], *save = NULL;
	size_t kl = strlen(key);
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof(b) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	b[n] = '\0';
	for (char *t = strtok_r(b, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		if (!strncmp(t, key, kl) && t[kl] == '=') {
			snprintf(out, outlen, "%s", t + kl + 1);
			return true;
		}
	return false;
}

/* ---- the job's disks ------------------------------------------------------------- */

/* The disk whose virtio serial is "omerta-NAME", as /dev/vdX; waits up to 5 s for the
 * driver to find it. */
static void find_disk(const char *name, char dev[32])
{
	char want[32], p[64], serial[64];

	snprintf(want, sizeof(want), "omerta-%s", name);
	for (int tries = 0; tries < 500; tries++) {
		DIR *d = opendir("/sys/block");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			int fd;
			ssize_t n;
			if (strncmp(e->d_name, "vd", 2) || strlen(e->d_name) > 8)
				continue;
			snprintf(p, sizeof(p), "/sys/block/%s/serial", e->d_name);
			fd = open(p, O_RDONLY | O_CLOEXEC);
			n = fd < 0 ? -1 : read(fd, serial, sizeof(serial) - 1);
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			serial[n] = '\0';
			serial[strcspn(serial, "\n")] = '\0';
			if (!strcmp(serial, want)) {
				snprintf(dev, 32, "/dev/%s", e->d_name);
				closedir(d);
				return;
			}
		}
		if (d)
			closedir(d);
		struct timespec nap = { 0, 10 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	errno = 0;
	die("no_disk_%s", name);
}

static int own_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	if (lchown(p, JOB_ID, JOB_ID) < 0)
		die("chown");
	return 0;
}

static void write_sysctl(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, v, strlen(v)) < 0) {
			/* a default writeback is slower, not wrong */
		}
		close(fd);
	}
}

/* omerta.disks=in,out (omerta-vmboot --disk): the job's input disk (ext4, made per
 * job by omerta-execute) becomes its work directory, /home/job, owned by the job's
 * user; its output disk (ext2, read back by omerta-files on the host, never
 * mounted there) is /home/job/out. Done after the tunnel is verified: nothing the
 * disks hold is touched before. */
/* Appends line to path unless a line there starts with prefix (the image's passwd
 * and group learn the job's user). */
static void add_line(const char *path, const char *prefix, const char *line)
{
	char b[512];
	FILE *f = fopen(path, "re");

	while (f && fgets(b, sizeof(b), f))
		if (!strncmp(b, prefix, strlen(prefix))) {
			fclose(f);
			return;
		}
	if (f)
		fclose(f);
	f = fopen(path, "ae");
	if (!f || fputs(line, f) < 0 || fclose(f) != 0)
		die("%s", path);
}

static void copy_small(const char *from, const char *to)
{
	char b[4096];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n = in < 0 ? -1 : read(in, b, sizeof(b));

	if (in >= 0)
		close(in);
	unlink(to); /* an image's resolv.conf may be a link (systemd-resolved's) */
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0 || (n > 0 && write(out, b, (size_t)n) != n) || close(out) < 0)
		die("%s", to);
}

#define IMAGE_ROOT "/run/omerta/root"

/* omerta.disks=image: the job's root filesystem, the image (a squashfs, read-only)
 * under an overlay whose upper layer is in RAM; the guest's own /proc, /dev, a fresh
 * /tmp, the work directory and /job (the script) inside it. as-job and as-root chroot
 * into it. The image's own init, services and setuid bits never run: the workload
 * is started by our /init, as the job's user with no_new_privs unless --root. */
static void setup_image(void)
{
	static const char *const dirs[] = { IMAGE_ROOT "/proc", IMAGE_ROOT "/sys", IMAGE_ROOT "/dev",
					    IMAGE_ROOT "/tmp", IMAGE_ROOT "/home", IMAGE_ROOT "/home/job",
					    IMAGE_ROOT "/job", IMAGE_ROOT "/etc" };
	char dev[32];

	cmd_modules("/lib/modules", "order.image");
	step = "image";
	find_disk("image", dev);
	if ((mkdir("/run/omerta", 0755) < 0 && errno != EEXIST) || mkdir("/run/omerta/lower", 0755) < 0 ||
	    mkdir("/run/omerta/rw", 0755) < 0 || mkdir(IMAGE_ROOT, 0755) < 0)
		die("mkdir");
	if (mount(dev, "/run/omerta/lower", "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "") < 0)
		die("mount_image");
	/* The overlay's writable layer: the scratch disk with --disk, else RAM. */
	if (access("/run/omerta/scratch", F_OK) == 0) {
		if (mkdir("/run/omerta/scratch/overlay", 0755) < 0 ||
		    mount("/run/omerta/scratch/overlay", "/run/omerta/rw", NULL, MS_BIND, NULL) < 0)
			die("overlay_upper");
	} else if (mount("rw", "/run/omerta/rw", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		die("overlay_upper");
	}
	if (mkdir("/run/omerta/rw/upper", 0755) < 0 || mkdir("/run/omerta/rw/work", 0755) < 0)
		die("overlay_upper");
	if (mount("overlay", IMAGE_ROOT, "overlay", MS_NOSUID | MS_NODEV,
		  "lowerdir=/run/omerta/lower,upperdir=/run/omerta/rw/upper,workdir=/run/omerta/rw/work") < 0)
		die("mount_overlay");
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
			die("mkdir_%s", dirs[i] + strlen(IMAGE_ROOT) + 1);
	if (mount("proc", IMAGE_ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    mount("sys", IMAGE_ROOT "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    mount("/dev", IMAGE_ROOT "/dev", NULL, MS_BIND, NULL) < 0 ||
	    mount("tmp", IMAGE_ROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0 ||
	    mount("/home/job", IMAGE_ROOT "/home/job", NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount("/job", IMAGE_ROOT "/job", NULL, MS_BIND, NULL) < 0)
		die("mount_in_image");
	if (chmod(IMAGE_ROOT "/tmp", 01777) < 0)
		die("chmod_tmp");
	copy_small("/etc/resolv.conf", IMAGE_ROOT "/etc/resolv.conf");
	add_line(IMAGE_ROOT "/etc/passwd", "job:", "job:x:1000:1000:job:/home/job:/bin/sh\n");
	add_line(IMAGE_ROOT "/etc/group", "job:", "job:x:1000:\n");
}

static void setup_disks(void)
{
	char list[64], dev[32], *save = NULL;
	bool in = false, out = false, image = false, scratch = false;

	if (!cmdline_value("omerta.disks", list, sizeof(list)))
		return;
	step = "disks";
	cmd_modules("/lib/modules", "order.disk");
	step = "disks";
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "in"))
			in = true;
		else if (!strcmp(t, "out"))
			out = true;
		else if (!strcmp(t, "image"))
			image = true;
		else if (!strcmp(t, "scratch"))
			scratch = true;
	}
	if (in) {
		find_disk("in", dev);
		if (mount(dev, "/home/job", "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "noinit_itable") < 0)
			die("mount_input");
		if (nftw("/home/job", own_cb, 16, FTW_PHYS | FTW_MOUNT) < 0)
			die("chown_input");
		if (mkdir("/home/job/out", 0755) < 0 && errno != EEXIST)
			die("mkdir_out");
		if (lchown("/home/job/out", JOB_ID, JOB_ID) < 0 || chmod("/home/job", 0700) < 0)
			die("chown_out");
	}
	/* --disk: a scratch disk (ext4, the job's, deleted after it) for the work
	 * directory (when no input disk is it) and an image's overlay. */
	if (scratch) {
		find_disk("scratch", dev);
		if ((mkdir("/run/omerta", 0755) < 0 && errno != EEXIST) || mkdir("/run/omerta/scratch", 0755) < 0 ||
		    mount(dev, "/run/omerta/scratch", "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "noinit_itable") < 0)
			die("mount_scratch");
		if (!in) {
			if ((mkdir("/run/omerta/scratch/home", 0700) < 0 && errno != EEXIST) ||
			    (mkdir("/run/omerta/scratch/home/out", 0755) < 0 && errno != EEXIST) ||
			    lchown("/run/omerta/scratch/home", JOB_ID, JOB_ID) < 0 ||
			    lchown("/run/omerta/scratch/home/out", JOB_ID, JOB_ID) < 0 ||
			    mount("/run/omerta/scratch/home", "/home/job", NULL, MS_BIND, NULL) < 0)
				die("scratch_home");
		}
	}
	if (out) {
		find_disk("out", dev);
		if (mount(dev, "/home/job/out", "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "noinit_itable") < 0)
			die("mount_output");
		rmdir("/home/job/out/lost+found");
		if (chown("/home/job/out", JOB_ID, JOB_ID) < 0 || chmod("/home/job/out", 0755) < 0)
			die("chown_output");
		/* What the job writes reaches the disk within about 1.5 s, so a VM that is
		 * ended (a timeout, a dead tunnel) loses at most that. */
		write_sysctl("/proc/sys/vm/dirty_expire_centisecs", "100");
		write_sysctl("/proc/sys/vm/dirty_writeback_centisecs", "50");
	}
	/* Last: the work directory, its inputs and output are in place to bind. */
	if (image)
		setup_image();
}

/* omerta.now=SEC.NSEC (omerta-vmboot): the host's clock as it started QEMU; the
 * guest's becomes that plus its own time since boot. The RTC alone gives whole
 * seconds: two guests of one config booted within the same second sent WireGuard
 * handshakes with the same TAI64N timestamp, and the server drops the second as a
 * replay (a 5 s retry, 3 jobs in 12 with a kernel that boots in half a second).
 * It runs behind the true time by what passed from then until this kernel's clock
 * began (QEMU's start, the kernel's first steps: some hundred ms under TCG), yet
 * ahead of any earlier guest's handshake on this host: that was before this
 * guest's QEMU started, and its own clock lagged too. No value, or a bad one (not
 * SEC.NNNNNNNNN): the RTC's, as before. */
static void set_clock(void)
{
	char v[40], *end;
	struct timespec now, up;
	long long sec;
	long nsec;

	if (!cmdline_value("omerta.now", v, sizeof(v)))
		return;
	errno = 0;
	sec = strtoll(v, &end, 10);
	if (errno || end == v || *end != '.' || sec < 1600000000LL || sec > 4000000000LL)
		return;
	if (strlen(end + 1) != 9 || strspn(end + 1, "0123456789") != 9)
		return;
	nsec = strtol(end + 1, NULL, 10);
	if (clock_gettime(CLOCK_BOOTTIME, &up) < 0)
		return;
	now.tv_sec = (time_t)sec + up.tv_sec;
	now.tv_nsec = nsec + up.tv_nsec;
	if (now.tv_nsec >= 1000000000L) {
		now.tv_sec++;
		now.tv_nsec -= 1000000000L;
	}
	clock_settime(CLOCK_REALTIME, &now);
}

static int cmd_boot(void)
{
	static const char *const names[4] = { "omerta.ctl", "omerta.out", "omerta.err", "omerta.in" };
	long long t_kernel = now_ms(), t0;
	char dev[4][64], *addrs[8], *dns[8];
	struct job j = { 0 };
	struct in_addr server;
	unsigned long tries;
	int naddrs, ndns, fd, n;
	char *end;

	/* 1. Filesystems, modules, the ports. Failures here go to the console only:
	 * there is no control channel yet. */
	step = "mount";
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
		die("/proc");
	if (mount("sys", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
		die("/sys");
	mount("dev", "/dev", "devtmpfs", MS_NOSUID, NULL); /* may be there already */
	if (mount("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		die("/tmp");
	/* debugfs, root's alone: /init reads each port's bytes_sent there to tell the
	 * host how much output to wait for before it ends the VM. Without it (a kernel
	 * with no debugfs) /init powers off as it always did. */
	mount("debugfs", "/sys/kernel/debug", "debugfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700");
	set_clock();
	cmd_modules("/lib/modules", "order");
	/* The fourth port, the workload's stdin, only when the host made one
	 * (omerta-vmboot --stdin-fd); else the workload reads /dev/null. */
	if (cmdline_has("omerta.stdin=1"))
		wait_ports(names, 4, dev);
	else {
		wait_ports(names, 3, dev);
		strcpy(dev[3], "/dev/null");
	}
	/* /init needs the paths even if a later step fails (it reports a crash). */
	printf("%s\n%s\n%s\n%s\n", dev[0], dev[1], dev[2], dev[3]);
	fflush(stdout);
	ctl = open(dev[0], O_WRONLY | O_APPEND | O_CLOEXEC);
	if (ctl < 0)
		die("no_omerta.ctl_port");
	on_fail = boot_fail;
	report("boot kernel=%lld", t_kernel);

	/* The job's parameters. */
	step = "unpack";
	read_job(&j);
	step = "modules";
	report("step name=modules");

	/* 2. The kill switch, before any interface is up. */
	cmd_killswitch(j.door, j.door_port);
	report("step name=killswitch");
	boot_failed_after_killswitch = 1;

	/* 3. lo, and eth0 statically. */
	cmd_net(j.guest_addr);
	report("step name=eth0");

	/* 4. wg0; the key's file goes as soon as the interface holds the key. */
	split_words(j.tunnel_addrs, addrs, &naddrs, 8);
	cmd_wg(WG_FILE, j.mtu, addrs, naddrs);
	unlink(WG_FILE);
	step = "wg";
	split_words(j.dns, dns, &ndns, 8);
	fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("/etc/resolv.conf");
	for (int i = 0; i < ndns; i++)
		dprintf(fd, "nameserver %s\n", dns[i]);
	close(fd);
	report("step name=wg");

	/* 5. Verify: the server's tunnel address answers through the tunnel. */
	step = "verify";
	errno = 0;
	tries = strtoul(j.verify_tries, &end, 10);
	if (*end || tries < 1 || tries > 1000)
		die("bad_verify_tries");
	t0 = now_ms();
	if (!strcmp(j.verify, "handshake")) {
		/* No server address to ping (a commercial VPN's config): the tunnel is
		 * verified by a completed handshake, which the keepalive interval that
		 * omerta-mkinitrd set makes the kernel start at once; the host believes
		 * it only once the door has seen the server's response too. One second
		 * a try, at most verify_tries of them. */
		for (n = 1; !wg_handshaken(); n++) {
			struct timespec nap = { 0, 100 * 1000 * 1000 };
			if ((unsigned long)n >= tries * 10) {
				errno = 0;
				die("no_handshake_from_the_server");
			}
			nanosleep(&nap, NULL);
		}
		n = (n + 9) / 10;
		/* The heartbeat's target: the config's resolver, asked by DNS (its answers
		 * are the tunnel's sign of life), or none. */
		if (ndns > 0)
			snprintf(j.server_ip, sizeof(j.server_ip), "dns:%.20s", dns[0]);
		else
			strcpy(j.server_ip, "none");
	} else {
		if (inet_pton(AF_INET, j.server_ip, &server) != 1)
			die("bad_server_ip");
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
		if (fd < 0)
			die("icmp_socket");
		for (n = 1; !echo_once(fd, server, (uint16_t)getpid(), (uint16_t)n); n++)
			if ((unsigned long)n >= tries) {
				errno = 0;
				die("no_reply_from_%s", j.server_ip);
			}
		close(fd);
	}
	setup_disks();
	step = "verify";
	report("vpn_up verify_ms=%lld tries=%d", now_ms() - t0, n);
	close(ctl);
	/* What /init needs for the workload and the heartbeat, after the three ports:
	 * words that omerta-mkinitrd checked, so the shell needs no parsing of its own. */
	printf("%s\n%s\n%s\n%s\n", j.server_ip, j.heartbeat, j.root, j.interpreter);
	return 0;
}

static void hb_term(int sig)
{
	(void)sig;
	hb_stop = 1;
}

/* Opens the control port for one record. A virtio port takes one opener at a time
 * (EBUSY for the next) and /init writes its own records between ours, each in a
 * moment: wait for it, up to a second, rather than lose the record. A SIGTERM ends a
 * nap early, not the waiting. */
static int open_ctl(const char *path)
{
	for (int i = 0;; i++) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		struct timespec nap = { 0, 5 * 1000 * 1000 };

		if (fd >= 0 || (errno != EBUSY && errno != EINTR) || i == 200)
			return fd;
		nanosleep(&nap, NULL);
	}
}

/* The heartbeat: every PERIOD seconds one ICMP echo to the server through the tunnel,
 * so that the door keeps hearing the server (WireGuard answers no keepalive), and the
 * drop counters, reported on CTL when they change. On SIGTERM the counters are
 * reported once more, whatever they are, and it exits. One process for the life of
 * the job: under TCG a busybox ping and a drops run every beat cost ~15 ms each time. */
static int cmd_heartbeat(const char *server_s, const char *period_s, const char *ctl_path)
{
	struct sigaction sa = { .sa_handler = hb_term };
	struct in_addr server;
	char last[64] = "out=0 in=0", d[64];
	unsigned long period;
	char *end;
	int fd, mode = 0; /* 0 ICMP echo, 1 DNS query, 2 nothing */

	step = "heartbeat";
	errno = 0;
	period = strtoul(period_s, &end, 10);
	/* SERVER_IP, or dns:IP (a DNS query to the config's resolver a beat), or none. */
	if (!strncmp(server_s, "dns:", 4))
		mode = 1, server_s += 4;
	else if (!strcmp(server_s, "none"))
		mode = 2, server_s = "0.0.0.0";
	if (inet_pton(AF_INET, server_s, &server) != 1 || *end || !*period_s || period < 1 || period > 3600)
		die("usage: heartbeat SERVER_IP|dns:IP|none SECONDS CTL");
	sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: a sleep or a poll ends at once */
	fd = mode == 2 ? -1 : socket(AF_INET, (mode ? SOCK_DGRAM : SOCK_RAW) | SOCK_CLOEXEC, mode ? 0 : IPPROTO_ICMP);
	if (fd < 0 && mode != 2)
		die("heartbeat_socket");
	for (uint16_t seq = 1000; !hb_stop; seq++) {
		struct timespec nap = { (time_t)period, 0 };
		while (!hb_stop && nanosleep(&nap, &nap) < 0 && errno == EINTR)
			;
		if (hb_stop)
			break;
		if (mode == 0)
			echo_once(fd, server, (uint16_t)getpid(), seq);
		else if (mode == 1)
			dns_probe(fd, server, seq);
		drops_string(d);
		if (strcmp(d, last) != 0) {
			/* Opened for each record: /init opens the port too. */
			ctl = open_ctl(ctl_path);
			report("drops %s", d);
			close(ctl);
			ctl = -1;
			strcpy(last, d);
		}
	}
	drops_string(d);
	ctl = open_ctl(ctl_path);
	report("drops %s", d);
	close(ctl);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "modules"))
		return cmd_modules(argv[2], "order");
	if (argc >= 3 && !strcmp(argv[1], "ports"))
		return cmd_ports(argv + 2, argc - 2);
	if (argc == 4 && !strcmp(argv[1], "killswitch"))
		return cmd_killswitch(argv[2], argv[3]);
	if (argc == 2 && !strcmp(argv[1], "drops"))
		return cmd_drops();
	if (argc == 3 && !strcmp(argv[1], "net"))
		return cmd_net(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "wg"))
		return cmd_wg(argv[2], argv[3], argv + 4, argc - 4);
	if (argc >= 3 && !strcmp(argv[1], "as-job"))
		return cmd_as_job(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "as-root"))
		return cmd_as_root(argv + 2);
	if (argc == 2 && !strcmp(argv[1], "boot"))
		return cmd_boot();
	if (argc == 5 && !strcmp(argv[1], "heartbeat"))
		return cmd_heartbeat(argv[2], argv[3], argv[4]);
	fputs("usage: omerta-guest modules DIR | ports NAME... | killswitch DOOR PORT | drops | net ADDR/PREFIX |"
	      " wg CONF MTU [ADDR/PREFIX...] | as-job PROG [ARG...] | as-root PROG [ARG...] | boot | heartbeat SERVER_IP SECONDS CTL\n",
	      stderr);
	return 2;
}
