/* omerta-mkimage: builds the root filesystems that jobs run in (--image), from
 * Debian's packages (mmdebstrap) or from any root filesystem tarball (docker export).
 *
 * An image is one file: a 4096-byte text header, then a squashfs of the root.
 *
 *   omerta-image 1
 *   fs squashfs
 *   memory MIB          what a job in it needs at least (omerta execute's default)
 *   source TEXT         how it was built, for people
 *
 * The host reads the header alone (image_header below, strict); the filesystem is
 * never mounted on the host, only by the guest, after its tunnel is verified
 * (omerta-vmboot attaches it at offset 4096, read-only). Builds are cached by the
 * hash of their inputs, and the cache holds each image under the SHA-256 of its
 * bytes: the same inputs give the same file, and mksquashfs's output is itself
 * reproducible (sorted entries, fixed times), as mmdebstrap's tree is with a fixed
 * SOURCE_DATE_EPOCH and the same packages. Progress goes to stderr.
 *
 * Exit status: 0; 1 bad input (one line); 2 usage; 3 a build step or the system failed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "om_cli.h"
#include "om_exec.h"
#include "om_image.h"
#include "om_stream.h"

enum { EX_INPUT = 1, EX_USAGE_ = 2, EX_SYS = 3 };

static const char usage_text[] =
	"usage: omerta-mkimage --debian SUITE [--packages P,...] [--memory MIB] (-o FILE | --name NAME)\n"
	"       omerta-mkimage --from-tar FILE|- [--memory MIB] (-o FILE | --name NAME)\n"
	"       omerta-mkimage list [--json]\n"
	"       omerta-mkimage info FILE|NAME\n";
static const char help_text[] =
	"\nBuilds an image for omerta execute --image: a header and a squashfs of a root\n"
	"filesystem, from Debian's packages (mmdebstrap, with this machine's apt sources) or\n"
	"from a tarball (docker export). Builds are cached by their inputs in\n"
	"$OMERTA_CACHE_DIR/images; --name puts the image in the catalogue,\n"
	"$OMERTA_IMAGE_DIR (default /var/lib/omerta/images), where jobs find it by name.\n"
	"  --packages P,...  Debian packages besides the essential set\n"
	"  --memory MIB      what a job in it needs (default 256)\n"
	"list: the catalogue (name, memory, bytes, source); info: one image's header.\n"
	"Exit status: 0; 1 bad input; 2 usage; 3 a build step or the system failed.\n";

static const char *prog = "omerta-mkimage";

static _Noreturn void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static const char *cache_dir(void)
{
	const char *d = getenv("OMERTA_CACHE_DIR");
	return d && *d ? d : "/var/cache/omerta";
}

static const char *catalogue(void)
{
	const char *d = getenv("OMERTA_IMAGE_DIR");
	return d && *d ? d : "/var/lib/omerta/images";
}

/* Runs argv with its stdout on our stderr (progress, never our output); the exit
 * status, or -1 when it could not run. */
static int run(const char *const argv[], const char *const env[])
{
	char path[PATH_MAX];
	int st;
	pid_t pid;

	if (om_which(argv[0], path) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char *const *av;
		const char *const *a = argv;
		memcpy(&av, &a, sizeof(av));
		dup2(STDERR_FILENO, STDOUT_FILENO);
		if (env) {
			char *const *ev;
			const char *const *e = env;
			memcpy(&ev, &e, sizeof(ev));
			execve(path, av, ev);
		} else {
			execv(path, av);
		}
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void rm_rf(const char *path)
{
	const char *const argv[] = { "rm", "-rf", "--", path, NULL };
	run(argv, NULL);
}

static void mkdirs(const char *path, mode_t mode)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		die(EX_SYS, "%s: %s", p, strerror(errno));
}

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Copies src to dst through a temporary beside it, renamed into place. */
static void copy_file(const char *src, const char *dst)
{
	char tmp[PATH_MAX + 16], b[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", dst);
	out = mkstemp(tmp);
	if (in < 0 || out < 0)
		die(EX_SYS, "%s: %s", in < 0 ? src : dst, strerror(errno));
	while ((n = read(in, b, sizeof(b))) > 0)
		if (om_write_all(out, b, (size_t)n) < 0) {
			unlink(tmp);
			die(EX_SYS, "%s: %s", dst, strerror(errno));
		}
	if (n < 0 || fchmod(out, 0644) < 0 || close(out) < 0 || rename(tmp, dst) < 0) {
		unlink(tmp);
		die(EX_SYS, "%s: %s", dst, strerror(errno));
	}
	close(in);
}

/* Hashes a file's bytes into key (also used for a tarball's identity). */
static void hash_file(crypto_hash_sha256_state *h, const char *path)
{
	char b[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		die(EX_INPUT, "%s: %s", path, strerror(errno));
	while ((n = read(fd, b, sizeof(b))) > 0)
		crypto_hash_sha256_update(h, (unsigned char *)b, (size_t)n);
	if (n < 0)
		die(EX_SYS, "%s: %s", path, strerror(errno));
	close(fd);
}

/* The apt sources this machine uses: the images come from the same mirror, through
 * the machine's own configuration (and no other address). */
static int apt_sources(char list[][PATH_MAX], int max)
{
	int n = 0;
	DIR *d;
	struct dirent *e;

	if (access("/etc/apt/sources.list", R_OK) == 0) {
		struct stat st;
		if (stat("/etc/apt/sources.list", &st) == 0 && st.st_size > 0)
			snprintf(list[n++], PATH_MAX, "/etc/apt/sources.list");
	}
	d = opendir("/etc/apt/sources.list.d");
	while (d && (e = readdir(d)) && n < max) {
		size_t l = strlen(e->d_name);
		if ((l > 5 && !strcmp(e->d_name + l - 5, ".list")) || (l > 8 && !strcmp(e->d_name + l - 8, ".sources")))
			snprintf(list[n++], PATH_MAX, "/etc/apt/sources.list.d/%s", e->d_name);
	}
	if (d)
		closedir(d);
	/* readdir's order is the file system's: sorted, so the key does not depend on it. */
	qsort(list, (size_t)n, PATH_MAX, (int (*)(const void *, const void *))strcmp);
	return n;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The packages: names Debian allows (lowercase, digits, + - .), comma-separated,
 * sorted and without repeats in out (so the key does not depend on their order). */
static void packages(const char *in, char *out, size_t outlen)
{
	char buf[4096], *w[256], *save = NULL;
	int n = 0;

	if (strlen(in) >= sizeof(buf))
		die(EX_INPUT, "--packages: too long");
	snprintf(buf, sizeof(buf), "%s", in);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strlen(t) < 2 || strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789+-.") != strlen(t) ||
		    !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= '0' && t[0] <= '9')))
			die(EX_INPUT, "--packages: '%s' is not a Debian package name", t);
		if (n == 256)
			die(EX_INPUT, "--packages: at most 256");
		w[n++] = t;
	}
	qsort(w, (size_t)n, sizeof(*w), (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i && !strcmp(w[i], w[i - 1]))
			continue;
		if (strlen(out) + strlen(w[i]) + 2 > outlen)
			die(EX_INPUT, "--packages: too long");
		if (*out)
			strcat(out, ",");
		strcat(out, w[i]);
	}
}

struct build {
	const char *suite, *tar;
	char pkgs[4096];
	unsigned memory;
};

/* Builds the image for b (or finds it in the cache); its path into out. */
static void build(const struct build *b, char out[PATH_MAX])
{
	crypto_hash_sha256_state h;
	unsigned char d[crypto_hash_sha256_BYTES];
	char key[65], sum[65], dir[PATH_MAX], ref[PATH_MAX + 80], tmp[PATH_MAX + 40], root[PATH_MAX + 48],
		fs[PATH_MAX + 48], img[PATH_MAX + 48], src[PATH_MAX], header[OM_IMAGE_HEADER], line[256];
	char sources[16][PATH_MAX];
	int nsrc = 0, fd;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/images", cache_dir());
	mkdirs(dir, 0700);
	/* The key: every input, and this format. */
	crypto_hash_sha256_init(&h);
#define H(s) crypto_hash_sha256_update(&h, (const unsigned char *)(s), strlen(s) + 1)
	H("omerta-image 1 squashfs lz4");
	snprintf(line, sizeof(line), "%u", b->memory);
	H(line);
	if (b->suite) {
		H("debian");
		H(b->suite);
		H(b->pkgs);
		nsrc = apt_sources(sources, 16);
		if (nsrc == 0)
			die(EX_INPUT, "no apt sources in /etc/apt: the images come from this machine's mirror");
		for (int i = 0; i < nsrc; i++) {
			H(sources[i]);
			hash_file(&h, sources[i]);
		}
	} else {
		H("tar");
		hash_file(&h, b->tar);
	}
#undef H
	crypto_hash_sha256_final(&h, d);
	hex(d, 16, key);
	snprintf(ref, sizeof(ref), "%s/%s.ref", dir, key);
	/* A cached build: KEY.ref names the image by the hash of its bytes. */
	if ((f = fopen(ref, "re"))) {
		if (fgets(sum, sizeof(sum), f) && strlen(sum) == 64) {
			snprintf(out, PATH_MAX, "%.3900s/%s.img", dir, sum);
			fclose(f);
			if (access(out, R_OK) == 0) {
				fprintf(stderr, "%s: cached: %s\n", prog, out);
				return;
			}
		} else {
			fclose(f);
		}
	}
	snprintf(tmp, sizeof(tmp), "%s/build.XXXXXX", dir);
	if (!mkdtemp(tmp))
		die(EX_SYS, "%s: %s", dir, strerror(errno));
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(fs, sizeof(fs), "%s/fs", tmp);
	snprintf(img, sizeof(img), "%s/image", tmp);
	if (b->suite) {
		/* Without apt, docs, man pages and locales: what a job runs, and the
		 * copyright files. SOURCE_DATE_EPOCH: mmdebstrap's reproducible mode. */
		const char *argv[16 + 16 + 1];
		int n = 0;
		char inc[4200];
		static const char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8",
						   "SOURCE_DATE_EPOCH=1700000000", NULL };
		snprintf(inc, sizeof(inc), "--include=%s", b->pkgs);
		argv[n++] = "mmdebstrap";
		argv[n++] = "--variant=essential";
		argv[n++] = "--mode=root";
		argv[n++] = "--format=directory";
		argv[n++] = "--dpkgopt=path-exclude=/usr/share/man/*";
		argv[n++] = "--dpkgopt=path-exclude=/usr/share/locale/*";
		argv[n++] = "--dpkgopt=path-exclude=/usr/share/doc/*";
		argv[n++] = "--dpkgopt=path-include=/usr/share/doc/*/copyright";
		if (*b->pkgs)
			argv[n++] = inc;
		argv[n++] = b->suite;
		argv[n++] = root;
		for (int i = 0; i < nsrc; i++)
			argv[n++] = sources[i];
		argv[n] = NULL;
		fprintf(stderr, "%s: mmdebstrap %s %s\n", prog, b->suite, *b->pkgs ? b->pkgs : "(essential only)");
		int rc = run(argv, env);
		if (rc != 0) {
			rm_rf(tmp);
			die(EX_SYS, rc < 0 ? "mmdebstrap is missing (apt-get install mmdebstrap)" : "mmdebstrap failed (exit %d)", rc);
		}
	} else {
		/* GNU tar as root into a directory of ours alone: names with ".." and
		 * leading slashes are refused or stripped by tar itself, and links out
		 * of the tree are made last. The tree is never run here. */
		const char *argv[] = { "tar", "-x", "--numeric-owner", "-p", "--xattrs", "--xattrs-include=*",
				       "-C", root, "-f", b->tar, NULL };
		mkdirs(root, 0755);
		fprintf(stderr, "%s: unpacking %s\n", prog, b->tar);
		int rc = run(argv, NULL);
		if (rc != 0) {
			rm_rf(tmp);
			die(rc < 0 ? EX_SYS : EX_INPUT, rc < 0 ? "tar is missing" : "%s: not a tarball tar can unpack", b->tar);
		}
	}
	{
		const char *argv[] = { "mksquashfs", root, fs, "-noappend", "-comp", "lz4", "-mkfs-time", "1700000000",
				       "-no-progress", "-quiet", NULL };
		fprintf(stderr, "%s: mksquashfs\n", prog);
		int rc = run(argv, NULL);
		if (rc != 0) {
			rm_rf(tmp);
			die(EX_SYS, rc < 0 ? "mksquashfs is missing (apt-get install squashfs-tools)" : "mksquashfs failed (exit %d)", rc);
		}
	}
	/* The header, then the filesystem; the whole file's SHA-256 names it. */
	memset(header, 0, sizeof(header));
	if (b->suite)
		snprintf(src, sizeof(src), "debian %s %s", b->suite, *b->pkgs ? b->pkgs : "-");
	else
		snprintf(src, sizeof(src), "tar %s", key);
	snprintf(header, sizeof(header), "omerta-image 1\nfs squashfs\nmemory %u\nsource %.3900s\n", b->memory, src);
	fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int in = open(fs, O_RDONLY | O_CLOEXEC);
	crypto_hash_sha256_init(&h);
	if (fd < 0 || in < 0 || om_write_all(fd, header, sizeof(header)) < 0) {
		rm_rf(tmp);
		die(EX_SYS, "%s: %s", img, strerror(errno));
	}
	crypto_hash_sha256_update(&h, (unsigned char *)header, sizeof(header));
	for (;;) {
		char buf[65536];
		ssize_t n = read(in, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0 || om_write_all(fd, buf, (size_t)n) < 0) {
			rm_rf(tmp);
			die(EX_SYS, "%s: %s", img, strerror(errno));
		}
		crypto_hash_sha256_update(&h, (unsigned char *)buf, (size_t)n);
	}
	close(in);
	if (fsync(fd) < 0 || close(fd) < 0) {
		rm_rf(tmp);
		die(EX_SYS, "%s: %s", img, strerror(errno));
	}
	crypto_hash_sha256_final(&h, d);
	hex(d, sizeof(d), sum);
	snprintf(out, PATH_MAX, "%.3900s/%s.img", dir, sum);
	if (rename(img, out) < 0) {
		rm_rf(tmp);
		die(EX_SYS, "%s: %s", out, strerror(errno));
	}
	{
		char rtmp[PATH_MAX + 96];
		snprintf(rtmp, sizeof(rtmp), "%s.tmp", ref);
		f = fopen(rtmp, "we");
		if (!f || fprintf(f, "%s\n", sum) < 0 || fclose(f) != 0 || rename(rtmp, ref) < 0)
			die(EX_SYS, "%s: %s", ref, strerror(errno));
	}
	rm_rf(tmp);
	fprintf(stderr, "%s: built %s\n", prog, out);
}

/* An image's path: FILE as it is, a NAME from the catalogue. */
static void image_path(const char *arg, char out[PATH_MAX])
{
	if (strchr(arg, '/') || !name_ok(arg))
		snprintf(out, PATH_MAX, "%s", arg);
	else
		snprintf(out, PATH_MAX, "%s/%s.img", catalogue(), arg);
}

static int cmd_info(const char *arg)
{
	char path[PATH_MAX], err[256];
	struct om_image im;

	image_path(arg, path);
	if (om_image_read(path, &im, err, sizeof(err)) < 0)
		die(EX_INPUT, "%s", err);
	printf("fs\t%s\nmemory\t%u\nbytes\t%llu\nsource\t%s\n", im.fs, im.memory, (unsigned long long)im.bytes, im.source);
	return 0;
}

static int cmd_list(bool json)
{
	DIR *d = opendir(catalogue());
	struct dirent *e;
	char names[512][80];
	int n = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		die(EX_SYS, "%s: %s", catalogue(), strerror(errno));
	}
	while ((e = readdir(d)) && n < 512) {
		size_t l = strlen(e->d_name);
		if (l > 4 && l < 70 && !strcmp(e->d_name + l - 4, ".img")) {
			snprintf(names[n], sizeof(names[n]), "%.*s", (int)(l - 4), e->d_name);
			if (name_ok(names[n]))
				n++;
		}
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX], err[256];
		struct om_image im;
		snprintf(path, sizeof(path), "%.3900s/%.70s.img", catalogue(), names[i]);
		if (om_image_read(path, &im, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", prog, err);
			continue;
		}
		if (json)
			/* names and sources are checked words: nothing in them needs escaping
			 * but the source's spaces and commas. */
			printf("{\"name\":\"%s\",\"memory_mib\":%u,\"bytes\":%llu,\"source\":\"%s\"}\n", names[i], im.memory,
			       (unsigned long long)im.bytes, im.source);
		else
			printf("%s\t%u\t%llu\t%s\n", names[i], im.memory, (unsigned long long)im.bytes, im.source);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct build b = { .memory = 256 };
	const char *o = NULL, *name = NULL, *pk = "";
	char path[PATH_MAX], tarcopy[PATH_MAX] = "";

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		om_usage(usage_text, help_text, 0);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		puts("omerta-mkimage " OMERTA_VERSION);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "list")) {
		if (argc == 2 || (argc == 3 && !strcmp(argv[2], "--json")))
			return cmd_list(argc == 3);
		om_usage(usage_text, NULL, EX_USAGE_);
	}
	if (argc >= 2 && !strcmp(argv[1], "info")) {
		if (argc == 3)
			return cmd_info(argv[2]);
		om_usage(usage_text, NULL, EX_USAGE_);
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--debian") || !strcmp(a, "--from-tar") || !strcmp(a, "--packages") ||
		    !strcmp(a, "--memory") || !strcmp(a, "-o") || !strcmp(a, "--name")) {
			if (!v)
				die(EX_USAGE_, "%s needs a value", a);
			i++;
		} else {
			fprintf(stderr, "%s: unknown argument '%s'\n", prog, a);
			om_usage(usage_text, NULL, EX_USAGE_);
		}
		if (!strcmp(a, "--debian"))
			b.suite = v;
		else if (!strcmp(a, "--from-tar"))
			b.tar = v;
		else if (!strcmp(a, "--packages"))
			pk = v;
		else if (!strcmp(a, "-o"))
			o = v;
		else if (!strcmp(a, "--name"))
			name = v;
		else {
			char *end;
			unsigned long m = strtoul(v, &end, 10);
			if (*end || !*v || *v == '-' || m < 64 || m > 65536)
				die(EX_INPUT, "--memory must be 64 to 65536 MiB");
			b.memory = (unsigned)m;
		}
	}
	if (!b.suite == !b.tar)
		die(EX_USAGE_, "give one of --debian SUITE and --from-tar FILE");
	if (!o == !name)
		die(EX_USAGE_, "give one of -o FILE and --name NAME");
	if (name && !name_ok(name))
		die(EX_INPUT, "--name: 1 to 64 of a-z, 0-9, '.', '_' and '-', not first '.' or '-'");
	if (b.suite && (strlen(b.suite) > 32 || strspn(b.suite, "abcdefghijklmnopqrstuvwxyz-") != strlen(b.suite) || !*b.suite))
		die(EX_INPUT, "--debian: '%s' is not a suite name (bookworm, trixie, ...)", b.suite);
	if (b.tar && *pk)
		die(EX_USAGE_, "--packages is for --debian");
	packages(pk, b.pkgs, sizeof(b.pkgs));
	if (sodium_init() < 0)
		die(EX_SYS, "libsodium failed to start");
	if (geteuid() != 0)
		die(EX_INPUT, "needs root (mmdebstrap and tar keep the tree's owners)");
	if (b.tar && !strcmp(b.tar, "-")) {
		/* stdin: kept in the cache's folder while it builds, for its hash and tar. */
		int fd;
		snprintf(tarcopy, sizeof(tarcopy), "%s/images", cache_dir());
		mkdirs(tarcopy, 0700);
		snprintf(tarcopy, sizeof(tarcopy), "%s/images/stdin.XXXXXX", cache_dir());
		fd = mkstemp(tarcopy);
		if (fd < 0)
			die(EX_SYS, "%s: %s", tarcopy, strerror(errno));
		for (;;) {
			char buf[65536];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n == 0)
				break;
			if (n < 0 || om_write_all(fd, buf, (size_t)n) < 0) {
				unlink(tarcopy);
				die(EX_SYS, "stdin: %s", strerror(errno));
			}
		}
		close(fd);
		b.tar = tarcopy;
	} else if (b.tar) {
		struct stat st;
		if (stat(b.tar, &st) < 0 || !S_ISREG(st.st_mode))
			die(EX_INPUT, "--from-tar %s: not a file", b.tar);
	}
	build(&b, path);
	if (*tarcopy)
		unlink(tarcopy);
	if (name) {
		char dst[PATH_MAX + 80];
		mkdirs(catalogue(), 0755);
		snprintf(dst, sizeof(dst), "%s/%s.img", catalogue(), name);
		copy_file(path, dst);
		printf("%s\n", dst);
	} else {
		copy_file(path, o);
		printf("%s\n", o);
	}
	return 0;
}
