/* What a guest kernel was built with, from the config beside it: for
 * DIR/vmlinuz-VERSION, DIR/config-VERSION (Debian's /boot layout, and that of
 * omerta's own kernel, make kernel). */
#ifndef OM_KCONFIG_H
#define OM_KCONFIG_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* true when that config says "# OPT is not set" (OPT like "CONFIG_MODULES"); false
 * when it sets OPT, or there is no such config to read. */
bool om_kconfig_unset(const char *kernel, const char *opt);

/* The guest kernel omerta boots, into OUT, and why, into WHY (one line):
 *   1. $OMERTA_KERNEL, as given;
 *   2. omerta's own (make kernel): the newest by mtime of
 *      $OMERTA_CACHE_DIR/kernel/vmlinuz-VERSION-omerta-KEY (KEY 12 hex digits) with
 *      its config beside it, where both files, the folder and every folder above it
 *      (resolved) are root's or ours and no group or other may write them (a sticky
 *      folder, as /tmp, excepted: om_path_trusted); OUT is then the resolved path;
 *   3. Debian's: the newest by version of /boot/vmlinuz-*.
 * -1 when there is none. */
int om_kernel_choose(char out[PATH_MAX], char *why, size_t wlen);

/* The release a bzImage says it is (what uname -r gives in its guest): the first
 * word of the version string its x86 boot header points at, into OUT (LEN bytes).
 * -1 when FD is not a bzImage with one, or the word does not fit, is cut off by the
 * file's end, or holds a '/' or a byte that is not printable. */
int om_kernel_release(int fd, char *out, size_t len);

/* The base's first entry (omerta-mkinitrd): a file of this name holding the release
 * of the kernel whose modules and drivers it was built for, and a newline. */
#define OM_KERNEL_STAMP "omerta-kernel"

/* That stamp, from an initramfs (a newc cpio) at FD, into OUT (LEN bytes): 1 when
 * the first entry is the stamp, 0 when it is not (an image from elsewhere, or one
 * too short), -1 when it is the stamp's name but not a regular file holding one
 * release and a newline, fitting in OUT. */
int om_stamp_read(int fd, char *out, size_t len);

#endif
