#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_cpio.h"
#include "om_kconfig.h"
#include "om_read.h"
#include "om_rundir.h"

/* A release as a kernel names itself: printable, no space, no '/'. Fedora's have
 * '_' (6.5.6-300.fc39.x86_64), Debian's '+' and '~'. */
static bool release_ok(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]) || s[i] == '/')
			return false;
	return true;
}

int om_kernel_release(int fd, char *out, size_t len)
{
	unsigned char h[16];
	char v[96];
	size_t n = 0;
	ssize_t got;

	/* The setup header (Documentation/x86/boot.rst): "HdrS" at 0x202, and at 0x20e
	 * the version string's offset less 0x200. Boot protocol 2.00 has had it. */
	if (pread(fd, h, sizeof(h), 0x200) != (ssize_t)sizeof(h) || memcmp(h + 2, "HdrS", 4) != 0)
		return -1;
	unsigned off = h[14] | (unsigned)h[15] << 8;
	if (!off || (got = pread(fd, v, sizeof(v), (off_t)off + 0x200)) <= 0)
		return -1;
	/* The release ends at a space or a NUL of the file's own: a string cut off by
	 * the file's end, or longer than the read, is no release. */
	while (n < (size_t)got && v[n] != ' ' && v[n] != 0)
		n++;
	if (n == (size_t)got || n >= len || !release_ok(v, n))
		return -1;
	memcpy(out, v, n);
	out[n] = 0;
	return 0;
}

int om_stamp_read(int fd, char *out, size_t len)
{
	size_t n;
	int r = om_cpio_first(fd, OM_KERNEL_STAMP, out, len, &n);

	/* The release and its newline, which becomes the string's end. */
	if (r <= 0) {
		out[0] = 0;
		return r;
	}
	if (n < 2 || out[n - 1] != '\n' || !release_ok(out, n - 1)) {
		out[0] = 0;
		return -1;
	}
	out[n - 1] = 0;
	return 1;
}

bool om_kconfig_unset(const char *kernel, const char *opt)
{
	char cfg[4096], want[160], *buf;
	const char *slash = strrchr(kernel, '/'), *base = slash ? slash + 1 : kernel;
	size_t len;
	bool unset;

	if (strncmp(base, "vmlinuz-", 8) != 0 || strlen(opt) > 100)
		return false;
	if (snprintf(cfg, sizeof(cfg), "%.*sconfig-%s", (int)(base - kernel), kernel, base + 8) >= (int)sizeof(cfg))
		return false;
	if (om_read_path(cfg, 4 << 20, &buf, &len) != 0)
		return false;
	snprintf(want, sizeof(want), "\n# %s is not set\n", opt);
	/* The buffer is NUL-ended (om_read); a config's first line is a comment. */
	unset = strstr(buf, want) != NULL;
	om_read_free(buf, len);
	return unset;
}

/* A kernel file (or its config) that root or we own and that no group or other may
 * write: anyone else's could be a kernel of theirs, booted by root with a job's key
 * in it. */
static bool trusted(const struct stat *st)
{
	return S_ISREG(st->st_mode) && (st->st_uid == 0 || st->st_uid == geteuid()) && !(st->st_mode & 022);
}

static int newest_boot(char out[PATH_MAX])
{
	DIR *d = opendir("/boot");
	struct dirent *e;
	char best[256] = "";

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "vmlinuz-", 8) == 0 && strverscmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	closedir(d);
	if (!*best)
		return -1;
	snprintf(out, PATH_MAX, "/boot/%s", best);
	return 0;
}

/* DIR, resolved into REAL, and every folder on the way to it: root's or ours, and
 * none that a group or other may write but a sticky one (om_path_trusted). Else
 * someone else could put a folder of their own in its place between this choice and
 * QEMU's open of the kernel. (A sticky kernel folder is safe too: what others put
 * in it is theirs, and passed over file by file.) */
static int trusted_tree(const char *dir, char real[PATH_MAX], char *why, size_t wlen)
{
	char bad[PATH_MAX];

	if (!realpath(dir, real)) {
		if (errno != ENOENT)
			snprintf(why, wlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!om_path_trusted(real, geteuid(), bad, sizeof(bad))) {
		snprintf(why, wlen, "%s is not root's or ours alone: its kernels are ignored", bad);
		return -1;
	}
	return 0;
}

/* vmlinuz-VERSION-omerta-KEY, KEY make kernel's 12 hex digits, and nothing after
 * it: not a file make kernel is still writing, nor anything else's. */
static bool own_name(const char *n)
{
	size_t len = strlen(n);

	if (strncmp(n, "vmlinuz-", 8) != 0 || len > 200 || len < 8 + 1 + 8 + 12 ||
	    strncmp(n + len - 20, "-omerta-", 8) != 0)
		return false;
	for (size_t i = len - 12; i < len; i++)
		if (!isxdigit((unsigned char)n[i]) || isupper((unsigned char)n[i]))
			return false;
	return true;
}

/* The newest DIR/vmlinuz-*-omerta-KEY (by mtime: make kernel touches the one it
 * finds or builds) that has its config beside it, both trusted. */
static int newest_own(const char *want, char out[PATH_MAX], char *why, size_t wlen)
{
	DIR *d;
	struct dirent *e;
	struct stat st, cs;
	char dir[PATH_MAX], p[PATH_MAX], c[PATH_MAX];
	struct timespec best = { 0, 0 };
	int found = -1;

	if (trusted_tree(want, dir, why, wlen) < 0)
		return -1;
	if (!(d = opendir(dir))) {
		snprintf(why, wlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (!own_name(e->d_name))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p) ||
		    snprintf(c, sizeof(c), "%s/config-%s", dir, e->d_name + 8) >= (int)sizeof(c))
			continue;
		if (lstat(p, &st) < 0 || lstat(c, &cs) < 0)
			continue;
		if (!trusted(&st) || !trusted(&cs)) {
			snprintf(why, wlen, "%s is not root's or ours alone: ignored", p);
			continue;
		}
		if (found < 0 || st.st_mtim.tv_sec > best.tv_sec ||
		    (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec)) {
			best = st.st_mtim;
			snprintf(out, PATH_MAX, "%s", p);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

int om_kernel_choose(char out[PATH_MAX], char *why, size_t wlen)
{
	const char *env = getenv("OMERTA_KERNEL"), *cache = getenv("OMERTA_CACHE_DIR");
	char dir[PATH_MAX], skipped[PATH_MAX + 64] = "";

	if (env && *env) {
		if (strlen(env) >= PATH_MAX)
			return -1;
		snprintf(out, PATH_MAX, "%s", env);
		snprintf(why, wlen, "OMERTA_KERNEL");
		return 0;
	}
	if (!cache || !*cache)
		cache = "/var/cache/omerta";
	if (snprintf(dir, sizeof(dir), "%s/kernel", cache) >= (int)sizeof(dir))
		return -1;
	if (newest_own(dir, out, skipped, sizeof(skipped)) == 0) {
		snprintf(why, wlen, "omerta's own, built by make kernel");
		return 0;
	}
	if (newest_boot(out) < 0)
		return -1;
	if (*skipped)
		snprintf(why, wlen, "Debian's (%s)", skipped);
	else
		snprintf(why, wlen, "Debian's: no kernel built by make kernel in %s", dir);
	return 0;
}
