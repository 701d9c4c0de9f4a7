#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>
#include "om_cpio.h"
#include "om_kconfig.h"
#include "t.h"

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A bzImage's release from its boot header: "HdrS" at 0x202, the version string's
 * offset less 0x200 at 0x20e (here 0x100, so the string is at 0x300). */
static int release_cut(const char *ver, bool magic, bool cut, char *out, size_t len)
{
	char img[0x400] = { 0 };
	FILE *f = tmpfile();
	int r;

	if (magic)
		memcpy(img + 0x202, "HdrS", 4);
	img[0x20e] = 0x00;
	img[0x20f] = 0x01;
	snprintf(img + 0x300, 0x100, "%s", ver);
	if (!f)
		return -2;
	fwrite(img, 1, cut ? 0x300 + strlen(ver) : sizeof(img), f);
	fflush(f);
	r = om_kernel_release(fileno(f), out, len);
	fclose(f);
	return r;
}

static int release_of(const char *ver, bool magic, char *out, size_t len)
{
	return release_cut(ver, magic, false, out, len);
}

static void t_release(void)
{
	char r[96];

	CHECK(release_of("6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP", true, r, sizeof(r)) == 0 &&
		      strcmp(r, "6.1.0-57-cloud-amd64") == 0,
	      "release: the version string's first word");
	CHECK(release_of("6.1.192-omerta-cba036c07cb1", true, r, sizeof(r)) == 0 &&
		      strcmp(r, "6.1.192-omerta-cba036c07cb1") == 0,
	      "release: the whole string when it has no more");
	CHECK(release_of("6.1.0", false, r, sizeof(r)) == -1, "release: no HdrS, not a bzImage");
	CHECK(release_of("", true, r, sizeof(r)) == -1, "release: an empty string");
	CHECK(release_of("6.1/../x y", true, r, sizeof(r)) == -1, "release: a '/', which no release has");
	CHECK(release_of("6.1\033[2J y", true, r, sizeof(r)) == -1, "release: a control byte");
	CHECK(release_of("6.5.6-300.fc39.x86_64 (mockbuild@example)", true, r, sizeof(r)) == 0 &&
		      strcmp(r, "6.5.6-300.fc39.x86_64") == 0,
	      "release: Fedora's, with '_'");
	CHECK(release_of("6.1.0-57-cloud-amd64 x", true, r, 8) == -1, "release: longer than the buffer");
	CHECK(release_cut("6.1.0-57-cloud-amd64", true, true, r, sizeof(r)) == -1,
	      "release: cut off by the file's end");
	CHECK(release_cut("6.1.0-57-cloud-amd64 (", true, true, r, sizeof(r)) == 0 &&
		      strcmp(r, "6.1.0-57-cloud-amd64") == 0,
	      "release: ended by a space of the file's own");
}

/* An archive whose first entry is NAME (a file holding DATA[0..LEN), or a folder
 * when DATA is NULL), then /init: what om_stamp_read makes of it. */
static int stamp_of(const char *name, const char *data, size_t len, char *out, size_t olen)
{
	FILE *f = tmpfile();
	struct om_cpio c;
	int r;

	if (!f)
		return -2;
	om_cpio_init(&c, f);
	if (data)
		om_cpio_file(&c, name, 0444, 0, 0, data, len);
	else
		om_cpio_dir(&c, name, 0755, 0, 0);
	om_cpio_file(&c, "init", 0755, 0, 0, "#!/bin/sh\n", 10);
	om_cpio_finish(&c);
	fflush(f);
	r = om_stamp_read(fileno(f), out, olen);
	fclose(f);
	return r;
}

static void t_stamp(void)
{
	char r[96], big[120];

	CHECK(stamp_of(OM_KERNEL_STAMP, "6.1.0-57-cloud-amd64\n", 21, r, sizeof(r)) == 1 &&
		      strcmp(r, "6.1.0-57-cloud-amd64") == 0,
	      "stamp: read back");
	CHECK(stamp_of(OM_KERNEL_STAMP, "6.5.6-300.fc39.x86_64\n", 22, r, sizeof(r)) == 1 &&
		      strcmp(r, "6.5.6-300.fc39.x86_64") == 0,
	      "stamp: Fedora's release, with '_'");
	CHECK(stamp_of("bin", NULL, 0, r, sizeof(r)) == 0 && !*r, "stamp: another first entry is no stamp");
	CHECK(stamp_of("omerta-kernelx", "6.1\n", 4, r, sizeof(r)) == 0, "stamp: a longer name is not it");
	CHECK(stamp_of(OM_KERNEL_STAMP, NULL, 0, r, sizeof(r)) == -1, "stamp: a folder of its name is malformed");
	CHECK(stamp_of(OM_KERNEL_STAMP, "6.1", 3, r, sizeof(r)) == -1, "stamp: no newline");
	CHECK(stamp_of(OM_KERNEL_STAMP, "\n", 1, r, sizeof(r)) == -1, "stamp: empty");
	CHECK(stamp_of(OM_KERNEL_STAMP, "", 0, r, sizeof(r)) == -1, "stamp: no bytes");
	CHECK(stamp_of(OM_KERNEL_STAMP, "6.1\0junk\n", 9, r, sizeof(r)) == -1, "stamp: a NUL inside");
	CHECK(stamp_of(OM_KERNEL_STAMP, "6.1\n\x1b[2J\n", 9, r, sizeof(r)) == -1, "stamp: a second line");
	memset(big, 'a', 96);
	big[95] = '\n';
	CHECK(stamp_of(OM_KERNEL_STAMP, big, 96, r, sizeof(r)) == 1 && strlen(r) == 95,
	      "stamp: the longest release mkinitrd writes (95 bytes and a newline) reads back");
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	CHECK(stamp_of(OM_KERNEL_STAMP, big, sizeof(big), r, sizeof(r)) == -1, "stamp: longer than the buffer");
	FILE *f = tmpfile();
	if (f) {
		fputs("070701", f);
		fflush(f);
		CHECK(om_stamp_read(fileno(f), r, sizeof(r)) == 0, "stamp: a file shorter than a header");
		fclose(f);
	}
}

/* A kernel's config beside it: DIR/vmlinuz-V and DIR/config-V. */
void t_kconfig(void)
{
	t_release();
	t_stamp();
	char dir[] = "/tmp/omt-kconfig-XXXXXX", k[128], c[128];
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(k, sizeof(k), "%s/vmlinuz-9.9-t", dir);
	snprintf(c, sizeof(c), "%s/config-9.9-t", dir);
	put(k, "");
	CHECK(!om_kconfig_unset(k, "CONFIG_MODULES"), "no config: not known to be unset");
	put(c, "#\n# Automatically generated file\n#\n# CONFIG_MODULES is not set\nCONFIG_ACPI=y\n");
	CHECK(om_kconfig_unset(k, "CONFIG_MODULES"), "unset");
	CHECK(!om_kconfig_unset(k, "CONFIG_ACPI"), "set");
	CHECK(!om_kconfig_unset(k, "CONFIG_MODULE"), "a prefix of an unset option is not it");
	CHECK(!om_kconfig_unset(k, "CONFIG_PCI"), "absent: not known to be unset");
	put(c, "# CONFIG_MODULES_X is not set\n# CONFIG_MODULES is not set, really\n");
	CHECK(!om_kconfig_unset(k, "CONFIG_MODULES"), "only the whole line counts");
	CHECK(!om_kconfig_unset("/boot/bzImage", "CONFIG_MODULES"), "not vmlinuz-VERSION");
	unlink(c);
	unlink(k);
	rmdir(dir);
}

/* Which kernel a job boots: OMERTA_KERNEL, else the newest of omerta's own with its
 * config, where both are root's or ours alone, else Debian's newest in /boot. */
void t_kernel_choose(void)
{
	char dir[] = "/tmp/omt-kchoose-XXXXXX", kd[128], a[160], ac[160], b[160], bc[160];
	char t[200], tc[200], l[200], lc[200];
	char out[PATH_MAX], why[PATH_MAX + 96];
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	const char *saved = getenv("OMERTA_KERNEL");

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	unsetenv("OMERTA_KERNEL");
	setenv("OMERTA_CACHE_DIR", dir, 1);
	snprintf(kd, sizeof(kd), "%s/kernel", dir);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strncmp(out, "/boot/vmlinuz-", 14) == 0 &&
		      strncmp(why, "Debian's: no kernel built", 25) == 0,
	      "no kernel folder: Debian's");
	mkdir(kd, 0755);
	snprintf(a, sizeof(a), "%s/vmlinuz-6.1-omerta-0123456789ab", kd);
	snprintf(ac, sizeof(ac), "%s/config-6.1-omerta-0123456789ab", kd);
	snprintf(b, sizeof(b), "%s/vmlinuz-6.1-omerta-ba9876543210", kd);
	snprintf(bc, sizeof(bc), "%s/config-6.1-omerta-ba9876543210", kd);
	put(a, "");
	chmod(a, 0644); /* whatever the umask */
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strncmp(out, "/boot/", 6) == 0,
	      "a kernel without its config beside it is not chosen");
	put(ac, "# CONFIG_MODULES is not set\n");
	chmod(ac, 0644);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strcmp(out, a) == 0 &&
		      strcmp(why, "omerta's own, built by make kernel") == 0,
	      "omerta's own, with its config, is chosen over Debian's");
	put(b, "");
	put(bc, "");
	chmod(b, 0644);
	chmod(bc, 0644);
	utimensat(AT_FDCWD, a, old, 0);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strcmp(out, b) == 0, "the newest own is chosen");
	/* Newer still, but not make kernel's name: one it is still writing, a link, a
	 * name with no key. */
	snprintf(t, sizeof(t), "%s/vmlinuz-6.1-omerta-ffffffffffff.tmp", kd);
	snprintf(tc, sizeof(tc), "%s/config-6.1-omerta-ffffffffffff.tmp", kd);
	put(t, "");
	put(tc, "");
	chmod(t, 0644);
	chmod(tc, 0644);
	snprintf(l, sizeof(l), "%s/vmlinuz-6.1-omerta-eeeeeeeeeeee", kd);
	snprintf(lc, sizeof(lc), "%s/config-6.1-omerta-eeeeeeeeeeee", kd);
	CHECK(symlink(b, l) == 0 && symlink(bc, lc) == 0, "symlink");
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strcmp(out, b) == 0,
	      "a file make kernel is still writing, or a link, is not chosen");
	unlink(t);
	unlink(tc);
	unlink(l);
	unlink(lc);
	/* A folder above the kernel folder that others may write: the kernel folder
	 * could be swapped. Sticky (as /tmp) is safe. */
	chmod(dir, 0777);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strncmp(out, "/boot/", 6) == 0 &&
		      strstr(why, dir) != NULL && strstr(why, "is not root's or ours alone") != NULL,
	      "a folder above it others may write: ignored, and why");
	chmod(dir, 01777);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strcmp(out, b) == 0, "a sticky folder on the way is safe");
	chmod(dir, 0700);
	chmod(b, 0664);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strcmp(out, a) == 0,
	      "a group-writable kernel is passed over");
	chmod(a, 0666);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strncmp(out, "/boot/", 6) == 0 &&
		      strstr(why, "is not root's or ours alone") != NULL,
	      "with none trusted: Debian's, and why");
	chmod(a, 0644);
	chmod(kd, 0777);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strncmp(out, "/boot/", 6) == 0 &&
		      strstr(why, "kernel is not root's") != NULL,
	      "a folder others may write: its kernels are ignored");
	chmod(kd, 0755);
	setenv("OMERTA_KERNEL", "/x/vmlinuz-1", 1);
	CHECK(om_kernel_choose(out, why, sizeof(why)) == 0 && strcmp(out, "/x/vmlinuz-1") == 0 &&
		      strcmp(why, "OMERTA_KERNEL") == 0,
	      "OMERTA_KERNEL overrides");
	if (saved)
		setenv("OMERTA_KERNEL", saved, 1);
	else
		unsetenv("OMERTA_KERNEL");
	unsetenv("OMERTA_CACHE_DIR");
	unlink(a);
	unlink(ac);
	unlink(b);
	unlink(bc);
	rmdir(kd);
	rmdir(dir);
}
