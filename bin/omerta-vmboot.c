/* omerta-vmboot: boot one job's VM under QEMU and stream what it says.
 *
 * QEMU gets -nodefaults, the jail's tap as its only NIC (never user-mode
 * networking), a seccomp sandbox, a uid and gid of its own job's (QEMU's -runas
 * drops to them, so the kernel keeps it non-dumpable), its own process group and
 * tight rlimits, and dies with this process. The guest's console, control records,
 * stdout and stderr arrive on four sockets this process holds; stdout and stderr
 * pass through byte for byte (escaped when they reach a terminal), control records
 * become JSON events. No write here ever blocks the loop that kills QEMU: a reader
 * that stops reading holds the guest's output back, never the timeout. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "om_kconfig.h"
#include "om_cli.h"
#include "om_ctl.h"
#include "om_exec.h"
#include "om_json.h"
#include "om_num.h"
#include "om_outq.h"
#include "om_rundir.h"
#include "om_stream.h"

/* Exit statuses: the workload's own, or one of these (the events say which). */
enum { EX_OK = 0, EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3, EX_SETUP = 120, EX_NOREPORT = 123,
       EX_TIMEOUT = 124 };

static const char usage_text[] =
	"usage: omerta-vmboot --kernel PATH --initrd PATH [--cpu N] [--memory MIB] [--accel auto|kvm|tcg] [--tap NAME | --no-network] [--mac MAC] [--timeout S] [--boot-timeout S] [--workload-timeout S] [--user auto|UID] [--user-range LO-HI] [--remove-initrd] [--console FILE] [--json] [--events-fd FD] [--stdout-fd FD] [--stderr-fd FD] [--stdin-fd FD] [--disk NAME[@OFFSET]=PATH]... [--disk-ro NAME[@OFFSET]=PATH]...\n"
	"       omerta-vmboot --help | --version\n";

static const char help_text[] =
	"\n"
	"Boots the VM with the tap of omerta-jail ($OMERTA_JAIL_TAP by default) as its\n"
	"only NIC; the workload's stdout and stderr pass through and events go to\n"
	"--events-fd; with --json the output becomes events too, on --events-fd or stdout.\n"
	"--stdout-fd and --stderr-fd send the workload's streams elsewhere than 1 and 2.\n"
	"--timeout S bounds the whole run; --boot-timeout S the time until the workload\n"
	"starts; --workload-timeout S the workload's own time, from its start.\n"
	"--stdin-fd FD streams FD to the workload's stdin, to its EOF (without it the\n"
	"workload's stdin is empty).\n"
	"--disk NAME=PATH attaches a raw image as a disk (--disk-ro: read-only) with the\n"
	"serial omerta-NAME, from byte OFFSET with NAME@OFFSET; at most 4.\n"
	"QEMU runs as a uid and gid of its own (--user auto, the default: a free one\n"
	"of --user-range, 61000-61999 by default, in the started event); --remove-initrd\n"
	"removes the image (it holds the job's key) as soon as it is open.\n"
	"Exit status: the workload's, or 120 guest setup failed, 123 no exit reported,\n"
	"124 timeout, 1 refused input, 2 usage, 3 system error. See omerta-vmboot(8).\n";

_Noreturn static void usage(int code)
{
	om_usage(usage_text, help_text, code);
}

/* Events and the workload's streams leave through queues that never block (om_outq);
 * a record is built in memory first, then queued whole (om_rec). */
static bool have_events, json_out;
static struct om_outq evq;
static struct om_rec rec;

/* Bytes held in memory per queue before the guest's output is held back: enough to
 * keep a reader busy, small beside the VM's own memory. */
#define OUT_BOUND (256 * 1024)

/* The most uids --user-range may span (take_uid keeps one bit for each). */
#define UID_RANGE_MAX 65536u

static long long now_ms(void)
{
	return om_clock_ms();
}

static void ev_end(void)
{
	size_t len;
	const char *line = om_rec_end(&rec, &len);

	if (line)
		om_queue(&evq, line, len);
}

/* KVM only when /dev/kvm opens and the CPU has vmx or svm: this project's machines
 * have the device but not the extensions, and a guest there hangs. */
static bool kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	FILE *f;
	char line[4096];
	bool ext = false;

	if (fd < 0)
		return false;
	close(fd);
	f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return false;
	while (!ext && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0)
			ext = strstr(line, " vmx") || strstr(line, " svm");
	fclose(f);
	return ext;
}

static unsigned cpu_mhz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];
	double mhz = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			break;
	fclose(f);
	return (unsigned)mhz;
}

#define DISK_MAX 4

struct opts {
	const char *kernel, *initrd, *tap, *console;
	pid_t parent; /* vmboot, as QEMU's parent */
	unsigned cpu, memory, timeout, uid, gid, uid_lo, uid_hi;
	unsigned boot_timeout, workload_timeout; /* from QEMU's start; from workload_start */
	int kernel_fd, initrd_fd; /* vmboot's: QEMU opens them through /proc/PARENT/fd */
	bool no_acpi;             /* the kernel's config says CONFIG_ACPI is not set */
	int in_fd;                /* --stdin-fd, or -1: then no omerta.in port at all */
	int qin;                  /* QEMU's end of omerta.in's socket, in the child */
	bool kvm, no_network, uid_auto, remove_initrd;
	char mac[18];
	/* --disk and --disk-ro: raw images the guest sees as virtio-blk disks, each
	 * with the serial "omerta-NAME" (initramfs/init finds them by it). */
	struct disk {
		const char *name, *path;
		bool ro;
		int fd;
		unsigned long long offset; /* NAME@OFFSET: the disk starts there (an image's header) */
	} disk[DISK_MAX];
	unsigned ndisk;
};

/* ---- the guest's channels ----------------------------------------------------------- */

enum { CH_CON, CH_CTL, CH_OUT, CH_ERR, CH_N };
static const char *const ch_name[CH_N] = { "console", "omerta.ctl", "omerta.out", "omerta.err" };

struct guest {
	int fd[CH_N];           /* our ends */
	char ctlbuf[OM_CTL_LINE_MAX + 2];
	size_t ctllen;
	bool ctl_overlong;
	unsigned records, malformed;
	int exit_code;          /* -1 until reported */
	bool failed, vpn_up, flood;
	char fail_step[64], fail_reason[64];
	long long t_kernel, t_boot, t_vpn_up, t_start, t_exit, t_step[4];
	long long drops_out, drops_in;
	/* What the guest says it queued on omerta.out and .err by its exit (-1 unknown),
	 * and what has arrived: once all of it has, the guest waits for us to end it. */
	long long want[2], got[2];
	bool drained;
	FILE *console;
	size_t console_bytes;
};

#define CONSOLE_MAX (4u << 20)

static const char *const steps[4] = { "modules", "killswitch", "eth0", "wg" };

static void on_record(struct guest *g, const char *line, size_t len)
{
	struct om_ctl_rec r;

	g->records++;
	if (om_ctl_parse(line, len, &r) < 0) {
		g->malformed++;
		return;
	}
	if (!strcmp(r.event, "boot")) {
		/* kernel=: when /init started, i.e. the kernel's own share of the boot. */
		const char *k = om_ctl_get(&r, "kernel");
		uint64_t v;
		g->t_boot = r.t;
		if (k && r.t >= 0 && om_parse_u64(k, 0, (uint64_t)r.t, &v) == 0)
			g->t_kernel = (long long)v;
	}
	else if (!strcmp(r.event, "step")) {
		const char *n = om_ctl_get(&r, "name");
		for (int i = 0; n && i < 4; i++)
			if (!strcmp(n, steps[i]))
				g->t_step[i] = r.t;
	} else if (!strcmp(r.event, "vpn_up") && !g->vpn_up && !g->failed) {
		struct om_json *j;
		g->vpn_up = true;
		g->t_vpn_up = r.t;
		if (have_events) {
			j = om_rec_begin(&rec, "vpn_up");
			om_json_int(j, "guest_ms", r.t);
			om_json_int(j, "verify_ms", om_ctl_num(&r, "verify_ms", 1LL << 40));
			om_json_int(j, "tries", om_ctl_num(&r, "tries", 1000));
			ev_end();
		}
	} else if (!strcmp(r.event, "workload_start"))
		g->t_start = r.t;
	else if (!strcmp(r.event, "exit") && g->exit_code < 0 && g->vpn_up) {
		/* An exit status counts only after vpn_up: before it, no workload ran. */
		g->exit_code = (int)om_ctl_num(&r, "status", 255);
		g->t_exit = r.t;
		/* Both counts or neither: one alone cannot say when the output is whole. */
		g->want[0] = om_ctl_num(&r, "out", 1LL << 50);
		g->want[1] = om_ctl_num(&r, "err", 1LL << 50);
		if (g->want[0] < 0 || g->want[1] < 0)
			g->want[0] = g->want[1] = -1;
	} else if (!strcmp(r.event, "drops")) {
		long long o = om_ctl_num(&r, "out", 1LL << 40), i = om_ctl_num(&r, "in", 1LL << 40);
		/* The guest's kill switch stopped something: say so while the VM runs, so a
		 * watcher can end the job. */
		if (have_events && (o != g->drops_out || i != g->drops_in) && (o > 0 || i > 0)) {
			struct om_json *j;
			j = om_rec_begin(&rec, "guest_drops");
			om_json_int(j, "out", o);
			om_json_int(j, "in", i);
			om_json_int(j, "guest_ms", r.t);
			ev_end();
		}
		g->drops_out = o;
		g->drops_in = i;
	} else if (!strcmp(r.event, "failed") && !g->failed && g->exit_code < 0) {
		struct om_json *j;
		const char *s = om_ctl_get(&r, "step"), *why = om_ctl_get(&r, "reason");
		g->failed = true;
		snprintf(g->fail_step, sizeof(g->fail_step), "%s", s ? s : "unknown");
		snprintf(g->fail_reason, sizeof(g->fail_reason), "%s", why ? why : "unknown");
		if (have_events) {
			j = om_rec_begin(&rec, "failed");
			om_json_str(j, "step", g->fail_step);
			om_json_str(j, "reason", g->fail_reason);
			om_json_int(j, "guest_ms", r.t);
			ev_end();
		}
	}
}

/* A guest that floods its control channel, or writes garbage to it, only ends its
 * own job: past these limits the VM is stopped. */
#define CTL_MAX_RECORDS 200
#define CTL_MAX_MALFORMED 16

static int read_ctl(struct guest *g)
{
	char b[4096];
	ssize_t n = read(g->fd[CH_CTL], b, sizeof(b));

	if (n <= 0)
		return (int)n;
	for (ssize_t i = 0; i < n; i++) {
		if (b[i] == '\n') {
			if (!g->ctl_overlong)
				on_record(g, g->ctlbuf, g->ctllen);
			else
				g->malformed++, g->records++;
			g->ctllen = 0;
			g->ctl_overlong = false;
		} else if (g->ctllen < OM_CTL_LINE_MAX)
			g->ctlbuf[g->ctllen++] = b[i];
		else
			g->ctl_overlong = true;
	}
	if (g->records > CTL_MAX_RECORDS || g->malformed > CTL_MAX_MALFORMED)
		g->flood = true;
	return 1;
}

/* The workload's stdout and stderr: raw bytes to their fds (escaped for a
 * terminal), or with --json "output" records whose data is exact (om_stream). */
static struct om_outq outq[2];
static struct om_stream sinks[2] = { { .name = "stdout", .raw = &outq[0] },
				     { .name = "stderr", .raw = &outq[1] } };

/* One read from a guest channel. The caller asks only when the queue has room (or
 * once QEMU is gone, when what is left is bounded by the socket's buffer). */
static int pass_output(struct guest *g, int ch)
{
	unsigned char b[OM_STREAM_CHUNK];
	ssize_t n = read(g->fd[ch], b, sizeof(b));

	if (n < 0 && errno == EINTR)
		return 1;
	if (ch == CH_CON) {
		/* The console file is capped: a root guest can write ttyS0 without end. */
		if (n > 0 && g->console && g->console_bytes < CONSOLE_MAX) {
			fwrite(b, 1, (size_t)n, g->console);
			g->console_bytes += (size_t)n;
		}
		return n > 0;
	}
	if (n <= 0) {
		om_stream_put(&sinks[ch - CH_OUT], b, 0, true);
		return 0;
	}
	g->got[ch - CH_OUT] += n;
	om_stream_put(&sinks[ch - CH_OUT], b, (size_t)n, false);
	return 1;
}

static bool output_room(int ch)
{
	return ch < CH_OUT || om_stream_room(&sinks[ch - CH_OUT]);
}

static int open_sink(int s, int fd)
{
	sinks[s].tty = isatty(fd);
	return om_outq_open(&outq[s], fd, OUT_BOUND);
}

/* ---- QEMU ------------------------------------------------------------------------- */

/* The network card and the channels: the jail's tap, the serial console and the
 * three virtio-serial ports, each on a socket whose other end vmboot holds. */
struct qbuf {
	char nic[160], chr[CH_N][64], dev[CH_N][80];
};

static size_t qemu_devices(const struct opts *o, const int qfd[CH_N], struct qbuf *b,
			   const char **argv, size_t n)
{
	static char in_chr[64], in_dev[80];

	if (!o->no_network) {
		snprintf(b->nic, sizeof(b->nic), "tap,id=n0,ifname=%s,script=no,downscript=no", o->tap);
		argv[n++] = "-netdev";
		argv[n++] = b->nic;
		argv[n++] = "-device";
		snprintf(b->dev[0], sizeof(b->dev[0]), "virtio-net-device,netdev=n0,mac=%s", o->mac);
		argv[n++] = b->dev[0];
	}
	argv[n++] = "-device";
	/* Room for our three ports only (port 0 is reserved for a console): the guest's
	 * driver sets up two virtqueues for every possible port, 64 at the default 31,
	 * which cost the job's boot ~15 ms under TCG. */
	argv[n++] = o->in_fd >= 0 ? "virtio-serial-device,max_ports=5" : "virtio-serial-device,max_ports=4";
	for (int i = 0; i < CH_N; i++) {
		snprintf(b->chr[i], sizeof(b->chr[i]), "socket,id=c%d,fd=%d", i, qfd[i]);
		argv[n++] = "-chardev";
		argv[n++] = b->chr[i];
		if (i == CH_CON) {
			argv[n++] = "-serial";
			argv[n++] = "chardev:c0";
		} else {
			snprintf(b->dev[i], sizeof(b->dev[i]), "virtserialport,chardev=c%d,name=%s", i, ch_name[i]);
			argv[n++] = "-device";
			argv[n++] = b->dev[i];
		}
	}
	/* The disks, through vmboot's descriptors as the kernel and image are. */
	for (unsigned i = 0; i < o->ndisk; i++) {
		static char drv[DISK_MAX][160], bdev[DISK_MAX][96];
		snprintf(drv[i], sizeof(drv[i]),
			 "file=/proc/%d/fd/%d,if=none,id=d%u,format=raw,offset=%llu,readonly=%s,cache=unsafe%s",
			 (int)o->parent, o->disk[i].fd, i, o->disk[i].offset, o->disk[i].ro ? "on" : "off",
			 o->disk[i].ro ? "" : ",discard=unmap");
		snprintf(bdev[i], sizeof(bdev[i]), "virtio-blk-device,drive=d%u,serial=omerta-%s", i, o->disk[i].name);
		argv[n++] = "-drive";
		argv[n++] = drv[i];
		argv[n++] = "-device";
		argv[n++] = bdev[i];
	}
	/* --stdin-fd: a fourth port, host to guest, that the workload reads as its
	 * stdin (initramfs/init); vmboot ends it with EOF when the source ends. */
	if (o->in_fd >= 0) {
		snprintf(in_chr, sizeof(in_chr), "socket,id=c%d,fd=%d", CH_N, o->qin);
		snprintf(in_dev, sizeof(in_dev), "virtserialport,chardev=c%d,name=omerta.in", CH_N);
		argv[n++] = "-chardev";
		argv[n++] = in_chr;
		argv[n++] = "-device";
		argv[n++] = in_dev;
	}
	return n;
}

static void exec_qemu(const struct opts *o, const int qfd[CH_N])
{
	char path[PATH_MAX], mem[16], smp[16], append[320], kpath[48], ipath[48], runas[32];
	struct qbuf qb;
	const char *argv[64 + 4 * DISK_MAX];
	size_t n = 0;
	unsigned mhz = cpu_mhz();
	struct rlimit core = { 0, 0 }, nofile = { 64, 64 };

	/* QEMU opens its kernel and image, while it is still root, through vmboot's own
	 * descriptors: it reads exactly the files vmboot opened (O_NOFOLLOW, checked,
	 * perhaps already unlinked), and it closes what it opened once it has read
	 * them. No descriptor of the image is handed to QEMU itself: one inherited
	 * across exec would stay open in it for the whole job (it was fd 21). vmboot
	 * closes its own once the guest runs (release_files). */
	snprintf(kpath, sizeof(kpath), "/proc/%d/fd/%d", (int)o->parent, o->kernel_fd);
	snprintf(ipath, sizeof(ipath), "/proc/%d/fd/%d", (int)o->parent, o->initrd_fd);
	snprintf(runas, sizeof(runas), "%u:%u", o->uid, o->gid);
	if (om_which("qemu-system-x86_64", path) < 0)
		_exit(127);
	snprintf(mem, sizeof(mem), "%u", o->memory);
	snprintf(smp, sizeof(smp), "%u", o->cpu);
	/* tsc_early_khz: under TCG with microvm (no HPET, no PM timer) a guest that
	 * must calibrate the TSC sometimes hangs for good; tell it the frequency.
	 * cryptomgr.notests: the kernel's self-tests of each crypto algorithm as it
	 * registers cost ~400 ms of every boot under TCG. What they would catch, a
	 * miscomputing cipher, cannot pass unseen here: the tunnel must complete a
	 * handshake and carry a ping with the requester's own WireGuard before the
	 * workload starts, and WireGuard authenticates every packet. */
	/* omerta.drain=1: this host ends the VM itself once the guest's output is all
	 * here (the guest's exit record says how much), so the guest waits for it
	 * rather than power off with bytes still queued (initramfs/init). */
	/* omerta.stdin=1: there is an omerta.in port for the guest to wait for. */
	snprintf(append, sizeof(append),
		 "console=ttyS0 quiet panic=-1 ipv6.disable=1 cryptomgr.notests=1 omerta.drain=1%s",
		 o->in_fd >= 0 ? " omerta.stdin=1" : "");
	if (mhz)
		snprintf(append + strlen(append), sizeof(append) - strlen(append), " tsc_early_khz=%u000", mhz);
	/* omerta.now: this host's clock to the nanosecond, which the guest takes as its
	 * own plus its time since boot (initramfs/omerta-guest.c, set_clock): its RTC
	 * gives whole seconds, and WireGuard's handshake timestamps must grow from one
	 * guest of a config to the next. Not a secret: the workload can read the time. */
	struct timespec wall;
	if (clock_gettime(CLOCK_REALTIME, &wall) == 0)
		snprintf(append + strlen(append), sizeof(append) - strlen(append), " omerta.now=%lld.%09ld",
			 (long long)wall.tv_sec, wall.tv_nsec);
	/* omerta.disks=NAME,...: the guest loads virtio_blk and waits for these. */
	for (unsigned i = 0; i < o->ndisk; i++)
		snprintf(append + strlen(append), sizeof(append) - strlen(append), "%s%s",
			 i ? "," : " omerta.disks=", o->disk[i].name);
	argv[n++] = "qemu-system-x86_64";
	argv[n++] = "-M";
	/* A kernel built without ACPI (omerta's own, make kernel) finds the virtio-mmio
	 * devices on its command line, which QEMU writes only with acpi=off; a kernel
	 * with ACPI (Debian's) reads them from the ACPI tables, as before. */
	argv[n++] = o->no_acpi ? "microvm,acpi=off" : "microvm";
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-accel";
	argv[n++] = o->kvm ? "kvm" : "tcg";
	argv[n++] = "-cpu";
	/* -cpu max under TCG emulates RDRAND: the guest's RNG is ready at once.
	 * erms=off: with ERMS the guest kernel copies and clears memory with "rep
	 * movsb/stosb", which TCG runs one byte an iteration; without it the kernel
	 * takes its "rep movsq" routines, eight bytes an iteration. Under TCG that cut
	 * the guest's module loading from 250 to 140 ms and its kernel boot by 100-300
	 * ms (unpacking the image is a copy). Only the guest's choice of string routines
	 * changes; KVM (-cpu host) runs rep movsb natively and keeps it. */
	argv[n++] = o->kvm ? "host" : "max,erms=off,fsrm=off";
	argv[n++] = "-smp";
	argv[n++] = smp;
	argv[n++] = "-m";
	argv[n++] = mem;
	argv[n++] = "-kernel";
	argv[n++] = kpath;
	argv[n++] = "-initrd";
	argv[n++] = ipath;
	argv[n++] = "-append";
	argv[n++] = append;
	n = qemu_devices(o, qfd, &qb, argv, n);
	/* elevateprivileges=allow: QEMU installs its filter while it reads its options,
	 * and -runas drops privileges later, with setgid/setgroups/setuid, which
	 * "deny" would answer by killing QEMU. After the drop QEMU holds no capability,
	 * so set*id can reach no id but the job's own; NoNewPrivs is set (here and by
	 * the filter), and spawn=deny forbids exec altogether. */
	argv[n++] = "-sandbox";
	argv[n++] = "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny";
	/* -runas UID:GID (QEMU 7.2: "user can be numeric uid:gid"): QEMU starts as
	 * root, opens the tap, kernel and image, and only then becomes the job's uid
	 * and gid (supplementary groups: that gid alone). A change of uid made by the
	 * process itself makes the kernel mark it non-dumpable (fs.suid_dumpable 0):
	 * its /proc files (fd, mem, environ, maps) become root's, and no process of
	 * any other uid, or of the same one, may ptrace it. A drop before exec, as
	 * this code did, is undone by execve, which makes the process dumpable again:
	 * then every process of QEMU's uid could read the image, holding the job's
	 * WireGuard key, through /proc/QEMU/fd, and guest memory through mem. */
	argv[n++] = "-runas";
	argv[n++] = runas;
	argv[n++] = "-no-reboot";
	argv[n] = NULL;

	setrlimit(RLIMIT_CORE, &core);
	setrlimit(RLIMIT_NOFILE, &nofile);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* Until QEMU's own change of uid (which clears it), the death signal ties QEMU
	 * to vmboot; after it, vmboot's guard does (start_guard). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* vmboot may have died before the death signal was set: then nothing would
	 * ever kill this QEMU. Its parent must still be the vmboot that forked it. */
	if (getppid() != o->parent)
		_exit(126);
	{
		char *const *av;
		const char *const *a = argv;
		static char *const env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
		memcpy(&av, &a, sizeof(av));
		execve(path, av, env);
	}
	_exit(127);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Everything main() learns from its arguments. */
struct args {
	struct opts o;
	const char *accel, *mac;
	int events_fd, out_fd, err_fd;
};

static int fd_arg(const char *what, const char *s, int min)
{
	uint64_t v;

	if (om_parse_u64(s, (uint64_t)min, 1023, &v) < 0 || fcntl((int)v, F_GETFD) < 0) {
		warnx("%s must be an open descriptor from %d", what, min);
		exit(EX_INPUT);
	}
	return (int)v;
}

static unsigned num_arg(const char *s, uint64_t min, uint64_t max, const char *msg)
{
	uint64_t v;

	if (om_parse_u64(s, min, max, &v) < 0) {
		warnx("%s", msg);
		exit(EX_INPUT);
	}
	return (unsigned)v;
}

/* --user-range LO-HI: 1 <= LO <= HI, at most UID_RANGE_MAX ids. */
static void uid_range(const char *s, struct opts *o)
{
	char lo[16];
	const char *dash = strchr(s, '-');
	uint64_t l, h;

	if (!dash || (size_t)(dash - s) >= sizeof(lo))
		goto bad;
	memcpy(lo, s, (size_t)(dash - s));
	lo[dash - s] = '\0';
	if (om_parse_u64(lo, 1, 4294967294ULL, &l) < 0 || om_parse_u64(dash + 1, l, 4294967294ULL, &h) < 0 ||
	    h - l >= UID_RANGE_MAX)
		goto bad;
	o->uid_lo = (unsigned)l;
	o->uid_hi = (unsigned)h;
	return;
bad:
	warnx("--user-range must be LO-HI, uids from 1, LO <= HI, at most %u of them", UID_RANGE_MAX);
	exit(EX_INPUT);
}

/* --disk NAME[@OFFSET]=PATH: NAME is 1 to 8 of [a-z], given once; the disk starts at
 * byte OFFSET of PATH (a multiple of 512). */
static void disk_arg(struct opts *o, char *v, bool ro)
{
	char *eq = strchr(v, '='), *at = strchr(v, '@'), *end;
	size_t nl = at && at < eq ? (size_t)(at - v) : eq ? (size_t)(eq - v) : 0;
	unsigned long long off = 0;

	if (!eq || nl < 1 || nl > 8 || strspn(v, "abcdefghijklmnopqrstuvwxyz") != nl || !eq[1]) {
		warnx("--disk wants NAME[@OFFSET]=PATH, NAME 1 to 8 of a-z");
		exit(EX_USAGE_);
	}
	if (at && at < eq) {
		errno = 0;
		off = strtoull(at + 1, &end, 10);
		if (end != eq || at + 1 == eq || errno || off % 512 || off > (1ull << 40)) {
			warnx("--disk %s: OFFSET must be a multiple of 512", v);
			exit(EX_USAGE_);
		}
		*at = '\0';
	}
	if (o->ndisk == DISK_MAX) {
		warnx("at most %d disks", DISK_MAX);
		exit(EX_USAGE_);
	}
	*eq = '\0';
	for (unsigned i = 0; i < o->ndisk; i++)
		if (!strcmp(o->disk[i].name, v)) {
			warnx("--disk %s given twice", v);
			exit(EX_USAGE_);
		}
	o->disk[o->ndisk++] = (struct disk){ v, eq + 1, ro, -1, off };
}

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option lopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "accel", required_argument, NULL, 'a' },
		{ "tap", required_argument, NULL, 't' },
		{ "no-network", no_argument, NULL, 'N' },
		{ "mac", required_argument, NULL, 'M' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "boot-timeout", required_argument, NULL, 'b' },
		{ "workload-timeout", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "uid", required_argument, NULL, 'u' },
		{ "user-range", required_argument, NULL, 'R' },
		{ "remove-initrd", no_argument, NULL, 'D' },
		{ "console", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "events-fd", required_argument, NULL, 'e' },
		{ "stdout-fd", required_argument, NULL, 'O' },
		{ "stderr-fd", required_argument, NULL, 'E' },
		{ "stdin-fd", required_argument, NULL, 'I' },
		{ "disk", required_argument, NULL, 'K' },
		{ "disk-ro", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "hj", lopts, NULL)) != -1) {
		switch (c) {
		case 'k': a->o.kernel = optarg; break;
		case 'i': a->o.initrd = optarg; break;
		case 'c': a->o.cpu = num_arg(optarg, 1, 64, "--cpu must be 1 to 64"); break;
		case 'm': a->o.memory = num_arg(optarg, 64, 65536, "--memory must be 64 to 65536 MiB"); break;
		case 'a': a->accel = optarg; break;
		case 't': a->o.tap = optarg; break;
		case 'N': a->o.no_network = true; break;
		case 'M': a->mac = optarg; break;
		case 'T': a->o.timeout = num_arg(optarg, 1, 604800, "--timeout must be 1 to 604800 seconds"); break;
		case 'b': a->o.boot_timeout = num_arg(optarg, 1, 86400, "--boot-timeout must be 1 to 86400 seconds"); break;
		case 'w':
			a->o.workload_timeout = num_arg(optarg, 1, 604800, "--workload-timeout must be 1 to 604800 seconds");
			break;
		case 'u':
			a->o.uid_auto = !strcmp(optarg, "auto");
			if (!a->o.uid_auto)
				a->o.uid = a->o.gid = num_arg(optarg, 1, 4294967294ULL,
							      "--user must be auto or a uid from 1: QEMU never runs as root");
			break;
		case 'R': uid_range(optarg, &a->o); break;
		case 'D': a->o.remove_initrd = true; break;
		case 'C': a->o.console = optarg; break;
		case 'j': json_out = true; break;
		case 'e': a->events_fd = fd_arg("--events-fd", optarg, 3); break;
		case 'O': a->out_fd = fd_arg("--stdout-fd", optarg, 1); break;
		case 'E': a->err_fd = fd_arg("--stderr-fd", optarg, 1); break;
		case 'I': a->o.in_fd = fd_arg("--stdin-fd", optarg, 0); break;
		case 'K':
		case 'r': disk_arg(&a->o, optarg, c == 'r'); break;
		case 'h': usage(EX_OK); break;
		case 'V': puts("omerta-vmboot " OMERTA_VERSION); exit(EX_OK);
		default: usage(EX_USAGE_);
		}
	}
	if (optind != argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		usage(EX_USAGE_);
	}
	if (!a->o.kernel || !a->o.initrd) {
		warnx("--kernel and --initrd are required");
		usage(EX_USAGE_);
	}
	if (a->o.tap && a->o.no_network) {
		warnx("--tap and --no-network exclude each other");
		usage(EX_USAGE_);
	}
}

/* The checks that need no file: 0, or the exit status. */
static int check_args(struct args *a)
{
	struct opts *o = &a->o;

	if (geteuid() != 0) {
		warnx("needs root: QEMU starts as root (tap, kernel, image) and drops to the job's uid itself");
		return EX_INPUT;
	}
	if (strcmp(a->accel, "kvm") && strcmp(a->accel, "tcg") && strcmp(a->accel, "auto")) {
		warnx("--accel must be auto, kvm or tcg");
		return EX_INPUT;
	}
	o->kvm = !strcmp(a->accel, "kvm") || (!strcmp(a->accel, "auto") && kvm_usable());
	if (!strcmp(a->accel, "kvm") && !kvm_usable()) {
		warnx("--accel kvm: /dev/kvm is not usable here (no vmx/svm); use tcg or auto");
		return EX_INPUT;
	}
	if (!o->tap && !o->no_network)
		o->tap = getenv("OMERTA_JAIL_TAP");
	if (!o->no_network && (!o->tap || !*o->tap || strlen(o->tap) > 15 || strpbrk(o->tap, "/, ="))) {
		warnx("no tap: give --tap (or run under omerta-jail), or --no-network");
		return EX_INPUT;
	}
	if (strlen(a->mac) != 17 || strspn(a->mac, "0123456789abcdef:") != 17) {
		warnx("--mac must look like 52:54:00:12:34:56");
		return EX_INPUT;
	}
	strcpy(o->mac, a->mac);
	if (strpbrk(o->kernel, ",") || strpbrk(o->initrd, ",")) {
		warnx("paths with ',' are refused (QEMU option syntax)");
		return EX_INPUT;
	}
	return 0;
}

/* A base goes with one kernel: its modules load into no other, and a kernel built
 * without modules has drivers that another base would try to load. Booting the
 * wrong pair only powers off before any channel (no_report), so say which it is. */
static int base_for_kernel(const char *ipath, int ifd, const char *kpath, int kfd)
{
	char want[96], have[96];
	int st = om_stamp_read(ifd, want, sizeof(want));

	if (st < 0) {
		warnx("%s: its first entry, %s, is not one kernel release and a newline", ipath, OM_KERNEL_STAMP);
		return -1;
	}
	/* No stamp (not omerta-mkinitrd's image), or a kernel whose release cannot be
	 * read: nothing to compare. */
	if (!st || om_kernel_release(kfd, have, sizeof(have)) < 0 || !strcmp(want, have))
		return 0;
	warnx("%s: built for kernel %s, not %s (%s); omerta-mkinitrd --kernel %s builds one for it", ipath, want,
	      have, kpath, kpath);
	return -1;
}

/* The kernel, the image and the output paths: 0, or the exit status. */
static int open_files(struct args *a, struct guest *g, int *kernel_fd, int *initrd_fd)
{
	struct stat st;

	a->o.no_acpi = om_kconfig_unset(a->o.kernel, "CONFIG_ACPI");
	*kernel_fd = open(a->o.kernel, O_RDONLY | O_CLOEXEC);
	if (*kernel_fd < 0 || fstat(*kernel_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		warnx("%s: no such kernel (apt-get install linux-image-cloud-amd64)", a->o.kernel);
		return EX_INPUT;
	}
	/* The per-job image (mode 0600) stays root's: QEMU reads it as root, through
	 * this descriptor, before it drops to the job's uid, so it is never handed to
	 * that uid, and no process of it can open the file. */
	*initrd_fd = open(a->o.initrd, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*initrd_fd < 0 || fstat(*initrd_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		warn("%s", a->o.initrd);
		return EX_INPUT;
	}
	if (base_for_kernel(a->o.initrd, *initrd_fd, a->o.kernel, *kernel_fd) < 0)
		return EX_INPUT;
	/* The disks: regular files, not links, opened here as the image is; QEMU opens
	 * them through these descriptors while it is still root. */
	for (unsigned i = 0; i < a->o.ndisk; i++) {
		struct disk *d = &a->o.disk[i];
		struct stat ds;
		d->fd = open(d->path, (d->ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
		if (d->fd < 0 || fstat(d->fd, &ds) < 0 || !S_ISREG(ds.st_mode)) {
			warnx("--disk %s: %s: %s", d->name, d->path, d->fd < 0 ? strerror(errno) : "not a file");
			return EX_INPUT;
		}
	}
	/* --remove-initrd: the image holds the job's WireGuard key; once it is open here
	 * nothing needs its name (QEMU reads it through this descriptor), so it leaves
	 * the file system before QEMU even starts, and its bytes go when the last
	 * descriptor closes, once the guest runs. The name must still be the file we
	 * opened. */
	if (a->o.remove_initrd) {
		struct stat now;
		if (lstat(a->o.initrd, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino ||
		    unlink(a->o.initrd) < 0) {
			warn("remove %s", a->o.initrd);
			return EX_SYS;
		}
	}
	int ev = a->events_fd >= 0 ? a->events_fd : json_out ? STDOUT_FILENO : -1;
	have_events = ev >= 0;
	if (json_out)
		sinks[0].json = sinks[1].json = &evq;
	if (ev >= 0 && a->events_fd >= 0)
		fcntl(ev, F_SETFD, FD_CLOEXEC);
	if ((ev >= 0 && om_outq_open(&evq, ev, OUT_BOUND) < 0) ||
	    (!json_out && (open_sink(0, a->out_fd) < 0 || open_sink(1, a->err_fd) < 0))) {
		warn("output");
		return EX_SYS;
	}
	if (a->o.console) {
		int cfd = open(a->o.console, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (cfd < 0 || !(g->console = fdopen(cfd, "w"))) {
			warn("%s", a->o.console);
			if (cfd >= 0)
				close(cfd);
			return EX_INPUT;
		}
	}
	return 0;
}

/* Forks QEMU in its own process group with only its channel ends open. Returns its
 * PID; g->fd[] holds our ends. */
static pid_t start_qemu(struct opts *o, struct guest *g, int *in_sock, const sigset_t *old)
{
	int qfd[CH_N];
	pid_t qemu;

	for (int i = 0; i < CH_N; i++) {
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			err(EX_SYS, "socketpair");
		g->fd[i] = sp[0];
		qfd[i] = sp[1];
	}
	o->qin = -1;
	*in_sock = -1;
	if (o->in_fd >= 0) {
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
			err(EX_SYS, "socketpair");
		*in_sock = sp[0];
		o->qin = sp[1];
	}
	o->parent = getpid();
	qemu = fork();
	if (qemu < 0)
		err(EX_SYS, "fork");
	if (qemu == 0) {
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, old, NULL);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		for (int i = 0; i < CH_N; i++)
			qfd[i] = fcntl(qfd[i], F_DUPFD, 10 + i);
		if (o->qin >= 0) {
			o->qin = fcntl(o->qin, F_DUPFD, 10 + CH_N);
			/* QEMU's chardev reads it with blocking I/O of its own choosing. */
			fcntl(o->qin, F_SETFL, fcntl(o->qin, F_GETFL) & ~O_NONBLOCK);
		}
		for (int fd = 3; fd < 4096; fd++) {
			bool keep = fd == o->qin && fd >= 0;
			for (int i = 0; i < CH_N; i++)
				keep |= fd == qfd[i];
			if (!keep)
				close(fd);
		}
		exec_qemu(o, qfd);
	}
	setpgid(qemu, qemu);
	for (int i = 0; i < CH_N; i++)
		close(qfd[i]);
	if (o->qin >= 0)
		close(o->qin);
	return qemu;
}

/* QEMU's own change of uid (-runas) clears the death signal it had from vmboot, so
 * a vmboot killed with -9 would leave QEMU running. The guard, a child of vmboot's
 * that stays root and never changes its credentials, keeps its death signal: when
 * vmboot dies, it kills QEMU through the pidfd (which names that very process,
 * whatever PIDs are reused) and exits. It holds nothing else open. vmboot ends it
 * once QEMU is gone. */
static pid_t start_guard(int pfd, pid_t parent)
{
	pid_t pid = fork();
	sigset_t usr1;

	if (pid != 0)
		return pid;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_SETMASK, &usr1, NULL);
	int null = open("/dev/null", O_RDWR);
	for (int fd = 0; fd < 3; fd++)
		dup2(null, fd);
	for (int fd = 3; fd < 4096; fd++)
		if (fd != pfd)
			close(fd);
	prctl(PR_SET_NAME, "omerta-vmguard");
	prctl(PR_SET_PDEATHSIG, SIGUSR1);
	/* vmboot died before the death signal was set: act at once. */
	if (getppid() == parent)
		sigwaitinfo(&usr1, NULL);
	syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
	_exit(0);
}

/* ---- the job's uid ---------------------------------------------------------------- */

/* Every job's QEMU runs as a uid and gid of its own, so one job's QEMU (were its
 * guest to take it over) is a stranger to every other job's, and to every other
 * process on the host. A uid of --user-range is taken when no account has it
 * (getpwuid), no group has it as a gid (getgrgid), no process runs with it as any
 * of its uids or gids, and no other vmboot holds it. The hold is an open file
 * description lock (F_OFD_SETLK) on byte UID of $OMERTA_RUN_DIR/uid/.lock, taken on a
 * descriptor no child inherits: the kernel drops it with vmboot's last descriptor,
 * so a vmboot killed with -9 leaks no uid, and no file is left per uid. Byte 0
 * serialises the choice, and the file's text is the next uid to try, so successive
 * jobs get different uids: one comes back only after the range has gone round. A
 * QEMU that outlives a killed vmboot by a moment still shows in /proc, and its uid
 * is passed over. */
static int lock_byte(int fd, int cmd, short type, off_t at)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

	return fcntl(fd, cmd, &fl);
}

/* Marks in used[] each id of [lo, lo + n) that a process holds as a real, effective,
 * saved or filesystem uid or gid. */
static void ids_in_use(unsigned lo, unsigned n, unsigned char *used)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char p[300], line[256];

	if (!d)
		return;
	while ((e = readdir(d))) {
		FILE *f;
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/status", e->d_name);
		if (!(f = fopen(p, "re")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned long v[4];
			if ((strncmp(line, "Uid:", 4) && strncmp(line, "Gid:", 4)) ||
			    sscanf(line + 4, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4)
				continue;
			for (int i = 0; i < 4; i++)
				if (v[i] >= lo && v[i] - lo < n)
					used[(v[i] - lo) / 8] |= (unsigned char)(1u << ((v[i] - lo) % 8));
		}
		fclose(f);
	}
	closedir(d);
}

/* Sets o->uid and o->gid to a free id of the range and *lockfd to the descriptor
 * that holds it: 0, or the exit status after a one-line message. */
static int take_uid(struct opts *o, int *lockfd)
{
	char dir[OM_RUNDIR_MAX], p[OM_RUNDIR_MAX + 8], txt[16];
	static unsigned char used[UID_RANGE_MAX / 8];
	unsigned n = o->uid_hi - o->uid_lo + 1, start = 0, i;
	struct stat st;
	ssize_t len;
	uint64_t v;
	int fd;

	if (om_rundir_setup(dir, "uid", true) < 0)
		return EX_SYS;
	snprintf(p, sizeof(p), "%s/.lock", dir);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st) < 0 || lock_byte(fd, F_OFD_SETLKW, F_WRLCK, 0) < 0) {
		warn("%s", p);
		if (fd >= 0)
			close(fd);
		return EX_SYS;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		warnx("%s: not a file of uid %u with mode 0600: refused", p, (unsigned)geteuid());
		close(fd);
		return EX_SYS;
	}
	len = pread(fd, txt, sizeof(txt) - 1, 0);
	if (len > 0) {
		txt[len] = '\0';
		txt[strcspn(txt, "\n")] = '\0';
		if (om_parse_u64(txt, o->uid_lo, o->uid_hi, &v) == 0)
			start = (unsigned)(v - o->uid_lo);
	}
	memset(used, 0, sizeof(used));
	ids_in_use(o->uid_lo, n, used);
	for (i = 0; i < n; i++) {
		unsigned k = (start + i) % n, u = o->uid_lo + k;
		if ((used[k / 8] & (1u << (k % 8))) || getpwuid(u) || getgrgid(u))
			continue;
		if (lock_byte(fd, F_OFD_SETLK, F_WRLCK, (off_t)u) == 0)
			break;
		if (errno != EAGAIN && errno != EACCES) {
			warn("lock uid %u in %s", u, p);
			close(fd);
			return EX_SYS;
		}
	}
	if (i == n) {
		warnx("no free uid in %u-%u (each is an account's, a group's, a process's or another job's)",
		      o->uid_lo, o->uid_hi);
		close(fd);
		return EX_SYS;
	}
	o->uid = o->gid = o->uid_lo + (start + i) % n;
	len = snprintf(txt, sizeof(txt), "%u\n", o->uid_lo + (start + i + 1) % n);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, txt, (size_t)len, 0) != len)
		warn("%s", p); /* only the order of choice suffers */
	lock_byte(fd, F_OFD_SETLK, F_UNLCK, 0);
	*lockfd = fd;
	return 0;
}

/* The loop's state: what ended QEMU, and whether it is gone. */
struct run {
	pid_t qemu;
	int pfd, sfd, tfd, qstatus, sig;
	int held[2]; /* the kernel's and the image's descriptors, until the guest runs */
	bool dead, timed_out, signalled;
	bool open_ch[CH_N];
	/* --stdin-fd: the source, our end of omerta.in, and what was read from the
	 * one and not yet written to the other. The source is read only while the
	 * buffer is empty, so a workload that does not read holds it back, and
	 * nothing here ever blocks on it. */
	int in_src, in_sock;
	char inbuf[65536];
	size_t in_len, in_off;
	bool in_done; /* the source ended and all of it went in: the port has its EOF */
	/* The limits as CLOCK_MONOTONIC deadlines in ms (0: none), on the one timer
	 * tfd, which is armed for the nearest; and which of them ended the job. */
	long long dl_total, dl_boot, dl_work;
	unsigned workload_timeout;
	bool work_started;
	const char *timeout_kind;
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The timer at the nearest deadline still in force (the boot's only until the
 * workload starts), or off. */
static void arm_timer(struct run *r)
{
	long long dl = r->dl_total;
	struct itimerspec it = { { 0, 0 }, { 0, 0 } };

	if (r->dl_boot && (!dl || r->dl_boot < dl))
		dl = r->dl_boot;
	if (r->dl_work && (!dl || r->dl_work < dl))
		dl = r->dl_work;
	if (r->tfd < 0)
		return;
	if (dl) {
		it.it_value.tv_sec = dl / 1000;
		it.it_value.tv_nsec = (dl % 1000) * 1000000;
	}
	timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

/* The source's next bytes into omerta.in; its EOF, once all is written, becomes the
 * port's (a shutdown that QEMU reads as the host closing it, and the guest as EOF). A
 * source that fails reads as its end. */
static void pump_stdin(struct run *r, short src_ev, short sock_ev)
{
	if (r->in_sock < 0 || r->in_done)
		return;
	if (sock_ev & (POLLERR | POLLHUP)) {
		/* The guest's side went: nothing more to give. */
		close(r->in_sock);
		r->in_sock = -1;
		return;
	}
	if (r->in_len == 0 && r->in_src >= 0 && (src_ev & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(r->in_src, r->inbuf, sizeof(r->inbuf));
		if (n > 0) {
			r->in_len = (size_t)n;
			r->in_off = 0;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			r->in_src = -1; /* not ours to close: the caller's descriptor */
		}
	}
	if (r->in_len && (sock_ev & POLLOUT)) {
		ssize_t n = send(r->in_sock, r->inbuf + r->in_off, r->in_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			r->in_off += (size_t)n;
			r->in_len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			close(r->in_sock);
			r->in_sock = -1;
			return;
		}
	}
	/* Half a close, never a close: QEMU takes a hang-up (both ends closed) as the
	 * host leaving at once and drops what it has not read yet, bytes still in the
	 * socket included; a shutdown of our sending side reads as EOF after them. The
	 * socket stays open until vmboot exits. */
	if (r->in_src < 0 && r->in_len == 0) {
		shutdown(r->in_sock, SHUT_WR);
		r->in_done = true;
	}
}

static void on_flood(struct run *r, struct guest *g)
{
	struct om_json *j;

	syscall(SYS_pidfd_send_signal, r->pfd, SIGKILL, NULL, 0);
	if (have_events) {
		j = om_rec_begin(&rec, "error");
		om_json_str(j, "reason", "control channel flood or garbage");
		ev_end();
	}
	g->flood = false;
	g->failed = true;
	snprintf(g->fail_step, sizeof(g->fail_step), "control");
	snprintf(g->fail_reason, sizeof(g->fail_reason), "flood");
}

/* The first byte from the guest means its kernel runs, so QEMU has read the kernel
 * and the image into guest memory and closed them: vmboot's descriptors, the last
 * ones (with --remove-initrd the image is already unlinked), go too. */
static void release_files(struct run *r)
{
	for (int i = 0; i < 2; i++)
		if (r->held[i] >= 0) {
			close(r->held[i]);
			r->held[i] = -1;
		}
}

/* The kill path first: QEMU's end, a signal, the timeout; then the channels. */
static void on_ready(struct run *r, struct guest *g, const struct pollfd *p, const int idx[CH_N],
		     int ip, int is, int it)
{
	if (!r->dead && (p[ip].revents & POLLIN)) {
		waitpid(r->qemu, &r->qstatus, 0);
		r->dead = true;
	}
	if (p[is].revents & POLLIN) {
		struct signalfd_siginfo si;
		if (read(r->sfd, &si, sizeof(si)) == sizeof(si) && !r->dead) {
			r->signalled = true;
			r->sig = (int)si.ssi_signo;
			syscall(SYS_pidfd_send_signal, r->pfd, SIGKILL, NULL, 0);
		}
	}
	if (r->tfd >= 0 && (p[it].revents & POLLIN) && !r->dead) {
		uint64_t x;
		if (read(r->tfd, &x, sizeof(x)) > 0) {
			long long t = mono_ms();
			/* After the exit record the workload is done: the limit only ends the
			 * wait for a slow reader (exited: output_whole false), never turns a
			 * completed job into a timeout. */
			r->timed_out = g->exit_code < 0;
			r->timeout_kind = r->dl_boot && t >= r->dl_boot ? "boot"
					  : r->dl_work && t >= r->dl_work ? "workload" : "total";
			syscall(SYS_pidfd_send_signal, r->pfd, SIGKILL, NULL, 0);
		}
	}
	for (int i = 0; i < CH_N; i++) {
		if (idx[i] < 0 || !(p[idx[i]].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		int n = i == CH_CTL ? read_ctl(g) : pass_output(g, i);
		if (n <= 0)
			r->open_ch[i] = false;
		else
			release_files(r);
	}
	/* The workload started: the boot's limit is met, the workload's starts now. */
	if (!r->work_started && g->t_start > 0) {
		r->work_started = true;
		r->dl_boot = 0;
		if (r->workload_timeout)
			r->dl_work = mono_ms() + (long long)r->workload_timeout * 1000;
		arm_timer(r);
	}
	if (g->flood && !r->dead)
		on_flood(r, g);
	/* The workload exited and every byte it queued is here: the guest waits for
	 * this (initramfs/init), and a VM that powered itself off could lose output
	 * still held in QEMU while a reader was slow. */
	if (!r->dead && !g->drained && g->exit_code >= 0 && g->want[0] >= 0 &&
	    g->got[0] >= g->want[0] && g->got[1] >= g->want[1]) {
		g->drained = true;
		syscall(SYS_pidfd_send_signal, r->pfd, SIGKILL, NULL, 0);
	}
	om_outq_flush(&evq);
	for (int s = 0; s < 2; s++)
		om_outq_flush(&outq[s]);
}

static void run_loop(struct run *r, struct guest *g)
{
	struct om_outq *qs[3] = { &evq, &outq[0], &outq[1] };

	while (!r->dead || r->open_ch[CH_CTL] || r->open_ch[CH_OUT] || r->open_ch[CH_ERR] ||
	       r->open_ch[CH_CON]) {
		struct pollfd p[CH_N + 8]; /* the channels, pidfd, signals, timer, 3 queues, stdin */
		int np = 0, idx[CH_N];
		for (int i = 0; i < CH_N; i++) {
			idx[i] = -1;
			/* Output is read only while its queue has room; once QEMU is gone,
			 * what is left is read whatever the reader does. */
			if (r->open_ch[i] && (r->dead || output_room(i))) {
				idx[i] = np;
				p[np++] = (struct pollfd){ g->fd[i], POLLIN, 0 };
			}
		}
		int ip = np, is = np + 1, it = np + 2;
		p[np++] = (struct pollfd){ r->dead ? -1 : r->pfd, POLLIN, 0 };
		p[np++] = (struct pollfd){ r->sfd, POLLIN, 0 };
		p[np++] = (struct pollfd){ r->tfd, POLLIN, 0 };
		for (int q = 0; q < 3; q++)
			p[np++] = (struct pollfd){ om_outq_pollfd(qs[q]), POLLOUT, 0 };
		int isrc = np, isock = np + 1;
		bool pumping = !r->dead && r->in_sock >= 0 && !r->in_done;
		p[np++] = (struct pollfd){ pumping && r->in_len == 0 ? r->in_src : -1, POLLIN, 0 };
		p[np++] = (struct pollfd){ pumping ? r->in_sock : -1, r->in_len ? POLLOUT : 0, 0 };
		/* After QEMU is gone, drain what it wrote, then stop. */
		int n = poll(p, (nfds_t)np, r->dead ? 200 : -1);
		if (n < 0 && errno != EINTR) {
			/* Never wait for a QEMU we can no longer watch. */
			syscall(SYS_pidfd_send_signal, r->pfd, SIGKILL, NULL, 0);
			kill(r->qemu, SIGKILL);
			break;
		}
		if (n == 0)
			break;
		on_ready(r, g, p, idx, ip, is, it);
		if (!r->dead)
			pump_stdin(r, p[isrc].revents, p[isock].revents);
	}
	if (!r->dead)
		waitpid(r->qemu, &r->qstatus, 0);
}

static const char *verdict(const struct run *r, const struct guest *g, int *ret)
{
	if (r->timed_out)
		return *ret = EX_TIMEOUT, "timeout";
	if (r->signalled)
		return *ret = 128 + r->sig, "killed";
	if (g->failed) {
		bool control = !strcmp(g->fail_step, "control");
		*ret = control ? EX_NOREPORT : EX_SETUP;
		return control ? "error" : "vpn_setup_failed";
	}
	if (g->exit_code >= 0)
		return *ret = g->exit_code, "completed";
	return *ret = EX_NOREPORT, "no_report";
}

static void emit_exited(const struct run *r, const struct guest *g, const char *status, long long t0)
{
	struct om_json *j;

	j = om_rec_begin(&rec, "exited");
	om_json_str(j, "status", status);
	if (g->exit_code >= 0)
		om_json_int(j, "exit_code", g->exit_code);
	else
		om_json_null(j, "exit_code");
	if (g->failed) {
		om_json_str(j, "step", g->fail_step);
		om_json_str(j, "reason", g->fail_reason);
	}
	om_json_int(j, "wall_ms", now_ms() - t0);
	om_json_obj_open(j, "guest_ms");
	om_json_int(j, "kernel", g->t_kernel);
	om_json_int(j, "boot", g->t_boot);
	for (int i = 0; i < 4; i++)
		om_json_int(j, steps[i], g->t_step[i]);
	om_json_int(j, "vpn_up", g->t_vpn_up);
	om_json_int(j, "workload_start", g->t_start);
	om_json_int(j, "exit", g->t_exit);
	om_json_obj_close(j);
	om_json_obj_open(j, "guest_drops");
	om_json_int(j, "out", g->drops_out);
	om_json_int(j, "in", g->drops_in);
	om_json_obj_close(j);
	om_json_bool(j, "output_whole", g->drained);
	if (r->timed_out)
		om_json_str(j, "timeout", r->timeout_kind);
	if (g->drained)
		om_json_str(j, "qemu", "ended after the output");
	else if (WIFSIGNALED(r->qstatus))
		om_json_str(j, "qemu", strsignal(WTERMSIG(r->qstatus)));
	else
		om_json_int(j, "qemu", WEXITSTATUS(r->qstatus));
	om_json_int(j, "control_records", g->records);
	om_json_int(j, "control_malformed", g->malformed);
	ev_end();
}

static void emit_started(const struct opts *o, pid_t qemu)
{
	struct om_json *j;

	j = om_rec_begin(&rec, "started");
	om_json_int(j, "pid", qemu);
	om_json_int(j, "uid", o->uid);
	om_json_int(j, "gid", o->gid);
	om_json_str(j, "accel", o->kvm ? "kvm" : "tcg");
	om_json_str(j, "machine", "microvm");
	om_json_int(j, "memory_mib", o->memory);
	om_json_int(j, "cpus", o->cpu);
	ev_end();
}

int main(int argc, char **argv)
{
	struct args a = { .o = { .cpu = 1, .memory = 128, .timeout = 0, .uid_auto = true,
				 .uid_lo = 61000, .uid_hi = 61999, .in_fd = -1 },
			  .accel = "auto", .mac = "52:54:00:12:34:56",
			  .events_fd = -1, .out_fd = STDOUT_FILENO, .err_fd = STDERR_FILENO };
	struct guest g = { .exit_code = -1, .drops_out = -1, .drops_in = -1, .want = { -1, -1 } };
	struct run r = { .tfd = -1, .open_ch = { true, true, true, true }, .in_src = -1, .in_sock = -1 };
	int kernel_fd = -1, initrd_fd = -1, uid_lock = -1, ret;
	pid_t guard;
	sigset_t mask, old;
	long long t0;

	parse_args(argc, argv, &a);
	if ((ret = check_args(&a)) || (a.o.uid_auto && (ret = take_uid(&a.o, &uid_lock))) ||
	    (ret = open_files(&a, &g, &kernel_fd, &initrd_fd)))
		return ret;
	a.o.kernel_fd = kernel_fd;
	a.o.initrd_fd = initrd_fd;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);
	t0 = now_ms();
	r.qemu = start_qemu(&a.o, &g, &r.in_sock, &old);
	r.in_src = a.o.in_fd;
	r.held[0] = kernel_fd;
	r.held[1] = initrd_fd;
	r.pfd = pidfd_open_(r.qemu);
	guard = r.pfd < 0 ? -1 : start_guard(r.pfd, a.o.parent);
	if (r.pfd < 0 || guard < 0) {
		/* Without a pidfd no kill could reach it, and without the guard nothing
		 * would once QEMU has changed its uid: fail closed. */
		kill(r.qemu, SIGKILL);
		waitpid(r.qemu, NULL, 0);
		err(EX_SYS, r.pfd < 0 ? "pidfd_open" : "fork");
	}
	r.sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (a.o.timeout || a.o.boot_timeout || a.o.workload_timeout) {
		long long t = mono_ms();
		r.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		r.dl_total = a.o.timeout ? t + (long long)a.o.timeout * 1000 : 0;
		r.dl_boot = a.o.boot_timeout ? t + (long long)a.o.boot_timeout * 1000 : 0;
		r.workload_timeout = a.o.workload_timeout;
		arm_timer(&r);
	}
	if (have_events)
		emit_started(&a.o, r.qemu);
	run_loop(&r, &g);
	release_files(&r);
	/* QEMU is reaped: the guard's kill could reach nothing now. */
	kill(guard, SIGKILL);
	waitpid(guard, NULL, 0);
	close(uid_lock);
	const char *status = verdict(&r, &g, &ret);
	if (have_events)
		emit_exited(&r, &g, status, t0);
	if (g.console)
		fclose(g.console);
	/* QEMU is gone: now the queues may wait on their readers. A reader that left
	 * (head -c, a closed pipe) is its own choice and changes no status. */
	for (int s = 0; s < 2 && !json_out; s++)
		om_outq_drain(&outq[s], -1);
	om_outq_drain(&evq, -1);
	return ret;
}
