#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_rundir.h"

int om_rundir_setup(char dir[OM_RUNDIR_MAX], const char *tool, bool create)
{
	const char *d = getenv("OMERTA_RUN_DIR");

	if (!d || !*d)
		d = "/run/omerta";
	if (d[0] != '/' || strlen(d) > 190 || strpbrk(d, "\n\t")) {
		warnx("OMERTA_RUN_DIR must be an absolute path of under 190 characters");
		return -1;
	}
	snprintf(dir, OM_RUNDIR_MAX, "%s/%s", d, tool);
	if (!create)
		return 0;
	if (mkdir(d, 0700) < 0 && errno != EEXIST) {
		warn("%s", d);
		return -1;
	}
	if (om_rundir_check(d) < 0)
		return -1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		warn("%s", dir);
		return -1;
	}
	return om_rundir_check(dir);
}

/* A folder that someone else owns, or may write, is theirs to plant links and
 * files in (a job's keys would then be written wherever they chose): refused,
 * never repaired. lstat: a link to a good folder is refused too. */
int om_rundir_check(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		warn("%s", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		warnx("%s: not a directory (a link or a file is refused)", path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		warnx("%s: owned by uid %u, not %u: refused", path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & 022) {
		warnx("%s: writable by group or others (mode %03o): refused", path, (unsigned)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

bool om_path_trusted(const char *path, uid_t uid, char *bad, size_t blen)
{
	char tmp[PATH_MAX];
	struct stat st;

	if (path[0] != '/' || snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		if (bad)
			snprintf(bad, blen, "%s", path);
		return false;
	}
	for (char *s = tmp + 1;; s++) {
		bool end = *s == '\0';
		if (*s == '/' || end) {
			char c = *s;
			*s = '\0';
			if (lstat(tmp, &st) || !S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != uid) ||
			    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))) {
				if (bad)
					snprintf(bad, blen, "%s", *tmp ? tmp : "/");
				return false;
			}
			*s = c;
		}
		if (end)
			return true;
	}
}

void om_rundir_path(const char *dir, char *out, size_t n, const char *job, const char *file)
{
	if (file)
		snprintf(out, n, "%s/%s/%s", dir, job, file);
	else
		snprintf(out, n, "%s/%s", dir, job);
}

int om_rundir_lock(const char *dir)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/.lock", dir);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		warn("lock %s", p);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}
