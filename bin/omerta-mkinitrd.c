/* omerta-mkinitrd: the guest's initramfs. A cached base (busybox, omerta-guest,
 * kernel modules, /init) and a small per-job archive (the WireGuard config with
 * the endpoint rewritten to the jail's door, the job's parameters, the workload),
 * concatenated. */
#include <dirent.h>
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_cli.h"
#include "om_stream.h"
#include "om_addr.h"
#include "om_cpio.h"
#include "om_data.h"
#include "om_exec.h"
#include "om_ifaddr.h"
#include "om_kmod.h"
#include "om_num.h"
#include "om_kconfig.h"
#include "om_read.h"
#include "om_rundir.h"
#include "om_wgconf.h"

enum { EX_OK = 0, EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3, EX_MISSING = 4 };

#define SCRIPT_CAP (1024 * 1024)
#define BASE_FORMAT "omerta-base-11" /* bump when the base layout changes */
#define JOB_UID 1000

static const char usage_text[] =
	"usage: omerta-mkinitrd --vpn-config FILE|- (--script STR | --script-file FILE|-) [--language sh|bash|python] [--root] [--endpoint HOST:PORT] [--server-ip IP] [--door IP:PORT] [--guest-addr CIDR] [--heartbeat S] [--verify-tries N] [--allow-private-endpoint] [--env NAME=VALUE]... [--env-file FILE] [--image] [--disks] [--kernel PATH] [-o FILE]\n"
	"       omerta-mkinitrd --base [--language sh|bash|python] [--kernel PATH]\n"
	"       omerta-mkinitrd --which-kernel\n"
	"       omerta-mkinitrd --help | --version\n";

static const char help_text[] =
	"\n"
	"Builds base + per-job initramfs (mode 0600) to FILE or stdout; --base prints\n"
	"the cached base's path; --which-kernel prints the kernel a job boots, a tab, and\n"
	"why. See omerta-mkinitrd(1).\n"
	"Exit status: 0 ok, 1 refused input, 2 usage, 3 system error, 4 missing kernel,\n"
	"modules or tool.\n";

_Noreturn static void usage(int code)
{
	om_usage(usage_text, help_text, code);
}

/* ---- inputs ------------------------------------------------------------------------ */

struct lang {
	const char *name, *interpreter;
	const char *bins[2]; /* host binaries added with their libraries */
	const char *tree;    /* a host directory added whole, less tests and caches */
	const char *pkg;
};

static const struct lang langs[] = {
	{ "sh", "/bin/sh", { NULL }, NULL, "busybox-static" },
	{ "bash", "/bin/bash", { "/bin/bash", NULL }, NULL, "bash" },
	{ "python", "/usr/bin/python3", { "/usr/bin/python3", NULL }, "/usr/lib/python3.11",
	  "python3-minimal" },
};

/* Modules the guest needs, each with its dependencies from modules.dep. */
/* Only what the microvm machine and the boot path use: virtio over MMIO (no PCI, no
 * RNG device is attached), the NIC, the serial ports, WireGuard and nf_tables. Each
 * module costs the boot 10-80 ms under TCG. */
static const char *const want_modules[] = { "virtio_mmio", "virtio_net", "virtio_console",
					     "wireguard", "nf_tables",
					     /* only for a job with disks (--input, --output):
					      * lib/modules/order.disk, loaded only then */
					     "virtio_blk",
					     /* only for a job with an image: order.image */
					     "squashfs", "overlay" };
#define N_CORE_MODULES 5
#define N_DISK_MODULES 1

struct kernel {
	char image[PATH_MAX], version[128], moddir[160];
	char release[96]; /* what the image's boot header says it is; "" if it says nothing */
};

static int find_kernel(const char *opt, struct kernel *k)
{
	const char *base;
	char why[PATH_MAX + 96];
	struct stat st;

	if (opt)
		snprintf(k->image, sizeof(k->image), "%s", opt);
	else if (om_kernel_choose(k->image, why, sizeof(why)) < 0) {
		warnx("no kernel in /boot (apt-get install linux-image-cloud-amd64, or --kernel)");
		return -1;
	}
	if (stat(k->image, &st) < 0 || !S_ISREG(st.st_mode)) {
		warnx("kernel %s: not found (apt-get install linux-image-cloud-amd64)", k->image);
		return -1;
	}
	base = strrchr(k->image, '/');
	base = base ? base + 1 : k->image;
	if (strncmp(base, "vmlinuz-", 8) != 0 || strlen(base + 8) >= sizeof(k->version) ||
	    strchr(base + 8, '/')) {
		warnx("kernel %s: the name must be vmlinuz-VERSION, to find /lib/modules/VERSION", k->image);
		return -1;
	}
	strcpy(k->version, base + 8);
	snprintf(k->moddir, sizeof(k->moddir), "/lib/modules/%s", k->version);
	int fd = open(k->image, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || om_kernel_release(fd, k->release, sizeof(k->release)) < 0)
		k->release[0] = 0;
	if (fd >= 0)
		close(fd);
	return 0;
}

/* The modules to load, in load order (dependencies first), as paths relative to
 * moddir. modules.dep lists each module's full dependency closure, nearest first. */
struct modlist {
	size_t n, ncore, ndisk; /* [0, ncore) always loaded; [ncore, ndisk) for disks; the rest for an image */
	char path[64][256];
};

static int add_mod(struct modlist *m, const char *p)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->path[i], p) == 0)
			return 0;
	if (m->n == 64 || strlen(p) >= 256)
		return -1;
	strcpy(m->path[m->n++], p);
	return 0;
}

/* Whether the path [p, end) names module want: the file's base name without ".ko",
 * with '-' and '_' the same, as modprobe treats them. */
static bool mod_is(const char *p, const char *end, const char *want)
{
	const char *b = p;
	size_t n = strlen(want);

	for (const char *q = p; q < end; q++)
		if (*q == '/')
			b = q + 1;
	if ((size_t)(end - b) != n + 3 || strncmp(end - 3, ".ko", 3) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char x = b[i] == '-' ? '_' : b[i], y = want[i] == '-' ? '_' : want[i];
		if (x != y)
			return false;
	}
	return true;
}

static int resolve_modules(const struct kernel *k, struct modlist *m)
{
	char depfile[PATH_MAX], *buf;
	size_t len;

	/* A kernel built without modules (its config beside it says so: omerta's own,
	 * make kernel) has everything the guest needs built in: the base holds none. */
	if (om_kconfig_unset(k->image, "CONFIG_MODULES")) {
		m->n = m->ncore = m->ndisk = 0;
		return 0;
	}
	snprintf(depfile, sizeof(depfile), "%s/modules.dep", k->moddir);
	if (om_read_path(depfile, 4 << 20, &buf, &len) != 0) {
		warnx("%s: cannot read (apt-get install linux-image-cloud-amd64 provides the guest kernel with its modules)",
		      depfile);
		return -1;
	}
	m->n = 0;
	for (size_t w = 0; w < sizeof(want_modules) / sizeof(want_modules[0]); w++) {
		const char *line = NULL;
		if (w == N_CORE_MODULES)
			m->ncore = m->n;
		if (w == N_CORE_MODULES + N_DISK_MODULES)
			m->ndisk = m->n;
		for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
			char *colon = strchr(p, ':'), *nl = strchr(p, '\n');
			if (!colon || (nl && colon > nl))
				continue;
			if (mod_is(p, colon, want_modules[w])) {
				line = p;
				break;
			}
		}
		if (!line) {
			warnx("kernel %s has no module %s (is it built in? omerta needs it as in linux-image-cloud-amd64)",
			      k->version, want_modules[w]);
			om_read_free(buf, len);
			return -1;
		}
		char l[4096], *deps[64];
		size_t nd = 0, ll = strcspn(line, "\n");
		if (ll >= sizeof(l))
			ll = sizeof(l) - 1;
		memcpy(l, line, ll);
		l[ll] = '\0';
		char *colon = strchr(l, ':');
		*colon = '\0';
		for (char *save = NULL, *t = strtok_r(colon + 1, " ", &save); t && nd < 64;
		     t = strtok_r(NULL, " ", &save))
			deps[nd++] = t;
		while (nd > 0)
			if (add_mod(m, deps[--nd]) < 0)
				goto toomany;
		if (add_mod(m, l) < 0)
			goto toomany;
	}
	om_read_free(buf, len);
	return 0;
toomany:
	warnx("too many modules");
	om_read_free(buf, len);
	return -1;
}

/* The shared libraries a host binary loads, from ldd. */
static int libs_of(const char *bin, char libs[][PATH_MAX], size_t max, size_t *n)
{
	const char *argv[] = { "ldd", bin, NULL };
	char *out = NULL;

	*n = 0;
	if (om_run(argv, NULL, 0, &out, OM_RUN_QUIET) != 0 || !out) {
		free(out);
		return -1;
	}
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(l, "=> ");
		p = p ? p + 3 : l;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '/')
			continue;
		size_t k = strcspn(p, " (");
		if (k >= PATH_MAX || *n >= max)
			continue;
		memcpy(libs[*n], p, k);
		libs[*n][k] = '\0';
		(*n)++;
	}
	free(out);
	return 0;
}

/* ---- the base ------------------------------------------------------------------------ */

struct base_in {
	const struct lang *lang;
	struct kernel k;
	struct modlist mods;
	char init[PATH_MAX];
	char guest[PATH_MAX]; /* omerta-guest, the static helper for /init's boot steps */
	char files[128][PATH_MAX]; /* host files copied to the same path */
	size_t nfiles;
};

static int add_file(struct base_in *b, const char *p)
{
	for (size_t i = 0; i < b->nfiles; i++)
		if (strcmp(b->files[i], p) == 0)
			return 0;
	if (b->nfiles == 128)
		return -1;
	snprintf(b->files[b->nfiles++], PATH_MAX, "%s", p);
	return 0;
}

static int add_binary(struct base_in *b, const char *bin, const char *pkg)
{
	char libs[32][PATH_MAX];
	size_t n;

	if (access(bin, X_OK) < 0) {
		warnx("%s: not found (apt-get install %s)", bin, pkg);
		return -1;
	}
	if (add_file(b, bin) < 0 || libs_of(bin, libs, 32, &n) < 0) {
		warnx("%s: cannot list its libraries", bin);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (add_file(b, libs[i]) < 0)
			return -1;
	return 0;
}

static int gather_base(struct base_in *b)
{
	if (access("/bin/busybox", X_OK) < 0) {
		warnx("/bin/busybox: not found (apt-get install busybox-static)");
		return -1;
	}
	/* No wg, no nft, no shared libraries: omerta-guest does their work over
	 * netlink, and every byte here is unpacked by the guest kernel at every boot
	 * (about 27 ms a MiB under TCG; wg and nft with glibc and their ten libraries
	 * were 4.6 of 8.8 MiB). A root workload that wants them brings its own. */
	for (size_t i = 0; b->lang->bins[i]; i++)
		if (add_binary(b, b->lang->bins[i], b->lang->pkg) < 0)
			return -1;
	if (b->lang->tree && access(b->lang->tree, R_OK) < 0) {
		warnx("%s: not found (apt-get install %s)", b->lang->tree, b->lang->pkg);
		return -1;
	}
	if (om_data_path("initramfs/init", b->init) < 0) {
		warnx("initramfs/init: not found next to omerta-mkinitrd (set OMERTA_DATADIR)");
		return -1;
	}
	if (om_data_path("initramfs/omerta-guest", b->guest) < 0) {
		warnx("initramfs/omerta-guest: not found next to omerta-mkinitrd (run make)");
		return -1;
	}
	return resolve_modules(&b->k, &b->mods);
}

/* The cache key: every input's path, size, mtime and inode, the init script's
 * bytes, the language and the format. A rebuild of the same inputs is a lookup. */
static void base_key(const struct base_in *b, char out[33])
{
	crypto_hash_sha256_state h;
	unsigned char d[crypto_hash_sha256_BYTES];
	char line[PATH_MAX + 128], p[PATH_MAX];
	struct stat st;

	crypto_hash_sha256_init(&h);
#define H(s) crypto_hash_sha256_update(&h, (const unsigned char *)(s), strlen(s) + 1)
	H(BASE_FORMAT);
	H(b->lang->name);
	H(b->k.version);
	H(b->k.release);
	for (size_t i = 0; i < b->nfiles + b->mods.n + 4; i++) {
		if (i < b->nfiles)
			snprintf(p, sizeof(p), "%s", b->files[i]);
		else if (i < b->nfiles + b->mods.n)
			snprintf(p, sizeof(p), "%s/%s", b->k.moddir, b->mods.path[i - b->nfiles]);
		else if (i == b->nfiles + b->mods.n)
			snprintf(p, sizeof(p), "/bin/busybox");
		else if (i == b->nfiles + b->mods.n + 1)
			snprintf(p, sizeof(p), "%s", b->init);
		else if (i == b->nfiles + b->mods.n + 2)
			snprintf(p, sizeof(p), "%s", b->guest);
		else
			snprintf(p, sizeof(p), "%s", b->lang->tree ? b->lang->tree : "-");
		memset(&st, 0, sizeof(st));
		stat(p, &st);
		if (snprintf(line, sizeof(line), "%s %lld %lld.%09ld %llu", p, (long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (unsigned long long)st.st_ino) >= (int)sizeof(line))
			continue; /* cannot happen: paths here are short */
		H(line);
	}
	{
		char *buf;
		size_t len;
		if (om_read_path(b->init, 1 << 20, &buf, &len) == 0) {
			crypto_hash_sha256_update(&h, (unsigned char *)buf, len);
			om_read_free(buf, len);
		}
	}
#undef H
	crypto_hash_sha256_final(&h, d);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Directories above path, parents first, each once. */
static void add_parents(struct om_cpio *c, const char *path, char seen[][PATH_MAX], size_t *ns)
{
	char tmp[PATH_MAX];

	for (const char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		size_t k = (size_t)(s - path);
		bool have = false;
		memcpy(tmp, path + 1, k - 1);
		tmp[k - 1] = '\0';
		for (size_t i = 0; i < *ns && !have; i++)
			have = strcmp(seen[i], tmp) == 0;
		if (have || *ns >= 512)
			continue;
		strcpy(seen[(*ns)++], tmp);
		om_cpio_dir(c, tmp, 0755, 0, 0);
	}
}

static struct om_cpio *tree_cpio;
static char (*tree_seen)[PATH_MAX];
static size_t *tree_nseen;

/* Python's standard library, less what a job never imports at startup cost. */
static int tree_walk(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	static const char *const skip[] = { "/test", "/tests", "/__pycache__", "/idlelib",
					     "/tkinter", "/turtledemo", "/ensurepip", "/lib2to3",
					     "/pydoc_data", "/config-3" };
	(void)ftw;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		const char *hit = strstr(p, skip[i]);
		if (hit && (hit[strlen(skip[i])] == '/' || hit[strlen(skip[i])] == '\0' ||
			    strcmp(skip[i], "/config-3") == 0))
			return type == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
	}
	if (type == FTW_D)
		add_parents(tree_cpio, p, tree_seen, tree_nseen), om_cpio_dir(tree_cpio, p + 1, 0755, 0, 0);
	else if (type == FTW_F && S_ISREG(st->st_mode))
		om_cpio_copy(tree_cpio, p + 1, p);
	else if (type == FTW_SL) {
		char t[PATH_MAX];
		ssize_t n = readlink(p, t, sizeof(t) - 1);
		if (n > 0) {
			t[n] = '\0';
			om_cpio_symlink(tree_cpio, p + 1, t);
		}
	}
	return tree_cpio->err ? FTW_STOP : FTW_CONTINUE;
}

/* busybox, and one link per applet; "busybox --list" names busybox itself, which
 * must not become a link to itself. */
static int add_busybox(struct om_cpio *c)
{
	const char *argv[] = { "busybox", "--list", NULL };
	char *list = NULL, dst[PATH_MAX];

	om_cpio_copy(c, "bin/busybox", "/bin/busybox");
	if (om_run(argv, NULL, 0, &list, OM_RUN_QUIET) != 0 || !list) {
		warnx("busybox --list failed");
		free(list);
		return -1;
	}
	for (char *save = NULL, *a = strtok_r(list, "\n", &save); a; a = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(a, "busybox") || strchr(a, '/') || !*a)
			continue;
		snprintf(dst, sizeof(dst), "bin/%s", a);
		om_cpio_symlink(c, dst, "busybox");
	}
	free(list);
	return 0;
}

/* The modules [from, to), each without its signature and its BTF (om_kmod.h says
 * why), and the order they load in, in lib/modules/ORDER_NAME; after split, the rest
 * in SPLIT_NAME. */
static int add_modules_range(struct om_cpio *c, const struct base_in *b, size_t from, size_t to, size_t split,
			     const char *order_name, const char *split_name)
{
	char order[64 * 64] = "", dst[PATH_MAX], src[PATH_MAX];

	for (size_t i = from; i < to; i++) {
		if (i == split && split_name) {
			om_cpio_file(c, order_name, 0644, 0, 0, order, strlen(order));
			order[0] = '\0';
			order_name = split_name;
		}
		const char *name = strrchr(b->mods.path[i], '/');
		char mod[256], *mb;
		size_t ml;
		name = name ? name + 1 : b->mods.path[i];
		snprintf(mod, sizeof(mod), "%.*s", (int)(strlen(name) - 3), name);
		snprintf(dst, sizeof(dst), "lib/modules/%s", name);
		snprintf(src, sizeof(src), "%s/%s", b->k.moddir, b->mods.path[i]);
		if (om_read_path(src, 64u << 20, &mb, &ml) != 0) {
			warn("%s", src);
			return -1;
		}
		om_cpio_file(c, dst, 0644, 0, 0, mb, om_kmod_strip((unsigned char *)mb, ml));
		om_read_free(mb, ml);
		strcat(order, mod);
		strcat(order, "\n");
	}
	om_cpio_file(c, order_name, 0644, 0, 0, order, strlen(order));
	/* No module past the split (a kernel with everything built in has none at all):
	 * the second list is there, empty, for the guest reads both. */
	if (split_name && order_name != split_name)
		om_cpio_file(c, split_name, 0644, 0, 0, "", 0);
	return 0;
}

/* The base's own modules: those every job loads. */
static int add_modules(struct om_cpio *c, const struct base_in *b)
{
	return add_modules_range(c, b, 0, b->mods.ncore, 0, "lib/modules/order", NULL);
}

/* The disks' part (virtio_blk; squashfs and overlay for an image): a second cached
 * archive, put in a job's image only when it has disks (--disks, --image), so that
 * the others do not unpack its half megabyte at every boot (27 ms a MiB). */
static int write_disk_part(const struct base_in *b, FILE *f)
{
	struct om_cpio c;

	om_cpio_init(&c, f);
	if (add_modules_range(&c, b, b->mods.ncore, b->mods.n, b->mods.ndisk, "lib/modules/order.disk",
			      "lib/modules/order.image") < 0)
		return -1;
	om_cpio_finish(&c);
	if (c.err) {
		errno = c.err;
		return -1;
	}
	return 0;
}

static int write_base(const struct base_in *b, FILE *f)
{
	struct om_cpio c;
	char (*seen)[PATH_MAX] = calloc(512, PATH_MAX);
	size_t ns = 0;
	static const char *const dirs[] = { "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev",
					    "proc", "sys", "run", "etc", "lib", "lib/modules",
					    "root", "home", "job" };
	static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
				     "job:x:1000:1000:job:/home/job:/bin/sh\n";
	static const char group[] = "root:x:0:\njob:x:1000:\n";

	if (!seen)
		return -1;
	om_cpio_init(&c, f);
	/* First, the kernel this base is for: its modules load only into that kernel,
	 * and a kernel without modules has drivers that no other base expects. vmboot
	 * reads this entry and refuses another kernel, by name, before QEMU starts;
	 * without it the guest could only power off before any channel (no_report). */
	if (*b->k.release) {
		char st[sizeof(b->k.release) + 1];
		int n = snprintf(st, sizeof(st), "%s\n", b->k.release);
		om_cpio_file(&c, OM_KERNEL_STAMP, 0444, 0, 0, st, (size_t)n);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		om_cpio_dir(&c, dirs[i], 0755, 0, 0);
		strcpy(seen[ns++], dirs[i]);
	}
	om_cpio_dir(&c, "tmp", 01777, 0, 0);
	om_cpio_dir(&c, "home/job", 0700, JOB_UID, JOB_UID);
	/* $OMERTA_OUT: what the job leaves here comes back with --output (its own
	 * disk is mounted over it then); without, it stays in the VM. */
	om_cpio_dir(&c, "home/job/out", 0755, JOB_UID, JOB_UID);
	om_cpio_chardev(&c, "dev/console", 0600, 5, 1);
	om_cpio_chardev(&c, "dev/null", 0666, 1, 3);
	om_cpio_file(&c, "etc/passwd", 0644, 0, 0, passwd, sizeof(passwd) - 1);
	om_cpio_file(&c, "etc/group", 0644, 0, 0, group, sizeof(group) - 1);
	/* /init and its helper are executable in the guest whatever their mode on the
	 * host (an init the kernel cannot execute would leave busybox's own init). */
	for (int i = 0; i < 2; i++) {
		char *fb;
		size_t fl;
		const char *from = i ? b->guest : b->init;
		if (om_read_path(from, 64u << 20, &fb, &fl) != 0) {
			warn("%s", from);
			free(seen);
			return -1;
		}
		om_cpio_file(&c, i ? "bin/omerta-guest" : "init", 0755, 0, 0, fb, fl);
		om_read_free(fb, fl);
	}
	if (add_busybox(&c) < 0) {
		free(seen);
		return -1;
	}
	for (size_t i = 0; i < b->nfiles; i++) {
		add_parents(&c, b->files[i], seen, &ns);
		om_cpio_copy(&c, b->files[i] + 1, b->files[i]);
	}
	if (add_modules(&c, b) < 0) {
		free(seen);
		return -1;
	}
	if (b->lang->tree) {
		tree_cpio = &c;
		tree_seen = seen;
		tree_nseen = &ns;
		nftw(b->lang->tree, tree_walk, 32, FTW_PHYS | FTW_ACTIONRETVAL);
	}
	om_cpio_finish(&c);
	free(seen);
	if (c.err) {
		errno = c.err;
		return -1;
	}
	return 0;
}

static int cache_dir(char out[PATH_MAX])
{
	const char *d = getenv("OMERTA_CACHE_DIR");

	if (!d || !*d)
		d = "/var/cache/omerta";
	if (d[0] != '/' || strlen(d) > 200) {
		warnx("OMERTA_CACHE_DIR must be an absolute path");
		return -1;
	}
	snprintf(out, PATH_MAX, "%s", d);
	if (mkdir(d, 0700) < 0 && errno != EEXIST) {
		warn("%s", d);
		return -1;
	}
	/* The base is read back from here into every job's image: a folder that a link
	 * points elsewhere, or that another user could write, would let them plant it. */
	return om_rundir_check(d);
}

/* The base image's path in the cache, built first when missing. Concurrent builds
 * each write a temporary file and rename it: the last rename wins, and every reader
 * sees a whole file. */
static int ensure_base(struct base_in *b, char path[PATH_MAX])
{
	char dir[PATH_MAX], key[33], tmp[PATH_MAX + 32];
	int fd;
	FILE *f;

	if (gather_base(b) < 0)
		return EX_MISSING;
	if (cache_dir(dir) < 0)
		return EX_SYS;
	base_key(b, key);
	if (snprintf(path, PATH_MAX, "%s/base-%s-%s-%s.cpio", dir, b->lang->name, b->k.version,
		     key) >= PATH_MAX)
		return EX_SYS;
	for (int part = 0; part < 2; part++) {
		char p[PATH_MAX + 8];
		snprintf(p, sizeof(p), "%s%s", path, part ? ".disks" : "");
		if (access(p, R_OK) == 0) {
			/* A use: omerta-gc --cache-max prunes the least recently used first. */
			utimensat(AT_FDCWD, p, NULL, 0);
			continue;
		}
		snprintf(tmp, sizeof(tmp), "%s.tmp.%d", p, (int)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 || !(f = fdopen(fd, "w"))) {
			warn("%s", tmp);
			if (fd >= 0)
				close(fd);
			return EX_SYS;
		}
		if ((part ? write_disk_part(b, f) : write_base(b, f)) < 0 || fflush(f) == EOF || fsync(fd) < 0) {
			warn("write %s", tmp);
			fclose(f);
			unlink(tmp);
			return EX_SYS;
		}
		fclose(f);
		if (rename(tmp, p) < 0) {
			warn("rename %s", tmp);
			unlink(tmp);
			return EX_SYS;
		}
	}
	return EX_OK;
}

/* ---- the per-job part -------------------------------------------------------------- */

#define ENV_MAX 256        /* --env entries */
#define ENV_BYTES 65536    /* their NAME=VALUE bytes together */
#define ENV_NAME_MAX 128

struct job_in {
	struct om_wgconf *conf;
	const char *script;
	size_t script_len;
	const char *env[ENV_MAX]; /* --env NAME=VALUE, checked */
	size_t n_env, env_bytes;
	const struct lang *lang;
	bool root;
	struct om_ip door_ip;
	unsigned door_port;
	struct om_cidr guest;
	struct om_ip server;
	bool by_handshake; /* no server address: verified by the handshake */
	bool disks;        /* --disks or --image: the disks' modules go in the image */
	unsigned heartbeat, verify_tries;
};

/* ---- checks ---------------------------------------------------------------------- */

static void diag(void *ctx, unsigned line, const char *msg)
{
	const char *name = ctx;

	if (line)
		fprintf(stderr, "omerta-mkinitrd: %s:%u: %s\n", name, line, msg);
	else
		fprintf(stderr, "omerta-mkinitrd: %s: %s\n", name, msg);
}

/* The address /init pings to verify the tunnel: --server-ip, else the config's own
 * (om_wgconf_server_ip: the one choice omerta-wgconf show prints too). */
static int pick_server(const struct om_wgconf *w, const char *opt, struct om_ip *out)
{
	if (opt) {
		if (om_ip_parse(opt, out) < 0 || out->family != AF_INET) {
			warnx("--server-ip must be an IPv4 address");
			return -1;
		}
		return 0;
	}
	if (om_wgconf_server_ip(w, out) == 0)
		return 0;
	/* A config with no server address omerta can know (a commercial VPN's): the
	 * guest verifies the tunnel by a completed handshake instead of a ping. */
	return 1;
}


/* Text built in a fixed buffer: every append is bounded, and one that does not fit
 * marks the buffer, so that a truncated config is never written. */
struct tbuf {
	char *p;
	size_t cap, len;
	bool over;
};

__attribute__((format(printf, 2, 3))) static void tb_printf(struct tbuf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->over = true;
	else
		t->len += (size_t)n;
}

/* wg setconf input. The endpoint is the door; the jail relays to the real one. It
 * holds the private key: the caller's buffer is wiped by the caller, and the
 * base64 copy here before returning. 0, or -1 when it does not fit. */
static int wg_conf_text(const struct job_in *j, struct tbuf *t)
{
	const struct om_wgconf *w = j->conf;
	char k[OM_KEY_B64_LEN + 1], door[OM_IP_STRLEN];

	om_ip_format(&j->door_ip, door);
	om_key_to_b64(k, w->private_key);
	tb_printf(t, "[Interface]\nPrivateKey = %s\n\n[Peer]\n", k);
	om_key_to_b64(k, w->public_key);
	tb_printf(t, "PublicKey = %s\n", k);
	if (w->has_preshared_key) {
		om_key_to_b64(k, w->preshared_key);
		tb_printf(t, "PresharedKey = %s\n", k);
	}
	tb_printf(t, "Endpoint = %s:%u\nAllowedIPs = 0.0.0.0/0\n", door, j->door_port);
	/* Verified by the handshake: a keepalive interval makes the kernel start one at
	 * once, with nothing sent to any address, and keep the tunnel talking. */
	if (w->has_keepalive && w->keepalive)
		tb_printf(t, "PersistentKeepalive = %u\n", w->keepalive);
	else if (j->by_handshake)
		tb_printf(t, "PersistentKeepalive = %u\n", 25u);
	sodium_memzero(k, sizeof(k));
	return t->over ? -1 : 0;
}

/* The job's parameters for /init, every value validated above. 0, or -1 when they
 * do not fit. */
static int job_text(const struct job_in *j, struct tbuf *t)
{
	const struct om_wgconf *w = j->conf;
	char a[OM_IP_STRLEN], door[OM_IP_STRLEN];

	om_ip_format(&j->door_ip, door);
	om_ip_format(&j->guest.ip, a);
	tb_printf(t, "guest_addr=%s/%u\ntunnel_addrs=", a, j->guest.prefix);
	for (size_t i = 0, n = 0; i < w->n_address; i++) {
		if (w->address[i].ip.family != AF_INET)
			continue; /* IPv6 is off in the guest */
		om_ip_format(&w->address[i].ip, a);
		tb_printf(t, "%s%s/%u", n++ ? "," : "", a, w->address[i].prefix);
	}
	tb_printf(t, "\ndns=");
	for (size_t i = 0, n = 0; i < w->n_dns; i++) {
		if (w->dns[i].family != AF_INET)
			continue;
		om_ip_format(&w->dns[i], a);
		tb_printf(t, "%s%s", n++ ? "," : "", a);
	}
	if (j->by_handshake)
		strcpy(a, "-");
	else
		om_ip_format(&j->server, a);
	tb_printf(t, "\nmtu=%u\nserver_ip=%s\nverify=%s\nverify_tries=%u\nheartbeat=%u\nroot=%d\ninterpreter=%s\n",
		  w->has_mtu ? w->mtu : 1420, a, j->by_handshake ? "handshake" : "ping", j->verify_tries, j->heartbeat,
		  j->root ? 1 : 0, j->lang->interpreter);
	/* The kill switch's one way out: UDP to the door (omerta-guest killswitch). */
	tb_printf(t, "door=%s\ndoor_port=%u\n", door, j->door_port);
	return t->over ? -1 : 0;
}

/* job/env: the --env entries as NAME=VALUE, each ending in a NUL (a value may hold
 * any byte but NUL, newlines included), read by omerta-guest as the workload starts.
 * Not secret: the values are the requester's settings, readable in the guest. */
static int write_env(struct om_cpio *c, const struct job_in *j)
{
	char *b = malloc(j->env_bytes + j->n_env), *p = b;

	if (!b)
		return -1;
	for (size_t i = 0; i < j->n_env; i++) {
		size_t n = strlen(j->env[i]) + 1;
		memcpy(p, j->env[i], n);
		p += n;
	}
	om_cpio_file(c, "job/env", 0644, 0, 0, b, (size_t)(p - b));
	free(b);
	return 0;
}

/* An --env entry: NAME=VALUE with NAME a shell name, [A-Za-z_][A-Za-z0-9_]*, of at
 * most 128 bytes, not one of omerta's own (OMERTA_*), given once. Duplicates are
 * refused rather than one silently winning. EX_OK, or EX_INPUT after a message. */
static int add_env(struct job_in *j, const char *e)
{
	const char *eq = strchr(e, '=');
	size_t n = eq ? (size_t)(eq - e) : 0;

	if (!eq || n == 0 || n > ENV_NAME_MAX || !(isalpha((unsigned char)e[0]) || e[0] == '_') ||
	    strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n) {
		warnx("--env wants NAME=VALUE, NAME of letters, digits and _ (not first a digit), at most %d bytes",
		      ENV_NAME_MAX);
		return EX_INPUT;
	}
	if (strncmp(e, "OMERTA_", 7) == 0) {
		warnx("--env %.*s: the OMERTA_ names are omerta's own", (int)n, e);
		return EX_INPUT;
	}
	for (size_t i = 0; i < j->n_env; i++)
		if (strncmp(j->env[i], e, n + 1) == 0) {
			warnx("--env %.*s is given twice", (int)n, e);
			return EX_INPUT;
		}
	if (j->n_env == ENV_MAX || j->env_bytes + strlen(e) > ENV_BYTES) {
		warnx("--env: at most %d entries and %d bytes together", ENV_MAX, ENV_BYTES);
		return EX_INPUT;
	}
	j->env[j->n_env++] = e;
	j->env_bytes += strlen(e);
	return EX_OK;
}

/* --env-file: entries as job/env has them, NAME=VALUE each ending in a NUL (what
 * omerta execute writes from its --env options), each checked as --env is. */
static int load_env_file(const char *path, struct job_in *j, char **buf, size_t *len)
{
	int r = om_read_path(path, ENV_BYTES + ENV_MAX + 1, buf, len);

	if (r == -2 || (r == 0 && *len > ENV_BYTES + ENV_MAX)) {
		warnx("--env: at most %d entries and %d bytes together", ENV_MAX, ENV_BYTES);
		return EX_INPUT;
	}
	if (r < 0) {
		warn("%s", path);
		return EX_INPUT;
	}
	if (*len && (*buf)[*len - 1] != '\0') {
		warnx("%s: an entry does not end in a NUL byte", path);
		return EX_INPUT;
	}
	for (size_t off = 0; off < *len; off += strlen(*buf + off) + 1) {
		int ret = add_env(j, *buf + off);
		if (ret != EX_OK)
			return ret;
	}
	return EX_OK;
}

/* The per-job archive into f. 0, or -1 with errno set. */
static int write_job(const struct job_in *j, FILE *f)
{
	struct om_cpio c;
	char wg[1024], job[4096];
	struct tbuf tw = { wg, sizeof(wg), 0, false }, tj = { job, sizeof(job), 0, false };
	int r = -1;

	om_cpio_init(&c, f);
	if (wg_conf_text(j, &tw) < 0 || job_text(j, &tj) < 0) {
		errno = ENOBUFS; /* cannot happen with validated input; checked all the same */
		goto out;
	}
	om_cpio_dir(&c, "etc", 0755, 0, 0);
	om_cpio_dir(&c, "etc/omerta", 0700, 0, 0);
	om_cpio_file(&c, "etc/omerta/wg.conf", 0600, 0, 0, wg, tw.len);
	om_cpio_file(&c, "etc/omerta/job", 0600, 0, 0, job, tj.len);
	om_cpio_dir(&c, "job", 0755, 0, 0);
	om_cpio_file(&c, "job/workload", 0644, 0, 0, j->script, j->script_len);
	if (j->n_env && write_env(&c, j) < 0)
		goto out;
	om_cpio_finish(&c);
	if (c.err)
		errno = c.err;
	else
		r = 0;
out:
	sodium_memzero(wg, sizeof(wg));
	return r;
}

/* A FILE over a fixed buffer: the job archive holds the private key, and a growing
 * buffer (open_memstream) leaves a copy behind at each reallocation. The stream is
 * unbuffered, so stdio keeps no copy of its own either. A write that does not fit
 * fails with ENOSPC. */
struct fixbuf {
	unsigned char *p;
	size_t cap, len;
};

static ssize_t fixbuf_write(void *cookie, const char *data, size_t n)
{
	struct fixbuf *b = cookie;

	if (n > b->cap - b->len) {
		errno = ENOSPC;
		return 0; /* fopencookie(3): 0, never a negative count, on error */
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return (ssize_t)n;
}

/* The job archive, built in locked memory (sodium_malloc: guard pages, kept out of
 * swap where the limits allow), written to fd and wiped. 0, or -1 after a message. */
static int emit_job(const struct job_in *j, int fd)
{
	/* Headers and the two small files take under 8 KiB; the script and the
	 * environment are capped. */
	struct fixbuf b = { NULL, j->script_len + j->env_bytes + j->n_env + 16384, 0 };
	cookie_io_functions_t io = { .write = fixbuf_write };
	FILE *m;
	int r = -1;

	b.p = sodium_malloc(b.cap);
	if (!b.p) {
		warn("job archive: cannot allocate %zu bytes", b.cap);
		return -1;
	}
	m = fopencookie(&b, "w", io);
	if (!m || setvbuf(m, NULL, _IONBF, 0) != 0) {
		warn("job archive");
		if (m)
			fclose(m);
	} else if (write_job(j, m) < 0 || fflush(m) == EOF) {
		warn("job archive");
		fclose(m);
	} else if (fclose(m) == EOF)
		warn("job archive");
	else if (om_write_all(fd, b.p, b.len) < 0)
		warn("write the job archive");
	else
		r = 0;
	sodium_memzero(b.p, b.cap);
	sodium_free(b.p);
	return r;
}

struct opts {
	const char *cfg, *script, *script_file, *language, *endpoint, *server_ip, *door, *guest,
		*kernel, *output, *hb, *tries;
	bool base_only, which_kernel, allow_private, root, image, disks;
	const char *env[ENV_MAX + 1];
	size_t n_env;
	const char *env_file;
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "vpn-config", required_argument, NULL, 'c' },
		{ "script", required_argument, NULL, 's' },
		{ "script-file", required_argument, NULL, 'S' },
		{ "language", required_argument, NULL, 'l' },
		{ "root", no_argument, NULL, 'r' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "vpn-endpoint", required_argument, NULL, 'e' }, /* the old name */
		{ "server-ip", required_argument, NULL, 'i' },
		{ "vpn-server-ip", required_argument, NULL, 'i' }, /* the old name */
		{ "door", required_argument, NULL, 'd' },
		{ "guest-addr", required_argument, NULL, 'g' },
		{ "heartbeat", required_argument, NULL, 'H' },
		{ "verify-tries", required_argument, NULL, 'T' },
		{ "allow-private-endpoint", no_argument, NULL, 'a' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "env", required_argument, NULL, 'E' },
		{ "env-file", required_argument, NULL, 'F' },
		{ "base", no_argument, NULL, 'B' },
		{ "which-kernel", no_argument, NULL, 'W' },
		{ "image", no_argument, NULL, 'I' },
		{ "disks", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->cfg = optarg; break;
		case 's': o->script = optarg; break;
		case 'S': o->script_file = optarg; break;
		case 'l': o->language = optarg; break;
		case 'r': o->root = true; break;
		case 'I': o->image = true; break;
		case 'D': o->disks = true; break;
		case 'e': o->endpoint = optarg; break;
		case 'i': o->server_ip = optarg; break;
		case 'd': o->door = optarg; break;
		case 'g': o->guest = optarg; break;
		case 'H': o->hb = optarg; break;
		case 'T': o->tries = optarg; break;
		case 'a': o->allow_private = true; break;
		case 'k': o->kernel = optarg; break;
		case 'E':
			if (o->n_env == ENV_MAX + 1) {
				warnx("--env: at most %d entries and %d bytes together", ENV_MAX, ENV_BYTES);
				exit(EX_INPUT);
			}
			o->env[o->n_env++] = optarg;
			break;
		case 'F': o->env_file = optarg; break;
		case 'B': o->base_only = true; break;
		case 'W': o->which_kernel = true; break;
		case 'o': o->output = optarg; break;
		case 'h': usage(EX_OK); break;
		case 'V': puts("omerta-mkinitrd " OMERTA_VERSION); exit(EX_OK);
		default: usage(EX_USAGE_);
		}
	}
	if (optind != argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		usage(EX_USAGE_);
	}
}

/* The combinations of a job build; usage() exits on a wrong one. */
static void check_usage(const struct opts *o)
{
	if (!o->cfg) {
		warnx("--vpn-config is required");
		usage(EX_USAGE_);
	}
	if (!!o->script + !!o->script_file != 1) {
		warnx("give one of --script and --script-file");
		usage(EX_USAGE_);
	}
	if (o->script_file && strcmp(o->script_file, "-") == 0 && strcmp(o->cfg, "-") == 0) {
		warnx("--vpn-config and --script-file cannot both be standard input");
		usage(EX_USAGE_);
	}
}

/* The door, the guest's address and the numbers. EX_OK, or EX_INPUT after a message. */
static int check_job_opts(const struct opts *o, struct job_in *j)
{
	char host[OM_HOST_MAX + 1];
	uint16_t port;
	const char *why;
	uint64_t v;

	if (om_endpoint_split(o->door, host, &port, &why) < 0 || om_ip_parse(host, &j->door_ip) < 0 ||
	    j->door_ip.family != AF_INET) {
		warnx("--door must be IPv4:PORT");
		return EX_INPUT;
	}
	j->door_port = port;
	if (om_cidr_parse(o->guest, &j->guest, true) < 0 || j->guest.ip.family != AF_INET ||
	    j->guest.prefix < 8 || j->guest.prefix > 30 || !om_cidr_contains(&j->guest, &j->door_ip) ||
	    om_ip_equal(&j->guest.ip, &j->door_ip)) {
		warnx("--guest-addr must be IPv4/8..30 on the door's subnet, not the door itself");
		return EX_INPUT;
	}
	j->heartbeat = 2;
	if (o->hb) {
		if (om_parse_u64(o->hb, 1, 60, &v) < 0) {
			warnx("--heartbeat must be 1 to 60 seconds");
			return EX_INPUT;
		}
		j->heartbeat = (unsigned)v;
	}
	j->verify_tries = 10;
	if (o->tries) {
		if (om_parse_u64(o->tries, 1, 100, &v) < 0) {
			warnx("--verify-tries must be 1 to 100");
			return EX_INPUT;
		}
		j->verify_tries = (unsigned)v;
	}
	return EX_OK;
}

/* The script, from the option or a file (a file that cannot be read is refused
 * input, exit 1, as in omerta-wgconf). EX_OK or EX_INPUT. */
static int load_script(const struct opts *o, struct job_in *j, char **buf, size_t *len)
{
	if (o->script) {
		j->script = o->script;
		j->script_len = strlen(o->script);
	} else {
		int r = om_read_path(o->script_file, SCRIPT_CAP, buf, len);
		if (r == -2) {
			warnx("%s: script larger than %d bytes", o->script_file, SCRIPT_CAP);
			return EX_INPUT;
		}
		if (r < 0) {
			warn("%s", o->script_file);
			return EX_INPUT;
		}
		j->script = *buf;
		j->script_len = *len;
	}
	if (j->script_len == 0 || j->script_len > SCRIPT_CAP) {
		warnx("the script is empty or too large");
		return EX_INPUT;
	}
	return EX_OK;
}

/* The config, read, parsed and checked as omerta-wgconf check does; a file that
 * cannot be read is refused input. EX_OK, EX_INPUT or EX_SYS. */
static int load_conf(const struct opts *o, struct job_in *j, char **buf, size_t *len)
{
	const char *name = strcmp(o->cfg, "-") ? o->cfg : "stdin";
	char dname[256];
	struct om_cidr *nets;
	size_t nn;
	int r = om_read_path(o->cfg, OM_WG_CAP, buf, len), problems;

	if (r == -2) {
		warnx("%s: larger than %d bytes", name, OM_WG_CAP);
		return EX_INPUT;
	}
	if (r < 0) {
		warn("%s", name);
		return EX_INPUT;
	}
	j->conf = calloc(1, sizeof(*j->conf));
	if (!j->conf) {
		warn("calloc");
		return EX_SYS;
	}
	snprintf(dname, sizeof(dname), "%s", name);
	problems = om_wgconf_parse(*buf, *len, j->conf, diag, dname);
	if (o->endpoint && om_wgconf_set_endpoint(j->conf, o->endpoint, diag, dname) < 0)
		problems++;
	if (om_local_nets(&nets, &nn) < 0) {
		warn("getifaddrs");
		return EX_SYS;
	}
	struct om_wgpolicy pol = { o->allow_private, nets, nn };
	problems += om_wgconf_check(j->conf, &pol, diag, dname);
	free(nets);
	return problems ? EX_INPUT : EX_OK;
}

/* base, then the job: the kernel unpacks concatenated archives in turn. Every
 * write is checked; a partial output file is removed. EX_OK or EX_SYS. */
static int write_image(const char *output, const char *basepath, const struct job_in *j)
{
	int fd = STDOUT_FILENO, in, ret = EX_SYS;
	char buf[1 << 16];
	ssize_t r;

	/* A reader that went away is a write error with a message, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (output) {
		fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || fchmod(fd, 0600) < 0) {
			warn("%s", output);
			goto out;
		}
	}
	for (int part = 0; part < 1 + (j->disks ? 1 : 0); part++) {
		char p[PATH_MAX + 8];
		snprintf(p, sizeof(p), "%s%s", basepath, part ? ".disks" : "");
		in = open(p, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			warn("%s", p);
			goto out;
		}
		while ((r = read(in, buf, sizeof(buf))) > 0)
			if (om_write_all(fd, buf, (size_t)r) < 0)
				break;
		close(in);
		if (r != 0) {
			warn("copy %s", p);
			goto out;
		}
	}
	if (emit_job(j, fd) == 0)
		ret = EX_OK;
out:
	if (output && fd >= 0) {
		if (close(fd) < 0 && ret == EX_OK) {
			warn("%s", output);
			ret = EX_SYS;
		}
		if (ret != EX_OK)
			unlink(output);
	}
	return ret;
}

/* --which-kernel: the kernel a job boots and why, one line, PATH<TAB>WHY: what
 * omerta-execute boots and omerta status reports, from the one rule (om_kconfig.h). */
static int which_kernel(int argc)
{
	char path[PATH_MAX], why[PATH_MAX + 96];

	if (argc != 2) {
		warnx("--which-kernel takes nothing else");
		usage(EX_USAGE_);
	}
	if (om_kernel_choose(path, why, sizeof(why)) < 0) {
		warnx("no kernel in /boot (apt-get install linux-image-cloud-amd64, or make kernel)");
		return EX_MISSING;
	}
	if (printf("%s\t%s\n", path, why) < 0 || fflush(stdout) == EOF) {
		warn("write");
		return EX_SYS;
	}
	return EX_OK;
}

static int build_base(const struct opts *o, struct base_in *b)
{
	char basepath[PATH_MAX];
	int ret;

	if (o->cfg || o->script || o->script_file || o->output || o->endpoint || o->server_ip || o->root || o->n_env || o->env_file) {
		warnx("--base takes only --language and --kernel");
		usage(EX_USAGE_);
	}
	if (find_kernel(o->kernel, &b->k) < 0)
		return EX_MISSING;
	ret = ensure_base(b, basepath);
	if (ret == EX_OK && (puts(basepath) == EOF || fflush(stdout) == EOF)) {
		warn("write");
		ret = EX_SYS;
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = { .language = "sh", .door = "10.66.0.1:51820", .guest = "10.66.0.2/24" };
	static struct base_in base; /* over 500 KiB: static, for the life of the process */
	struct base_in *b = &base;
	struct job_in j = { 0 };
	char *cfgbuf = NULL, *scriptbuf = NULL, *envbuf = NULL, basepath[PATH_MAX];
	size_t cfglen = 0, scriptlen = 0, envlen = 0;
	int ret;

	parse_opts(argc, argv, &o);
	if (o.which_kernel)
		return which_kernel(argc);
	j.root = o.root;
	j.disks = o.disks || o.image;
	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++)
		if (strcmp(o.language, langs[i].name) == 0)
			b->lang = j.lang = &langs[i];
	/* --image: the workload's interpreter is the image's own (at the language's
	 * path), so the base carries none: sh's base, busybox alone, unpacks fastest. */
	if (b->lang && o.image)
		b->lang = &langs[0];
	if (!b->lang) {
		warnx("unknown language '%s' (sh, bash or python)", o.language);
		return EX_INPUT;
	}
	if (sodium_init() < 0) {
		warnx("cannot initialise libsodium");
		return EX_SYS;
	}
	if (o.base_only)
		return build_base(&o, b);

	/* Every input is checked before anything is built. */
	check_usage(&o);
	ret = check_job_opts(&o, &j);
	for (size_t i = 0; i < o.n_env && ret == EX_OK; i++)
		ret = add_env(&j, o.env[i]);
	if (ret == EX_OK && o.env_file)
		ret = load_env_file(o.env_file, &j, &envbuf, &envlen);
	if (ret == EX_OK)
		ret = load_script(&o, &j, &scriptbuf, &scriptlen);
	if (ret == EX_OK)
		ret = load_conf(&o, &j, &cfgbuf, &cfglen);
	if (ret == EX_OK) {
		int p = pick_server(j.conf, o.server_ip, &j.server);
		if (p < 0)
			ret = EX_INPUT;
		j.by_handshake = p == 1;
	}
	if (ret == EX_OK && find_kernel(o.kernel, &b->k) < 0)
		ret = EX_MISSING;
	if (ret == EX_OK)
		ret = ensure_base(b, basepath);
	if (ret == EX_OK)
		ret = write_image(o.output, basepath, &j);
	if (j.conf) {
		om_wgconf_wipe(j.conf);
		free(j.conf);
	}
	om_read_free(cfgbuf, cfglen);
	om_read_free(scriptbuf, scriptlen);
	om_read_free(envbuf, envlen);
	return ret;
}
