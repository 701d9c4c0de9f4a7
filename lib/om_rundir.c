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
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		warn("%s", dir);
		return -1;
	}
	return 0;
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
