#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
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

/* A kernel's config beside it: DIR/vmlinuz-V and DIR/config-V. */
void t_kconfig(void)
{
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
