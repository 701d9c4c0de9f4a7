#include <stdio.h>
#include <string.h>
#include "om_kconfig.h"
#include "om_read.h"

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
