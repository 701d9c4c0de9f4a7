/* omerta-provide: the one thing a requester's SSH key can run on a provider.
 *
 *   omerta-provide [--key NAME]          the forced command of authorized_keys, as the
 *                                        unprivileged account (omerta)
 *   omerta-provide --job CONF            the privileged half, run by sudo, exactly so
 *   omerta-provide status [--json]       slots, queue and live jobs
 *   omerta-provide check [CONF]          parse a policy, say what is wrong
 *   omerta-provide gc                    drop what dead waiters and jobs left
 *
 * The key's half (unprivileged) accepts only "omerta-provide --bundle OPTIONS" from
 * SSH_ORIGINAL_COMMAND, no terminal, and passes a request line and the stream to
 * "sudo -n omerta-provide --job CONF": a fixed command that sudoers names whole.
 * That half trusts nothing it is given: it parses the request again, reads the
 * bundle's header (bounded), grants the request under the policy or refuses it,
 * naming the limit, waits its turn in a FIFO queue, puts the job in a cgroup of its
 * own (memory with QEMU's overhead, CPU, pids), runs omerta-execute --bundle, ends the
 * job within a poll period when the requester's connection goes, and appends one line
 * to the audit log, refused jobs included.
 *
 * Exit status: a job's (omerta-exit(7)); 125 refused, with one line on stderr; 1 and
 * 2 for status, check and gc (bad policy, bad usage). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "om_cli.h"
#include "om_exec.h"
#include "om_json.h"
#include "om_policy.h"
#include "om_read.h"
#include "om_rundir.h"
#include "om_stream.h"

static const char usage_text[] =
	"usage: omerta-provide [--key NAME]\n"
	"       omerta-provide --job CONF\n"
	"       omerta-provide status [--json]\n"
	"       omerta-provide check [CONF]\n"
	"       omerta-provide gc\n";
static const char help_text[] =
	"\nThe forced command of a requester's key in authorized_keys:\n"
	"  restrict,command=\"omerta-provide\" ssh-ed25519 AAAA... (or --key NAME, which\n"
	"  names the key for the policy's [key NAME] section)\n"
	"It runs \"omerta-provide --bundle OPTIONS\" (what omerta submit sends) and refuses\n"
	"everything else with one line and exit 125: a shell, another command, a\n"
	"terminal, unknown options, a request outside the policy.\n"
	"--job CONF is the privileged half, for sudo alone (omerta-provide(8)).\n"
	"The policy is $OMERTA_PROVIDER_CONF, else /etc/omerta/provider.conf.\n";

#define DEFAULT_CONF "/etc/omerta/provider.conf"
#define GUARD "command -v omerta-provide >/dev/null 2>&1 || { echo 'omerta-provide is not installed on the provider' >&2; exit 125; }; exec "
#define REQ_MAGIC "omerta-provide-request 1 "
#define POLL_MS 100

/* snprintf that says when it cut: paths and messages are built only through it. */
__attribute__((format(printf, 3, 4))) static int fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;
	int n;
	va_start(ap, f);
	n = vsnprintf(out, len, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static _Noreturn void refuse(const char *fmt, ...)
{
	va_list ap;
	fputs("omerta-provide: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(125);
}

static const char *conf_path(void)
{
	const char *c = getenv("OMERTA_PROVIDER_CONF");
	return c && *c ? c : DEFAULT_CONF;
}

/* Reads one line of at most max bytes from fd, a byte at a time, so that nothing
 * after it is taken from the stream. 0; -1 at EOF or error; -2 when it is longer. */
static int read_line(int fd, char *buf, size_t max)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 >= max)
			return -2;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

/* The SHA256 fingerprint (as ssh-keygen -l prints it) of the key sshd says this
 * session used: ExposeAuthInfo writes "publickey TYPE BASE64" to SSH_USER_AUTH. */
static void key_fingerprint(char *out, size_t outlen)
{
	const char *path = getenv("SSH_USER_AUTH");
	char *buf = NULL, *line, *save = NULL;
	size_t len;

	out[0] = '\0';
	if (!path || !*path || om_read_path(path, 65536, &buf, &len))
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp1, *sp2, *b64;
		unsigned char blob[16384], h[crypto_hash_sha256_BYTES];
		size_t bl;
		if (strncmp(line, "publickey ", 10))
			continue;
		sp1 = line + 10;
		sp2 = strchr(sp1, ' ');
		if (!sp2)
			break;
		b64 = sp2 + 1;
		if (sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &bl, NULL,
				      sodium_base64_VARIANT_ORIGINAL))
			break;
		crypto_hash_sha256(h, blob, bl);
		char enc[sodium_base64_ENCODED_LEN(sizeof(h), sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
		sodium_bin2base64(enc, sizeof(enc), h, sizeof(h), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		fmt(out, outlen, "SHA256:%s", enc);
		break;
	}
	om_read_free(buf, len);
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 64 && s[0] != '-' && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == n;
}

/* ---- the key's half --------------------------------------------------------- */

static int key_half(const char *name)
{
	const char *cmd = getenv("SSH_ORIGINAL_COMMAND");
	char fp[128], self[PATH_MAX], sudo[PATH_MAX], line[OM_REQUEST_MAX + 256], err[200];
	struct om_request r;
	const char *conf = conf_path();
	ssize_t n;
	int p[2], st;
	pid_t pid;

	/* restrict gives no pty; a key without it must not get one either. */
	if (getenv("SSH_TTY") || isatty(0) || isatty(1) || isatty(2))
		refuse("no terminal: this key runs omerta jobs, not a shell");
	if (!cmd)
		refuse("no command: this key runs omerta jobs only (omerta submit --provider ssh://...)");
	/* omerta submit puts a guard in front, for a provider without omerta-provide. */
	if (!strncmp(cmd, GUARD, strlen(GUARD)))
		cmd += strlen(GUARD);
	if (strncmp(cmd, "omerta-provide ", 15))
		refuse("only omerta-provide --bundle is allowed: not a shell, not another command");
	if (om_request_parse(cmd + 15, &r, err, sizeof(err)))
		refuse("refused: %s", err);
	if (om_request_words(&r, line, sizeof(line)))
		refuse("refused: a command too long");
	key_fingerprint(fp, sizeof(fp));
	{
		char words[sizeof(line)];
		int m;
		memcpy(words, line, sizeof(words));
		m = fmt(line, sizeof(line), REQ_MAGIC "%s %s %s\n", fp[0] ? fp : "-", name ? name : "-", words);
		if (m < 0 || (size_t)m >= sizeof(line))
			refuse("refused: a command too long");
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		refuse("cannot find itself: %s", strerror(errno));
	self[n] = '\0';
	/* Root (a provider that lets root's own key in) needs no sudo. */
	if (geteuid() != 0) {
		if (om_which("sudo", sudo))
			refuse("sudo is missing on the provider (apt-get install sudo)");
		/* sudo -l: is exactly this command allowed? A provider set up wrong says so,
		 * not with sudo's exit 1 that a workload's own 1 would look like. */
		const char *const chk[] = { "sudo", "-n", "-l", "--", self, "--job", conf, NULL };
		if (om_run(chk, NULL, 0, NULL, OM_RUN_QUIET) != 0)
			refuse("sudo does not allow this account '%s --job %s' (omerta-provide(8))", self, conf);
	}
	signal(SIGPIPE, SIG_IGN);
	if (pipe(p))
		refuse("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		refuse("fork: %s", strerror(errno));
	if (pid == 0) {
		const char *const sargv[] = { "sudo", "-n", "--", self, "--job", conf, NULL };
		const char *const rargv[] = { self, "--job", conf, NULL };
		const char *const *argv = geteuid() ? sargv : rargv;
		static const char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
		char *const *av, *const *ev;
		const char *const *e = envp;
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		memcpy(&av, &argv, sizeof(av));
		memcpy(&ev, &e, sizeof(ev));
		execve(geteuid() ? sudo : self, av, ev);
		_exit(125);
	}
	close(p[0]);
	if (om_write_all(p[1], line, strlen(line)) == 0) {
		char buf[65536];
		for (;;) {
			/* The privileged half may end first (a refusal, a job done) while our
			 * stdin idles: its pipe's error ends the copy, not the requester's EOF. */
			struct pollfd pf[2] = { { .fd = 0, .events = POLLIN }, { .fd = p[1], .events = 0 } };
			if (poll(pf, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (pf[1].revents & (POLLERR | POLLHUP))
				break;
			if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r2 = read(0, buf, sizeof(buf));
			if (r2 < 0 && errno == EINTR)
				continue;
			if (r2 <= 0 || om_write_all(p[1], buf, (size_t)r2))
				break;
		}
	}
	close(p[1]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 125;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- the policy ------------------------------------------------------------- */

/* Reads and parses the policy. root: it must be root's, writable by root alone (the
 * account it polices must not be able to change it). */
static int load_policy(const char *path, struct om_policy *p, bool root_only, char *err, size_t errlen)
{
	char *buf = NULL, perr[200];
	size_t len = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		fmt(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		fmt(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (root_only && (st.st_uid != 0 || (st.st_mode & 022))) {
		close(fd);
		fmt(err, errlen, "%s: must be root's and writable by root alone", path);
		return -1;
	}
	int rr = om_read_fd(fd, OM_POLICY_MAX, &buf, &len);
	close(fd);
	if (rr) {
		fmt(err, errlen, "%s: %s", path, rr == -2 ? "over 65536 bytes" : strerror(errno));
		return -1;
	}
	rr = om_policy_parse(buf, len, p, perr, sizeof(perr));
	om_read_free(buf, len);
	if (rr) {
		fmt(err, errlen, "%s: %s", path, perr);
		return -1;
	}
	return 0;
}

static const char *run_dir(const struct om_policy *p)
{
	return p->run_dir[0] ? p->run_dir : "/run/omerta";
}

/* ---- cgroups ------------------------------------------------------------------ */

/* One job's cgroups: v2 (one directory) or v1 (memory, cpu and pids, each its own). */
struct cg {
	bool v2;
	char dir[3][PATH_MAX]; /* v1: memory, cpu, pids; v2: dir[0] */
	int n;
	char oom[PATH_MAX]; /* the file with oom_kill N */
};

__attribute__((format(printf, 3, 4))) static int put(const char *dir, const char *file, const char *f, ...)
{
	char path[PATH_MAX + 64], v[64];
	va_list ap;
	va_start(ap, f);
	vsnprintf(v, sizeof(v), f, ap);
	va_end(ap);
	if (fmt(path, sizeof(path), "%s/%s", dir, file) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return om_write_knob(path, v);
}

/* The mount of a v1 controller, and this process's cgroup in it. */
static int v1_find(const char *ctrl, char *mnt, size_t mlen, char *own, size_t olen)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[PATH_MAX], type[64], opts[512];
	bool found = false;

	if (!f)
		return -1;
	while (fscanf(f, "%255s %4095s %63s %511s %*d %*d", dev, dir, type, opts) == 4) {
		char *save = NULL;
		if (strcmp(type, "cgroup"))
			continue;
		for (char *t = strtok_r(opts, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, ctrl)) {
				fmt(mnt, mlen, "%s", dir);
				found = true;
			}
		if (found)
			break;
	}
	fclose(f);
	if (!found)
		return -1;
	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	char line[PATH_MAX + 128];
	found = false;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *save = NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		line[strcspn(line, "\n")] = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		for (char *t = strtok_r(c1 + 1, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, ctrl)) {
				fmt(own, olen, "%s", strcmp(c2 + 1, "/") ? c2 + 1 : "");
				found = true;
			}
		if (found)
			break;
	}
	fclose(f);
	return found ? 0 : -1;
}

static bool v2_has_memory(const char *mnt)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len;
	bool yes;
	fmt(path, sizeof(path), "%s/cgroup.controllers", mnt);
	if (om_read_path(path, 4096, &buf, &len))
		return false;
	yes = strstr(buf, "memory") && strstr(buf, "pids");
	om_read_free(buf, len);
	return yes;
}

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	fmt(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* Makes the job's cgroup(s) with its limits; 0, or -1 with the reason in err. */
static int cg_make(struct cg *c, const struct om_policy *p, const char *job, unsigned mem_mib, unsigned cpu,
		   unsigned pids, char *err, size_t errlen)
{
	static const char *const ctrls[3] = { "memory", "cpu", "pids" };
	const char *parent = p->cgroup_parent[0] ? p->cgroup_parent : NULL;
	unsigned long long bytes = (unsigned long long)mem_mib << 20;

	memset(c, 0, sizeof(*c));
	if (v2_has_memory("/sys/fs/cgroup")) {
		/* v2: below the root (the one group where processes and children may mix),
		 * with the controllers given to the subtree on the way down. */
		char par[PATH_MAX];
		fmt(par, sizeof(par), "/sys/fs/cgroup%s", parent ? parent : "/omerta");
		if (mkdirs(par)) {
			fmt(err, errlen, "cgroup %s: %s", par, strerror(errno));
			return -1;
		}
		for (char *s = par + strlen("/sys/fs/cgroup");; s = strchr(s + 1, '/')) {
			char up[PATH_MAX];
			fmt(up, sizeof(up), "%.*s", (int)(s - par), par);
			put(up, "cgroup.subtree_control", "+memory +cpu +pids");
			if (!s || !strchr(s + 1, '/'))
				break;
		}
		put(par, "cgroup.subtree_control", "+memory +cpu +pids");
		c->v2 = true;
		fmt(c->dir[0], sizeof(c->dir[0]), "%s/%s", par, job);
		/* Counted only once made: a group of that name (a job ID in use) is
		 * another job's, and cg_remove must never touch it. */
		if (mkdir(c->dir[0], 0755)) {
			fmt(err, errlen, "cgroup %s: %s", c->dir[0], strerror(errno));
			return -1;
		}
		c->n = 1;
		fmt(c->oom, sizeof(c->oom), "%s/memory.events", c->dir[0]);
		if (put(c->dir[0], "memory.max", "%llu", bytes) || put(c->dir[0], "memory.swap.max", "0") < -1 ||
		    put(c->dir[0], "cpu.max", "%u 100000", cpu * 100000) || put(c->dir[0], "pids.max", "%u", pids)) {
			fmt(err, errlen, "cgroup %s: limits: %s", c->dir[0], strerror(errno));
			return -1;
		}
		/* No memory.oom.group: it would end omerta-execute with QEMU, and its
		 * teardown and the memory_exceeded record with it. */
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		char mnt[PATH_MAX], own[PATH_MAX], par[PATH_MAX];
		if (v1_find(ctrls[i], mnt, sizeof(mnt), own, sizeof(own))) {
			fmt(err, errlen, "no %s cgroup (v1 or v2) on this host", ctrls[i]);
			return -1;
		}
		/* v1: below the group this process is in (its own limits still hold). */
		if (parent)
			fmt(par, sizeof(par), "%s%s", mnt, parent);
		else
			fmt(par, sizeof(par), "%s%s/omerta", mnt, own);
		if (mkdirs(par)) {
			fmt(err, errlen, "cgroup %s: %s", par, strerror(errno));
			return -1;
		}
		fmt(c->dir[i], sizeof(c->dir[i]), "%s/%s", par, job);
		if (mkdir(c->dir[i], 0755)) {
			fmt(err, errlen, "cgroup %s: %s", c->dir[i], strerror(errno));
			return -1;
		}
		c->n = i + 1;
	}
	fmt(c->oom, sizeof(c->oom), "%s/memory.oom_control", c->dir[0]);
	/* memsw where the kernel has it: swap would let QEMU's pages slip the limit. */
	if (put(c->dir[0], "memory.limit_in_bytes", "%llu", bytes) ||
	    put(c->dir[1], "cpu.cfs_period_us", "100000") || put(c->dir[1], "cpu.cfs_quota_us", "%u", cpu * 100000) ||
	    put(c->dir[2], "pids.max", "%u", pids)) {
		fmt(err, errlen, "cgroup limits: %s", strerror(errno));
		return -1;
	}
	put(c->dir[0], "memory.memsw.limit_in_bytes", "%llu", bytes);
	return 0;
}

static void cg_join(const struct cg *c)
{
	for (int i = 0; i < c->n; i++)
		if (put(c->dir[i], "cgroup.procs", "0")) {
			fprintf(stderr, "omerta-provide: cgroup %s: %s\n", c->dir[i], strerror(errno));
			_exit(125);
		}
}

/* Kills whatever is left in the job's groups and removes them. */
static void cg_remove(const struct cg *c)
{
	for (int tries = 0; tries < 50; tries++) {
		bool busy = false;
		for (int i = 0; i < c->n; i++) {
			char path[PATH_MAX + 16];
			FILE *f;
			long pid;
			fmt(path, sizeof(path), "%s/cgroup.procs", c->dir[i]);
			if (!(f = fopen(path, "re")))
				continue;
			while (fscanf(f, "%ld", &pid) == 1) {
				kill((pid_t)pid, SIGKILL);
				busy = true;
			}
			fclose(f);
		}
		if (!busy)
			break;
		usleep(100000);
	}
	for (int i = 0; i < c->n; i++)
		for (int tries = 0; tries < 20 && rmdir(c->dir[i]) && errno == EBUSY; tries++)
			usleep(50000);
}

static long long oom_kills(const struct cg *c)
{
	char *buf = NULL, *s;
	size_t len;
	long long n = 0;
	if (!c->oom[0] || om_read_path(c->oom, 65536, &buf, &len))
		return 0;
	if ((s = strstr(buf, "oom_kill ")))
		n = atoll(s + 9);
	om_read_free(buf, len);
	return n;
}

/* ---- the queue ------------------------------------------------------------------- */

/* In RUN/provide (root's): ".lock" guards the rest; a waiter
 * holds a lock on "wait.TICKET" while it waits, a job one on "slot.N" while it runs
 * (its text: "JOB KEY START_MS"). A lock dies with its holder, so nothing stale is
 * ever counted: what a dead one left is removed at the next look. */
struct queue {
	char dir[PATH_MAX];
	int lock, slot, waitfd;
	unsigned ticket, slot_n;
};

static int qlock(struct queue *q)
{
	while (flock(q->lock, LOCK_EX) && errno == EINTR)
		;
	return 0;
}

static void qunlock(struct queue *q)
{
	flock(q->lock, LOCK_UN);
}

/* Live waiters' tickets, sorted; with clean (the queue's lock held exclusive), the
 * stale ones removed. */
static size_t waiters(struct queue *q, unsigned *t, size_t max, bool clean)
{
	DIR *d = opendir(q->dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[PATH_MAX + 300];
		unsigned long v;
		char *end;
		int fd;
		if (strncmp(e->d_name, "wait.", 5))
			continue;
		v = strtoul(e->d_name + 5, &end, 10);
		if (*end)
			continue;
		fmt(path, sizeof(path), "%s/%s", q->dir, e->d_name);
		if ((unsigned)v != q->ticket || q->waitfd < 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0)
				continue;
			if (flock(fd, (clean ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) { /* its waiter is gone */
				if (clean)
					unlink(path);
				close(fd);
				continue;
			}
			close(fd);
		}
		if (n < max)
			t[n++] = (unsigned)v;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
			unsigned x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	return n;
}

static int take_slot(struct queue *q, unsigned slots)
{
	for (unsigned i = 0; i < slots; i++) {
		char path[PATH_MAX + 32];
		int fd;
		fmt(path, sizeof(path), "%s/slot.%u", q->dir, i);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			q->slot = fd;
			q->slot_n = i;
			return 0;
		}
		close(fd);
	}
	return -1;
}

/* The slot's file goes under the queue's lock: no one opens one outside it. */
static void release_slot(struct queue *q)
{
	char path[PATH_MAX + 32];
	if (q->slot < 0)
		return;
	qlock(q);
	fmt(path, sizeof(path), "%s/slot.%u", q->dir, q->slot_n);
	unlink(path);
	close(q->slot);
	q->slot = -1;
	qunlock(q);
}

static struct queue *held; /* the slot a refusal must give back */
static struct cg *held_cg;  /* and the cgroup */

static bool peer_gone(void)
{
	struct pollfd pf = { .fd = 1, .events = 0 };
	return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLERR | POLLHUP));
}

static volatile sig_atomic_t got_signal;
static void on_signal(int s)
{
	got_signal = s;
}

/* sudo passes on to its command any signal its caller sends it (TERM, HUP, INT,
 * QUIT, USR1, USR2, and ALRM as HUP and TERM): each of them ends the job the one way,
 * with its teardown and its audit line, and none may kill or stop this half while the
 * job runs on without it. */
static void catch_signals(void)
{
	static const int end[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM };
	static const int ign[] = { SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	for (size_t i = 0; i < sizeof(end) / sizeof(end[0]); i++)
		sigaction(end[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
		sigaction(ign[i], &sa, NULL);
}

static void default_signals(void)
{
	static const int all[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
				   SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		signal(all[i], SIG_DFL);
}

/* Waits for a slot: 0 with it held; 1 refused (the queue is full: err says so); 2
 * the requester went away or a signal came while it waited. */
static int enqueue(struct queue *q, const struct om_policy *p, int *position, long long *waited, char *err,
		   size_t errlen)
{
	unsigned t[1100];
	size_t n;
	long long t0 = om_clock_ms();
	int shown = 0;

	*position = 0;
	*waited = 0;
	q->waitfd = -1;
	qlock(q);
	n = waiters(q, t, sizeof(t) / sizeof(t[0]), true);
	if (n == 0 && take_slot(q, p->slots) == 0) {
		qunlock(q);
		return 0;
	}
	if (n >= p->queue) {
		qunlock(q);
		fmt(err, errlen, "queue full: all %u slots busy and %zu waiting (queue = %u)", p->slots, n, p->queue);
		return 1;
	}
	{
		char path[PATH_MAX + 32];
		/* The next ticket: past every live one (only they are ever compared). */
		q->ticket = n ? t[n - 1] + 1 : 1;
		fmt(path, sizeof(path), "%s/wait.%010u", q->dir, q->ticket);
		q->waitfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (q->waitfd < 0 || flock(q->waitfd, LOCK_EX | LOCK_NB)) {
			qunlock(q);
			fmt(err, errlen, "queue: %s: %s", path, strerror(errno));
			return 1;
		}
	}
	qunlock(q);
	for (;;) {
		size_t ahead = 0;
		qlock(q);
		n = waiters(q, t, sizeof(t) / sizeof(t[0]), true);
		while (ahead < n && t[ahead] < q->ticket)
			ahead++;
		if (ahead == 0 && take_slot(q, p->slots) == 0) {
			char path[PATH_MAX + 32];
			fmt(path, sizeof(path), "%s/wait.%010u", q->dir, q->ticket);
			unlink(path);
			close(q->waitfd);
			q->waitfd = -1;
			qunlock(q);
			*waited = om_clock_ms() - t0;
			return 0;
		}
		qunlock(q);
		if ((int)ahead + 1 != shown) {
			shown = (int)ahead + 1;
			if (!*position)
				*position = shown;
			fprintf(stderr, "omerta-provide: queued, position %d\n", shown);
		}
		if (peer_gone() || got_signal) {
			char path[PATH_MAX + 32];
			fmt(path, sizeof(path), "%s/wait.%010u", q->dir, q->ticket);
			unlink(path);
			close(q->waitfd);
			q->waitfd = -1;
			return 2;
		}
		usleep(POLL_MS * 1000);
	}
}

/* ---- the audit log --------------------------------------------------------------- */

static void requested_json(struct om_json *j, const char *key, const struct om_request *r, const struct om_bundle *b)
{
	om_json_obj_open(j, key);
	om_json_int(j, "cpu", r->cpu);
	if (r->has_memory)
		om_json_int(j, "memory_mib", r->memory);
	else
		om_json_null(j, "memory_mib");
	if (r->has_timeout)
		om_json_int(j, "timeout_s", r->timeout);
	else
		om_json_null(j, "timeout_s");
	om_json_int(j, "disk_mib", r->disk);
	om_json_str(j, "image", r->image[0] ? r->image : (b->image ? "(file)" : NULL));
	om_json_bool(j, "root", r->root);
	om_json_int(j, "input_bytes", (long long)b->input);
	om_json_int(j, "image_bytes", (long long)b->image);
	if (r->output)
		om_json_int(j, "output_max", r->has_output_max ? (long long)r->output_max : -1);
	else
		om_json_null(j, "output_max");
	om_json_obj_close(j);
}

/* The provider's part of an audit line, open (the caller adds and closes). */
static void audit_head(struct om_json *j, const char *fp, const char *name, const char *job)
{
	time_t t = time(NULL);
	char ts[32];
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	om_json_obj_open(j, NULL);
	om_json_str(j, "time", ts);
	om_json_str(j, "key", fp && *fp ? fp : NULL);
	om_json_str(j, "key_name", name && *name ? name : NULL);
	om_json_str(j, "sudo_user", getenv("SUDO_USER"));
	om_json_str(j, "job_id", job);
}

static void audit_append(const struct om_policy *p, const char *line, size_t n)
{
	char dir[PATH_MAX];
	int fd;
	fmt(dir, sizeof(dir), "%s", p->audit_log);
	*strrchr(dir, '/') = '\0';
	if (*dir)
		mkdirs(dir);
	if (*dir && !om_path_trusted(dir, 0, NULL, 0)) {
		fprintf(stderr, "omerta-provide: audit log %s: a folder on its path is not root's alone\n", p->audit_log);
		return;
	}
	fd = open(p->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		fprintf(stderr, "omerta-provide: audit log %s: %s\n", p->audit_log, strerror(errno));
		return;
	}
	flock(fd, LOCK_EX);
	if (om_write_all(fd, line, n))
		fprintf(stderr, "omerta-provide: audit log %s: %s\n", p->audit_log, strerror(errno));
	close(fd);
}

/* A refusal: one line on stderr, a result record when the request asked for --json
 * (inside an omerta-files stream with --output -), one audit line, and 125. */
static _Noreturn void refuse_job(const struct om_policy *p, const char *fp, const char *name,
				 const struct om_request *r, const struct om_bundle *b, const char *why)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *m;
	struct om_json j;

	fprintf(stderr, "omerta-provide: refused: %s\n", why);
	if (held_cg)
		cg_remove(held_cg);
	if (held)
		release_slot(held);
	if (r && r->json) {
		m = open_memstream(&buf, &n);
		if (m) {
			om_json_init(&j, m);
			om_json_obj_open(&j, NULL);
			om_json_str(&j, "event", "result");
			om_json_str(&j, "job_id", r->job_id);
			om_json_str(&j, "status", "refused");
			om_json_null(&j, "exit_code");
			om_json_str(&j, "reason", why);
			om_json_obj_close(&j);
			om_json_end(&j);
			fclose(m);
			if (r->output) {
				char hdr[64];
				int h = fmt(hdr, sizeof(hdr), "omerta-files 1\nx refused\ns %zu\n", n);
				om_write_all(1, hdr, (size_t)h);
			}
			om_write_all(1, buf, n);
			free(buf);
			buf = NULL;
		}
	}
	if (p) {
		m = open_memstream(&buf, &n);
		if (m) {
			om_json_init(&j, m);
			audit_head(&j, fp, name, r ? r->job_id : NULL);
			if (r && b)
				requested_json(&j, "requested", r, b);
			else
				om_json_null(&j, "requested");
			om_json_null(&j, "granted");
			om_json_str(&j, "status", "refused");
			om_json_str(&j, "reason", why);
			om_json_null(&j, "exit_code");
			om_json_obj_close(&j);
			om_json_end(&j);
			fclose(m);
			audit_append(p, buf, n);
			free(buf);
		}
	}
	exit(125);
}

/* ---- the privileged half ---------------------------------------------------------- */

static int job_half(const char *conf)
{
	struct om_policy *p = calloc(1, sizeof(*p));
	struct om_limits l;
	struct om_request r, asked;
	struct om_bundle b = { 0 };
	struct queue q = { .lock = -1, .slot = -1, .waitfd = -1 };
	struct cg c;
	char err[300], line[OM_REQUEST_MAX + 300], hdr[300], fp[128], name[64], words[OM_REQUEST_MAX + 64];
	char *f1, *f2, *rest, rec[PATH_MAX + 64];
	int position, st, rc;
	long long waited, t_start;
	pid_t pid;
	int in[2];

	if (!p)
		refuse("out of memory");
	if (geteuid() != 0)
		refuse("--job is the privileged half: sudo runs it (omerta-provide(8))");
	catch_signals();
	/* Nothing is looked up relative to where the caller stood (an image NAME). */
	if (chdir("/"))
		refuse("chdir /: %s", strerror(errno));
	if (load_policy(conf, p, true, err, sizeof(err)))
		refuse("policy: %s", err);
	{
		const char *su = getenv("SUDO_USER");
		if (su && strcmp(su, p->account))
			refuse("sudo from '%s', not the policy's account '%s'", su, p->account);
	}
	/* The request line, from the key's half (or whoever holds the account: parsed
	 * again, as a stranger's). */
	if (read_line(0, line, sizeof(line)) || strncmp(line, REQ_MAGIC, strlen(REQ_MAGIC)))
		refuse("no request");
	f1 = line + strlen(REQ_MAGIC);
	f2 = strchr(f1, ' ');
	rest = f2 ? strchr(f2 + 1, ' ') : NULL;
	if (!rest)
		refuse("a bad request line");
	*f2 = *rest = '\0';
	if (fmt(fp, sizeof(fp), "%s", strcmp(f1, "-") ? f1 : "") < 0 ||
	    fmt(name, sizeof(name), "%s", strcmp(f2 + 1, "-") ? f2 + 1 : "") < 0)
		refuse("a bad key in the request");
	if ((fp[0] && (strncmp(fp, "SHA256:", 7) || strlen(fp) != 50 ||
		       strspn(fp + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != 43)) ||
	    (name[0] && !name_ok(name)))
		refuse("a bad key in the request");
	if (om_request_parse(rest + 1, &r, err, sizeof(err)))
		refuse_job(p, fp, name, NULL, NULL, err);
	asked = r;
	/* The bundle's header: a line of at most 255 bytes; a longer one (a 2 GiB
	 * "header") is refused at its 256th byte, before anything else is read. */
	switch (read_line(0, hdr, 256)) {
	case -1: refuse_job(p, fp, name, &r, &b, "no bundle on stdin");
	case -2: refuse_job(p, fp, name, &r, &b, "a bundle header over 255 bytes");
	default: break;
	}
	if (om_bundle_parse(hdr, &b, err, sizeof(err)))
		refuse_job(p, fp, name, &r, &b, err);
	/* A policy with per-fingerprint limits needs the fingerprint: without it (sshd's
	 * ExposeAuthInfo off) a key could slip a section that limits it more. */
	if (!fp[0])
		for (size_t i = 0; i < p->nkeys; i++)
			if (!strncmp(p->keys[i].id, "SHA256:", 7))
				refuse_job(p, fp, name, &r, &b,
					   "no key fingerprint (sshd's ExposeAuthInfo is off), and the policy has [key SHA256:...] limits");
	om_policy_limits(p, fp, name, &l);
	if (om_policy_grant(&l, &r, &b, err, sizeof(err)))
		refuse_job(p, fp, name, &asked, &b, err);
	/* The queue. */
	fmt(q.dir, sizeof(q.dir), "%s/provide", run_dir(p));
	if (mkdirs(run_dir(p)) || (mkdir(q.dir, 0700) && errno != EEXIST)) {
		fmt(err, sizeof(err), "%s: %s", q.dir, strerror(errno));
		refuse_job(p, fp, name, &asked, &b, err);
	}
	{
		char lp[PATH_MAX + 16];
		struct stat sd;
		fmt(lp, sizeof(lp), "%s/.lock", q.dir);
		if (lstat(q.dir, &sd) || !S_ISDIR(sd.st_mode) || sd.st_uid != 0 || (sd.st_mode & 077) ||
		    !om_path_trusted(q.dir, 0, NULL, 0))
			refuse_job(p, fp, name, &asked, &b, "the queue's folder, or one on its path, is not root's alone");
		q.lock = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (q.lock < 0)
			refuse_job(p, fp, name, &asked, &b, "the queue's lock cannot be opened");
	}
	switch (enqueue(&q, p, &position, &waited, err, sizeof(err))) {
	case 1: refuse_job(p, fp, name, &asked, &b, err);
	case 2: refuse_job(p, fp, name, &asked, &b, "the requester went away while the job waited");
	default: break;
	}
	held = &q;
	t_start = om_clock_ms();
	{
		char info[200];
		int m = fmt(info, sizeof(info), "%s %s %lld\n", r.job_id, fp[0] ? fp : name[0] ? name : "-", t_start);
		if (ftruncate(q.slot, 0) || pwrite(q.slot, info, (size_t)m, 0) != m)
			fprintf(stderr, "omerta-provide: slot %u: %s\n", q.slot_n, strerror(errno));
	}
	held_cg = &c;
	if (cg_make(&c, p, r.job_id, r.memory + l.memory_overhead, r.cpu, l.max_pids, err, sizeof(err)))
		refuse_job(p, fp, name, &asked, &b, err);
	fmt(rec, sizeof(rec), "%s/record.%s", q.dir, r.job_id);
	unlink(rec);
	if (om_request_words(&r, words, sizeof(words)))
		refuse_job(p, fp, name, &asked, &b, "a request too long");
	if (pipe(in))
		refuse_job(p, fp, name, &asked, &b, "pipe failed");
	pid = fork();
	if (pid < 0)
		refuse_job(p, fp, name, &asked, &b, "fork failed");
	if (pid == 0) {
		/* The job: in its cgroup, with a clean environment of the policy's, and
		 * this install's omerta-execute: beside this binary (a checkout's bin/), or
		 * in its PREFIX/sbin (installed: this is PREFIX/bin/omerta-provide, and the
		 * root-only tools are in sbin); PATH's only when neither has one. */
		char self[PATH_MAX], path[2 * PATH_MAX + 64], exe[PATH_MAX + 32], env[12][2 * PATH_MAX + 32], *argv[48];
		const char *envp[13];
		size_t ne = 0, na = 0;
		ssize_t sn = readlink("/proc/self/exe", self, sizeof(self) - 1);
		char *save = NULL;
		default_signals();
		/* Should this half die, the job hears it and tears itself down; the slot's
		 * lock, inherited, stays held while the job lives. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fcntl(q.slot, F_SETFD, 0);
		cg_join(&c);
		dup2(in[0], 0);
		close(in[0]);
		close(in[1]);
		self[sn > 0 ? sn : 0] = '\0';
		if (strrchr(self, '/'))
			*strrchr(self, '/') = '\0';
		fmt(path, sizeof(path), "PATH=%s:%s/../sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", self, self);
		fmt(exe, sizeof(exe), "%s/omerta-execute", self);
		if (access(exe, X_OK))
			fmt(exe, sizeof(exe), "%s/../sbin/omerta-execute", self);
		fmt(env[ne++], sizeof(env[0]), "%s", path);
		fmt(env[ne++], sizeof(env[0]), "LC_ALL=C");
		fmt(env[ne++], sizeof(env[0]), "HOME=/root");
		fmt(env[ne++], sizeof(env[0]), "OMERTA_UID_RANGE=%u-%u", p->uid_lo, p->uid_hi);
		fmt(env[ne++], sizeof(env[0]), "OMERTA_OOM_FILE=%s", c.oom);
		fmt(env[ne++], sizeof(env[0]), "OMERTA_MEMORY_LIMIT_MIB=%u", r.memory + l.memory_overhead);
		if (position)
			fmt(env[ne++], sizeof(env[0]), "OMERTA_QUEUED=%d %lld", position, waited);
		if (p->run_dir[0])
			fmt(env[ne++], sizeof(env[0]), "OMERTA_RUN_DIR=%s", p->run_dir);
		if (p->cache_dir[0])
			fmt(env[ne++], sizeof(env[0]), "OMERTA_CACHE_DIR=%s", p->cache_dir);
		if (p->disk_dir[0])
			fmt(env[ne++], sizeof(env[0]), "OMERTA_DISK_DIR=%s", p->disk_dir);
		if (p->image_dir[0])
			fmt(env[ne++], sizeof(env[0]), "OMERTA_IMAGE_DIR=%s", p->image_dir);
		for (size_t i = 0; i < ne; i++)
			envp[i] = env[i];
		envp[ne] = NULL;
		argv[na++] = exe;
		for (char *t = strtok_r(words, " ", &save); t && na < 44; t = strtok_r(NULL, " ", &save))
			argv[na++] = t;
		argv[na++] = "--record";
		argv[na++] = rec;
		argv[na] = NULL;
		if (access(exe, X_OK))
			fmt(exe, sizeof(exe), "omerta-execute");
		{
			char *const *ev;
			const char *const *e = envp;
			memcpy(&ev, &e, sizeof(ev));
			execvpe(exe, argv, ev);
		}
		fprintf(stderr, "omerta-provide: omerta-execute: %s\n", strerror(errno));
		_exit(125);
	}
	close(in[0]);
	/* The bundle's header, then the rest of our stdin, to the job; meanwhile, the
	 * requester's connection: when sshd closes our stdout, the requester is gone
	 * (its ssh killed, Ctrl-C, a lost link), and the job ends now, not after the
	 * tunnel's silence. */
	{
		/* The pipe to the job does not block: a job that reads nothing more (no
		 * --stdin, or a guest that stops reading) must not keep us from watching
		 * the connection and the signals. */
		static char buf[65536];
		size_t len = strlen(hdr), off = 0;
		bool in_open = true, eof = false, killed = false;
		long long kill_at = 0;
		memcpy(buf, hdr, len);
		buf[len++] = '\n';
		fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
		for (;;) {
			struct pollfd pf[3];
			nfds_t np = 0;
			int i_out = -1, i_in = -1, i_pipe = -1;
			pid_t w = waitpid(pid, &st, WNOHANG);
			if (w == pid)
				break;
			if (!killed)
				i_out = (int)np, pf[np++] = (struct pollfd){ .fd = 1, .events = 0 };
			if (in_open && off == len && !eof)
				i_in = (int)np, pf[np++] = (struct pollfd){ .fd = 0, .events = POLLIN };
			if (in_open && off < len)
				i_pipe = (int)np, pf[np++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
			int pr = poll(pf, np, POLL_MS);
			if (pr < 0 && errno != EINTR)
				usleep(POLL_MS * 1000);
			if (!killed && ((pr > 0 && i_out >= 0 && (pf[i_out].revents & (POLLERR | POLLHUP))) || got_signal)) {
				kill(pid, SIGTERM);
				killed = true;
				kill_at = om_clock_ms();
			}
			if (killed && om_clock_ms() - kill_at > 5000) {
				/* execute did not finish its teardown in 5 s: the whole group goes. */
				cg_remove(&c);
				kill_at = om_clock_ms();
			}
			if (pr <= 0)
				continue;
			if (i_in >= 0 && (pf[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
				ssize_t n = read(0, buf, sizeof(buf));
				if (n > 0)
					off = 0, len = (size_t)n;
				else if (n == 0 || errno != EINTR)
					eof = true;
			}
			if (i_pipe >= 0 && (pf[i_pipe].revents & (POLLOUT | POLLERR | POLLHUP))) {
				ssize_t n = write(in[1], buf + off, len - off);
				if (n > 0)
					off += (size_t)n;
				else if (n < 0 && errno != EAGAIN && errno != EINTR) {
					close(in[1]);
					in_open = false;
				}
			}
			if (in_open && eof && off == len) {
				close(in[1]);
				in_open = false;
			}
		}
		if (in_open)
			close(in[1]);
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (killed && !got_signal)
			fprintf(stderr, "omerta-provide: the requester went away: job %s stopped\n", r.job_id);
	}
	long long ooms = oom_kills(&c);
	cg_remove(&c);
	held_cg = NULL;
	/* The audit line: ours, and the result record's own fields (jq reads it: the
	 * record is execute's, made from what the guest reported, so it is parsed, not
	 * pasted). */
	{
		char *buf = NULL, *out = NULL;
		size_t n = 0;
		FILE *m = open_memstream(&buf, &n);
		struct om_json j;
		if (m) {
			char rcs[16];
			om_json_init(&j, m);
			audit_head(&j, fp, name, r.job_id);
			requested_json(&j, "requested", &asked, &b);
			requested_json(&j, "granted", &r, &b);
			om_json_int(&j, "slot", q.slot_n);
			om_json_int(&j, "queue_position", position);
			om_json_int(&j, "queued_ms", waited);
			om_json_int(&j, "started_ms", t_start);
			om_json_int(&j, "ended_ms", om_clock_ms());
			om_json_int(&j, "oom_kills", ooms);
			/* Without jq (or with a record it cannot read) the line still says how
			 * the job ended; jq's fields replace these. */
			om_json_str(&j, "status", ooms ? "memory_exceeded" : "error");
			om_json_int(&j, "exit_code", rc);
			om_json_obj_close(&j);
			om_json_end(&j);
			fclose(m);
			fmt(rcs, sizeof(rcs), "%d", rc);
			const char *const jq[] = {
				"jq", "-c", "--argjson", "p", buf, "--argjson", "rc", rcs, "--rawfile", "r", rec, "-n",
				"($r | try fromjson catch null) as $x | $p + {"
				"description: $x.description, status: ($x.status // \"error\"), "
				"exit_code: ($x.exit_code // (if $x == null then $rc else null end)), "
				"reason: $x.reason, tunnel: {tx_bytes: ($x.tunnel.tx_bytes // 0), "
				"rx_bytes: ($x.tunnel.rx_bytes // 0)}, blocked_frames: ($x.blocked.frames // 0), "
				"detection_ms: $x.detection_ms}",
				NULL
			};
			if (access(rec, R_OK))
				close(open(rec, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
			if (om_run(jq, NULL, 0, &out, OM_RUN_QUIET) == 0 && out && *out)
				audit_append(p, out, strlen(out));
			else
				audit_append(p, buf, n);
			free(out);
			free(buf);
		}
	}
	unlink(rec);
	release_slot(&q);
	return rc;
}

/* Slot N's job, while a holder has it: its text "JOB KEY START_MS" (written once the
 * slot is taken). false when the slot is free or says nothing yet. A shared probe:
 * callers hold the queue's lock, so no taker is turned away by it. */
static bool slot_info(const struct queue *q, unsigned n, char job[64], char key[128], long long *start)
{
	char path[PATH_MAX + 32], info[200] = "";
	ssize_t r;
	int fd;

	fmt(path, sizeof(path), "%s/slot.%u", q->dir, n);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) { /* free */
		close(fd);
		return false;
	}
	r = read(fd, info, sizeof(info) - 1);
	close(fd);
	info[r > 0 ? r : 0] = '\0';
	return sscanf(info, "%63s %127s %lld", job, key, start) == 3;
}

/* ---- status, check, gc -------------------------------------------------------------- */

static int status_cmd(bool json)
{
	struct om_policy *p = calloc(1, sizeof(*p));
	char err[300], dir[PATH_MAX];
	struct queue q = { .waitfd = -1 };
	unsigned t[1100];
	size_t nw;
	struct om_json j;

	if (!p || load_policy(conf_path(), p, false, err, sizeof(err))) {
		fprintf(stderr, "omerta-provide: %s\n", p ? err : "out of memory");
		return 1;
	}
	fmt(dir, sizeof(dir), "%s/provide", run_dir(p));
	fmt(q.dir, sizeof(q.dir), "%s", dir);
	q.ticket = 0;
	/* A look, not a change: the queue's lock shared, nothing removed, so that no
	 * probe of ours ever makes a waiter or a slot look taken. */
	{
		char lp[PATH_MAX + 16];
		fmt(lp, sizeof(lp), "%s/.lock", dir);
		q.lock = open(lp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (q.lock < 0 && errno == EACCES) {
			fprintf(stderr, "omerta-provide: %s: %s (the queue is root's)\n", dir, strerror(errno));
			return 1;
		}
		if (q.lock >= 0)
			flock(q.lock, LOCK_SH);
	}
	nw = waiters(&q, t, sizeof(t) / sizeof(t[0]), false);
	om_json_init(&j, stdout);
	if (json) {
		om_json_obj_open(&j, NULL);
		om_json_str(&j, "provider", conf_path());
		om_json_int(&j, "slots", p->slots);
		om_json_int(&j, "queue", p->queue);
		om_json_int(&j, "waiting", (long long)nw);
		om_json_arr_open(&j, "jobs");
	}
	unsigned busy = 0;
	for (unsigned i = 0; i < p->slots; i++) {
		char job[64], key[128];
		long long start;
		if (!slot_info(&q, i, job, key, &start))
			continue;
		busy++;
		if (json) {
			om_json_obj_open(&j, NULL);
			om_json_int(&j, "slot", i);
			om_json_str(&j, "job_id", job);
			om_json_str(&j, "key", key);
			om_json_int(&j, "age_s", (om_clock_ms() - start) / 1000);
			om_json_obj_close(&j);
		} else {
			printf("slot\t%u\t%s\t%s\t%lld\n", i, job, key, (om_clock_ms() - start) / 1000);
		}
	}
	if (json) {
		om_json_arr_close(&j);
		om_json_int(&j, "busy", busy);
		om_json_obj_close(&j);
		om_json_end(&j);
	} else {
		printf("provider\t%u/%u slots busy\t%zu/%u waiting\n", busy, p->slots, nw, p->queue);
	}
	return 0;
}

/* Whether a slot's holder runs the job ID. */
static bool busy_job(const struct queue *q, unsigned slots, const char *job)
{
	for (unsigned i = 0; i < slots; i++) {
		char id[64], key[128];
		long long start;
		if (slot_info(q, i, id, key, &start) && !strcmp(id, job))
			return true;
	}
	return false;
}

/* The job groups below the parent that no slot's job has: their processes killed, the
 * groups removed (a half killed with -9 leaves them; a reboot leaves none). */
static void gc_cgroups(const struct queue *q, const struct om_policy *p)
{
	static const char *const ctrls[3] = { "memory", "cpu", "pids" };
	char pars[3][PATH_MAX];
	int np = 0;

	if (v2_has_memory("/sys/fs/cgroup"))
		fmt(pars[np++], PATH_MAX, "/sys/fs/cgroup%s", p->cgroup_parent[0] ? p->cgroup_parent : "/omerta");
	else
		for (int i = 0; i < 3; i++) {
			char mnt[PATH_MAX], own[PATH_MAX];
			if (v1_find(ctrls[i], mnt, sizeof(mnt), own, sizeof(own)))
				continue;
			if (p->cgroup_parent[0])
				fmt(pars[np++], PATH_MAX, "%s%s", mnt, p->cgroup_parent);
			else
				fmt(pars[np++], PATH_MAX, "%s%s/omerta", mnt, own);
		}
	for (int i = 0; i < np; i++) {
		DIR *d = opendir(pars[i]);
		struct dirent *e;
		if (!d)
			continue;
		while ((e = readdir(d))) {
			struct cg one = { .n = 1 };
			if (e->d_type != DT_DIR || e->d_name[0] == '.' || busy_job(q, p->slots, e->d_name))
				continue;
			if (fmt(one.dir[0], sizeof(one.dir[0]), "%s/%s", pars[i], e->d_name) < 0)
				continue;
			cg_remove(&one);
			printf("cgroup\t%s\n", e->d_name);
		}
		closedir(d);
	}
}

static int gc_cmd(void)
{
	struct om_policy *p = calloc(1, sizeof(*p));
	char err[300];
	struct queue q = { .waitfd = -1 };
	unsigned t[1100];
	DIR *d;
	struct dirent *e;

	if (!p || load_policy(conf_path(), p, false, err, sizeof(err))) {
		fprintf(stderr, "omerta-provide: %s\n", p ? err : "out of memory");
		return 1;
	}
	fmt(q.dir, sizeof(q.dir), "%s/provide", run_dir(p));
	{
		char lp[PATH_MAX + 16];
		fmt(lp, sizeof(lp), "%s/.lock", q.dir);
		q.lock = open(lp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (q.lock < 0)
			return 0; /* no queue: nothing to do */
	}
	qlock(&q);
	waiters(&q, t, sizeof(t) / sizeof(t[0]), true); /* removes the dead waiters' files */
	/* Records of jobs whose half died: no slot holds their job. */
	if ((d = opendir(q.dir))) {
		while ((e = readdir(d))) {
			char path[PATH_MAX + 300];
			int fd;
			if (strncmp(e->d_name, "slot.", 5))
				continue;
			fmt(path, sizeof(path), "%s/%s", q.dir, e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
				unlink(path);
			if (fd >= 0)
				close(fd);
		}
		closedir(d);
	}
	/* Records and cgroups of jobs that no slot holds: their half died (kill -9). */
	if ((d = opendir(q.dir))) {
		while ((e = readdir(d))) {
			char path[PATH_MAX + 300];
			if (strncmp(e->d_name, "record.", 7) || busy_job(&q, p->slots, e->d_name + 7))
				continue;
			fmt(path, sizeof(path), "%s/%s", q.dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	gc_cgroups(&q, p);
	qunlock(&q);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		om_usage(usage_text, help_text, 0);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		puts("omerta-provide " OMERTA_VERSION);
		return 0;
	}
	if (sodium_init() < 0)
		refuse("libsodium failed to start");
	if (argc == 3 && !strcmp(argv[1], "--job"))
		return job_half(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "status")) {
		if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json")))
			om_usage(usage_text, NULL, 2);
		return status_cmd(argc == 3);
	}
	if (argc >= 2 && !strcmp(argv[1], "check")) {
		struct om_policy *p = calloc(1, sizeof(*p));
		char err[300];
		if (argc > 3)
			om_usage(usage_text, NULL, 2);
		if (!p || load_policy(argc == 3 ? argv[2] : conf_path(), p, false, err, sizeof(err))) {
			fprintf(stderr, "omerta-provide: %s\n", p ? err : "out of memory");
			return 1;
		}
		printf("%s: ok: %u slots, queue %u, %zu key sections\n", argc == 3 ? argv[2] : conf_path(), p->slots,
		       p->queue, p->nkeys);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "gc"))
		return gc_cmd();
	/* The forced command: "omerta-provide" or "omerta-provide --key NAME". Anything
	 * else on its own command line is the provider's mistake, or a requester's
	 * attempt through a shell: refused the same. */
	if (argc == 1)
		return key_half(NULL);
	if (argc == 3 && !strcmp(argv[1], "--key")) {
		if (!name_ok(argv[2]))
			refuse("--key NAME: letters, digits, '.', '_', '@', '-'");
		return key_half(argv[2]);
	}
	if (!getenv("SSH_ORIGINAL_COMMAND") && argc >= 2 && !strcmp(argv[1], "--bundle")) {
		/* Run by a login shell (no forced command): the words are our argv. */
		char cmd[OM_REQUEST_MAX + 32] = "omerta-provide";
		for (int i = 1; i < argc; i++)
			if (strlen(cmd) + strlen(argv[i]) + 2 < sizeof(cmd)) {
				strcat(cmd, " ");
				strcat(cmd, argv[i]);
			} else
				refuse("refused: a command over %d bytes", OM_REQUEST_MAX);
		setenv("SSH_ORIGINAL_COMMAND", cmd, 1);
		return key_half(NULL);
	}
	refuse("unknown usage (see --help)");
}
