/* What a guest kernel was built with, from the config beside it: for
 * DIR/vmlinuz-VERSION, DIR/config-VERSION (Debian's /boot layout, and that of
 * omerta's own kernel, make kernel). */
#ifndef OM_KCONFIG_H
#define OM_KCONFIG_H
#include <stdbool.h>

/* true when that config says "# OPT is not set" (OPT like "CONFIG_MODULES"); false
 * when it sets OPT, or there is no such config to read. */
bool om_kconfig_unset(const char *kernel, const char *opt);

#endif
