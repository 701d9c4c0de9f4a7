#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "om_data.h"

int om_data_path(const char *rel, char out[PATH_MAX])
{
	char exe[PATH_MAX], *dir;
	const char *env = getenv("OMERTA_DATADIR");
	ssize_t n;

	if (env && *env == '/') {
		snprintf(out, PATH_MAX, "%s/%s", env, rel);
		return access(out, R_OK) == 0 ? 0 : -1;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	dir = dirname(exe);
	/* Installed: PREFIX/bin/omerta-mkinitrd and PREFIX/lib/omerta/initramfs/... */
	snprintf(out, PATH_MAX, "%s/../lib/omerta/%s", dir, rel);
	if (access(out, R_OK) == 0)
		return 0;
	snprintf(out, PATH_MAX, "%s/../%s", dir, rel);
	return access(out, R_OK) == 0 ? 0 : -1;
}
