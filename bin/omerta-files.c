/* omerta-files: brings a job's output directory home, safely.
 *
 *   omerta-files pack [--max-bytes N] [--max-files N] <DISK >STREAM
 *   omerta-files frame <BYTES >STREAM
 *   omerta-files extract [--max-bytes N] [--max-files N] DIR <STREAM
 *
 * The job leaves its results on an ext2 disk of its own (omerta-execute makes it, the
 * guest mounts it at /home/job/out). After the VM is gone, pack reads that disk with
 * om_ext2's strict reader (the host never mounts it) and writes a stream; extract
 * lands the stream in DIR. Over SSH the stream is what the provider sends back, after
 * the job's stdout, which frame wraps into the same stream: the requester's extract
 * passes it to its own stdout. Both ends check everything, since each trusts the
 * other no more than it trusts the guest.
 *
 * The stream, line headers then raw bytes:
 *   omerta-files 1\n                    (may repeat: frame's and pack's)
 *   s SIZE\n<SIZE bytes>                stdout bytes, passed to extract's stdout
 *   d MODE MTIME PATH\n                 a directory
 *   f MODE MTIME SIZE PATH\n<bytes>     a plain file
 *   x REASON\n                          nothing is returned, for this reason
 *   e\n                                 the end: the tree is complete
 * MODE is octal, permission bits only; MTIME seconds since the epoch; PATH relative,
 * '/'-separated, every name free of control characters, "." and "..".
 *
 * extract writes into a staging directory it made (beside DIR when DIR does not
 * exist, else inside it), creates nothing but plain files and directories, opens
 * every name with O_NOFOLLOW|O_EXCL below its own staging directory, and moves the
 * tree into place only at "e". On any refusal the staging directory is removed: DIR
 * holds the whole tree or nothing of it. A name that DIR has already is a refusal,
 * never an overwrite.
 *
 * Exit status: 0; 1 refused or failed (one line on stderr, "output refused: ...");
 * 2 usage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_cli.h"
#include "om_ext2.h"
#include "om_text.h"
#include "om_stream.h"

static const char usage_text[] =
	"usage: omerta-files pack [--max-bytes N] [--max-files N] <DISK >STREAM\n"
	"       omerta-files frame <BYTES >STREAM\n"
	"       omerta-files extract [--max-bytes N] [--max-files N] DIR <STREAM\n";
static const char help_text[] =
	"\npack reads a job's output disk (ext2, never mounted) and writes the stream;\n"
	"frame wraps bytes (a job's stdout) into it; extract lands it in DIR, whole or\n"
	"not at all. Only plain files and directories are returned; symlinks, hard links,\n"
	"devices, FIFOs, sockets, setuid/setgid/sticky bits and names with control\n"
	"characters are refused, with the reason.\n"
	"  --max-bytes N   the files' bytes in all (default 1073741824)\n"
	"  --max-files N   files and directories in all (default 100000)\n"
	"Exit status: 0; 1 refused or failed; 2 usage.\n";

#define MAGIC "omerta-files 1\n"

static const char *prog = "omerta-files";

static _Noreturn void refuse(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: output refused: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- pack ------------------------------------------------------------------------ */

static FILE *out;
static uint64_t file_left; /* of the file being written: padded on a refusal */

static int p_dir(void *ctx, const char *path, unsigned mode, long long mtime)
{
	(void)ctx;
	return fprintf(out, "d %o %lld %s\n", mode, mtime, path) < 0 ? -1 : 0;
}

static int p_file(void *ctx, const char *path, unsigned mode, long long mtime, uint64_t size)
{
	(void)ctx;
	file_left = size;
	return fprintf(out, "f %o %lld %llu %s\n", mode, mtime, (unsigned long long)size, path) < 0 ? -1 : 0;
}

static int p_data(void *ctx, const void *p, size_t n)
{
	(void)ctx;
	file_left -= n;
	return fwrite(p, 1, n, out) == n ? 0 : -1;
}

static int cmd_pack(const struct om_ext2_limits *lim)
{
	static const struct om_ext2_cb cb = { p_dir, p_file, p_data };
	char err[512];
	struct stat st;

	out = stdout;
	if (fstat(STDIN_FILENO, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stdout, MAGIC "x the output disk is not a file\n");
		refuse("the output disk (stdin) is not a file");
	}
	fputs(MAGIC, out);
	if (om_ext2_walk(STDIN_FILENO, (uint64_t)st.st_size, lim, &cb, NULL, err, sizeof(err)) < 0) {
		/* What was written so far is worthless to extract: the x record says why,
		 * after the rest of a file cut short, so that the reader is in step. */
		static const char zeros[65536];
		while (file_left) {
			size_t k = file_left < sizeof(zeros) ? (size_t)file_left : sizeof(zeros);
			if (fwrite(zeros, 1, k, out) != k)
				break;
			file_left -= k;
		}
		fprintf(out, "x %s\n", err);
		fflush(out);
		refuse("%s", err);
	}
	fputs("e\n", out);
	if (fflush(out) != 0)
		refuse("write: %s", strerror(errno));
	return 0;
}

/* ---- frame ----------------------------------------------------------------------- */

static int cmd_frame(void)
{
	static char b[65536];

	if (om_write_all(STDOUT_FILENO, MAGIC, sizeof(MAGIC) - 1) < 0)
		return 1;
	for (;;) {
		char h[32];
		ssize_t n = read(STDIN_FILENO, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: read: %s\n", prog, strerror(errno));
			return 1;
		}
		if (n == 0)
			return 0;
		int hl = snprintf(h, sizeof(h), "s %zd\n", n);
		if (om_write_all(STDOUT_FILENO, h, (size_t)hl) < 0 || om_write_all(STDOUT_FILENO, b, (size_t)n) < 0) {
			fprintf(stderr, "%s: write: %s\n", prog, strerror(errno));
			return 1;
		}
	}
}

/* ---- extract --------------------------------------------------------------------- */

struct dirent_rec {
	char *path;
	unsigned mode;
	long long mtime;
};

static int stage_fd = -1, parent_fd = -1;
static char stage_path[2 * PATH_MAX + 64], dest[PATH_MAX];
static int dest_existed;
static struct dirent_rec *dirs;
static size_t ndirs, cap_dirs;

static void rm_tree_at(int dfd, const char *name)
{
	int fd;

	/* A directory of ours whose mode is already the stream's (0 perhaps): ours to
	 * open again. fchmodat follows no link here: only directories are ours. */
	if (fchmodat(dfd, name, 0700, 0) < 0) {
		/* not a directory, or gone: the open below says which */
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd < 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rm_tree_at(dirfd(d), e->d_name);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Every refusal in extract goes through here: the staging directory goes first. */
static _Noreturn void x_refuse(const char *fmt, ...)
{
	va_list ap;
	char m[1024];

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (stage_fd >= 0)
		rm_tree_at(parent_fd, strrchr(stage_path, '/') + 1);
	refuse("%s", m);
}

static int get_line(char *b, size_t n)
{
	size_t i = 0;
	int c;

	while ((c = getchar()) != EOF) {
		if (c == '\n') {
			b[i] = '\0';
			return 1;
		}
		if (i + 1 >= n)
			x_refuse("a header line longer than %zu bytes", n - 1);
		b[i++] = (char)c;
	}
	if (i)
		x_refuse("the stream ended inside a header");
	return 0;
}

/* PATH must be relative, every name non-empty, not "." or "..", no control bytes. */
static void check_path(const char *p)
{
	char s[256];
	const char *c = p;
	int depth;

	om_shown(p, s, sizeof(s));
	if (!*p)
		x_refuse("an empty path");
	if (*p == '/')
		x_refuse("an absolute path: %s", s);
	if (strlen(p) >= 4096)
		x_refuse("a path longer than 4095 bytes");
	for (; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			x_refuse("a name with a control character: %s", s);
	for (c = p, depth = 0;; depth++) {
		const char *sl = strchr(c, '/');
		size_t len = sl ? (size_t)(sl - c) : strlen(c);
		if (depth > 65)
			x_refuse("a path deeper than 65 names: %s", s);
		if (len == 0)
			x_refuse("an empty name in a path: %s", s);
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			x_refuse("a '.' or '..' in a path: %s", s);
		if (!sl)
			break;
		c = sl + 1;
	}
}

/* Opens PATH's parent below the staging directory, one name at a time, never
 * following a link (there are none: this tool made every directory). *base gets the
 * last name. */
static int open_parent_at(int root, char *path, char **base)
{
	char *sl = strrchr(path, '/');
	int fd;

	if (!sl) {
		*base = path;
		return dup(root);
	}
	*sl = '\0';
	*base = sl + 1;
	fd = dup(root);
	for (char *c = path, *next; fd >= 0 && c; c = next) {
		next = strchr(c, '/');
		if (next)
			*next++ = '\0';
		int nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = nfd;
		if (next)
			next[-1] = '/';
	}
	*sl = '/';
	return fd;
}

static int open_parent(char *path, char **base)
{
	return open_parent_at(stage_fd, path, base);
}

static unsigned long long num(const char *s, int base, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		x_refuse("a bad %s", what);
	v = strtoull(s, &end, base);
	if (errno || *end)
		x_refuse("a bad %s", what);
	return v;
}

/* Splits "A B C REST" into n words and the rest (the path, which may hold spaces). */
static char *fields(char *l, char **w, int n)
{
	for (int i = 0; i < n; i++) {
		char *sp = strchr(l, ' ');
		if (!sp)
			x_refuse("a malformed record");
		*sp = '\0';
		w[i] = l;
		l = sp + 1;
	}
	return l;
}

static void copy_bytes(int fd, unsigned long long n, const char *what)
{
	static char b[65536];

	while (n) {
		size_t want = n < sizeof(b) ? (size_t)n : sizeof(b);
		size_t got = fread(b, 1, want, stdin);
		if (got == 0)
			x_refuse("the stream ended inside %s", what);
		if (om_write_all(fd, b, got) < 0)
			x_refuse("cannot write %s: %s", what, strerror(errno));
		n -= got;
	}
}

static void make_stage(const char *dir)
{
	struct stat st;
	char parent[PATH_MAX], *sl;

	if (strlen(dir) >= sizeof(dest) - 64)
		refuse("%s: the path is too long", dir);
	snprintf(dest, sizeof(dest), "%s", dir);
	while (strlen(dest) > 1 && dest[strlen(dest) - 1] == '/')
		dest[strlen(dest) - 1] = '\0';
	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			refuse("%s is not a directory", dest);
		dest_existed = 1;
		snprintf(parent, sizeof(parent), "%s", dest);
		snprintf(stage_path, sizeof(stage_path), "%s/.omerta-partial.XXXXXX", dest);
	} else if (errno == ENOENT) {
		snprintf(parent, sizeof(parent), "%s", dest);
		sl = strrchr(parent, '/');
		if (sl == parent)
			parent[1] = '\0';
		else if (sl)
			*sl = '\0';
		else
			snprintf(parent, sizeof(parent), ".");
		snprintf(stage_path, sizeof(stage_path), "%s/.%s.omerta-partial.XXXXXX", parent,
			 sl ? sl + 1 : dest);
	} else {
		refuse("%s: %s", dest, strerror(errno));
	}
	parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent_fd < 0)
		refuse("%s: %s", parent, strerror(errno));
	if (!mkdtemp(stage_path))
		refuse("cannot make a directory in %s: %s", parent, strerror(errno));
	stage_fd = open(stage_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (stage_fd < 0)
		x_refuse("%s: %s", stage_path, strerror(errno));
}

/* The directories' modes and times, deepest first (a read-only one must not close
 * before its children are done), below root: where the tree now is. */
static void set_dir_modes(int root)
{
	for (size_t i = ndirs; i-- > 0;) {
		char *base, p[4096];
		snprintf(p, sizeof(p), "%s", dirs[i].path);
		int fd = open_parent_at(root, p, &base);
		struct timespec ts[2] = { { dirs[i].mtime, 0 }, { dirs[i].mtime, 0 } };
		if (fd < 0 || fchmodat(fd, base, dirs[i].mode, 0) < 0 || utimensat(fd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			refuse("cannot set %s's mode: %s", dirs[i].path, strerror(errno));
		close(fd);
	}
}

/* The tree is whole: it moves into place while every directory is still ours
 * (0700), and only then do the directories get their modes and times. */
static void commit(unsigned root_mode_default)
{
	char **names = NULL, s[256];
	size_t n = 0, cap = 0, moved = 0;
	DIR *d;
	struct dirent *e;
	struct stat st;
	int dfd;

	if (!dest_existed) {
		/* RENAME_NOREPLACE: a DIR made meanwhile, even empty, is not replaced. */
		if (renameat2(AT_FDCWD, stage_path, AT_FDCWD, dest, RENAME_NOREPLACE) < 0)
			x_refuse("cannot move the output to %s: %s", dest, strerror(errno));
		stage_fd = -1;
		dfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || fchmod(dfd, root_mode_default) < 0)
			refuse("%s: %s", dest, strerror(errno));
		set_dir_modes(dfd);
		close(dfd);
		return;
	}
	/* Into an existing DIR: the top-level names first, all of them, then each
	 * checked, then moved without replacing anything (RENAME_NOREPLACE); a move
	 * that fails puts back the ones already moved. */
	d = fdopendir(dup(stage_fd));
	dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!d || dfd < 0)
		x_refuse("%s: %s", dest, strerror(errno));
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				x_refuse("out of memory");
		}
		if (!(names[n++] = strdup(e->d_name)))
			x_refuse("out of memory");
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			om_shown(names[i], s, sizeof(s));
			x_refuse("%s/%s exists already (nothing was written)", dest, s);
		}
	for (; moved < n; moved++)
		if (renameat2(stage_fd, names[moved], dfd, names[moved], RENAME_NOREPLACE) < 0)
			break;
	if (moved < n) {
		int err = errno;
		om_shown(names[moved], s, sizeof(s));
		while (moved-- > 0)
			renameat2(dfd, names[moved], stage_fd, names[moved], RENAME_NOREPLACE);
		x_refuse("cannot move %s into %s: %s (nothing was written)", s, dest, strerror(err));
	}
	set_dir_modes(dfd);
	close(dfd);
	/* Empty now: a plain rmdir, which would fail rather than lose anything. */
	if (unlinkat(parent_fd, strrchr(stage_path, '/') + 1, AT_REMOVEDIR) < 0)
		refuse("%s: %s", stage_path, strerror(errno));
	stage_fd = -1;
}

static int cmd_extract(const struct om_ext2_limits *lim, const char *dir)
{
	char line[4200], *w[4], *path, s[256];
	unsigned long long files = 0, bytes = 0;
	mode_t um = umask(0);

	umask(um);
	make_stage(dir);
	while (get_line(line, sizeof(line))) {
		if (!strcmp(line, "omerta-files 1"))
			continue;
		if (!strcmp(line, "e")) {
			commit(0777 & ~um); /* committed: nothing to remove on a late error */
			/* What follows the tree is the job's stdout again (over SSH, the
			 * result record): frames, to the end. */
			while (get_line(line, sizeof(line)))
				if (line[0] == 's' && line[1] == ' ') {
					unsigned long long n = num(line + 2, 10, "frame size");
					if (n > (1u << 20))
						x_refuse("a frame of %llu bytes", n);
					copy_bytes(STDOUT_FILENO, n, "the job's stdout");
				} else if (strcmp(line, "omerta-files 1") != 0) {
					x_refuse("a record after the end of the tree");
				}
			return 0;
		}
		if (line[0] == 'x' && line[1] == ' ') {
			/* The sender's reason, escaped already by an honest one. */
			for (char *c = line + 2; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					*c = '?'; /* not for a terminal: C0, DEL, C1 and all of UTF-8 */
			x_refuse("%.300s", line + 2);
		}
		if (line[0] == 's' && line[1] == ' ') {
			unsigned long long n = num(line + 2, 10, "frame size");
			if (n > (1u << 20))
				x_refuse("a frame of %llu bytes", n);
			copy_bytes(STDOUT_FILENO, n, "the job's stdout");
			continue;
		}
		if ((line[0] != 'd' && line[0] != 'f') || line[1] != ' ')
			x_refuse("an unknown record");
		int is_file = line[0] == 'f';
		path = fields(line + 2, w, is_file ? 3 : 2);
		unsigned long long mode = num(w[0], 8, "mode");
		long long mtime = (long long)num(w[1], 10, "time");
		check_path(path);
		om_shown(path, s, sizeof(s));
		if (mode & ~0777ull)
			x_refuse("a setuid, setgid or sticky bit (mode %04llo): %s", mode, s);
		if (++files > lim->max_files)
			x_refuse("more than %llu files and directories", (unsigned long long)lim->max_files);
		char *base, p[4096];
		snprintf(p, sizeof(p), "%s", path);
		int pfd = open_parent(p, &base);
		if (pfd < 0)
			x_refuse("%s: its directory did not come first", s);
		if (!is_file) {
			if (mkdirat(pfd, base, 0700) < 0)
				x_refuse("%s: %s", s, errno == EEXIST ? "named twice" : strerror(errno));
			if (ndirs == cap_dirs) {
				cap_dirs = cap_dirs ? 2 * cap_dirs : 64;
				dirs = realloc(dirs, cap_dirs * sizeof(*dirs));
				if (!dirs)
					x_refuse("out of memory");
			}
			dirs[ndirs].path = strdup(path);
			if (!dirs[ndirs].path)
				x_refuse("out of memory");
			/* The sender's modes, less our umask: a stranger does not make our
			 * files writable by everyone. */
			dirs[ndirs].mode = (unsigned)mode & ~um, dirs[ndirs++].mtime = mtime;
		} else {
			unsigned long long size = num(w[2], 10, "size");
			if (size > lim->max_bytes - bytes)
				x_refuse("more than %llu bytes", (unsigned long long)lim->max_bytes);
			bytes += size;
			int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0)
				x_refuse("%s: %s", s, errno == EEXIST ? "named twice" : strerror(errno));
			copy_bytes(fd, size, s);
			struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
			if (fchmod(fd, (mode_t)mode & ~um) < 0 || futimens(fd, ts) < 0 || close(fd) < 0)
				x_refuse("%s: %s", s, strerror(errno));
		}
		close(pfd);
	}
	x_refuse("the stream ended before its end record (the job's output did not all arrive)");
}

int main(int argc, char **argv)
{
	struct om_ext2_limits lim = { 1ull << 30, 100000 };
	int i = 2;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		om_usage(usage_text, help_text, 0);
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		puts("omerta-files " OMERTA_VERSION);
		return 0;
	}
	if (argc < 2)
		om_usage(usage_text, NULL, 2);
	for (; i + 1 < argc && !strncmp(argv[i], "--max-", 6); i += 2) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(argv[i + 1], &end, 10);
		if (errno || *end || !*argv[i + 1] || argv[i + 1][0] == '-' || v == 0) {
			fprintf(stderr, "%s: %s: want a positive number, not '%s'\n", prog, argv[i], argv[i + 1]);
			return 2;
		}
		if (!strcmp(argv[i], "--max-bytes"))
			lim.max_bytes = v;
		else if (!strcmp(argv[i], "--max-files"))
			lim.max_files = v;
		else
			om_usage(usage_text, NULL, 2);
	}
	if (!strcmp(argv[1], "pack") && i == argc)
		return cmd_pack(&lim);
	if (!strcmp(argv[1], "frame") && argc == 2)
		return cmd_frame();
	if (!strcmp(argv[1], "extract") && i + 1 == argc)
		return cmd_extract(&lim, argv[i]);
	om_usage(usage_text, NULL, 2);
}
