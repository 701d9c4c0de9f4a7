/* A writer for the "newc" cpio format that the kernel unpacks as an initramfs.
 * Entries carry mtime 0 and fixed inode numbers, so equal inputs give equal bytes. */
#ifndef OM_CPIO_H
#define OM_CPIO_H
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct om_cpio {
	FILE *f;
	unsigned ino;
	unsigned long long off; /* bytes written: the output may be a pipe, so no ftell */
	int err; /* set on the first write error; later calls do nothing */
};

void om_cpio_init(struct om_cpio *c, FILE *f);
/* A regular file with contents data[0..len). */
int om_cpio_file(struct om_cpio *c, const char *name, mode_t perm, uid_t uid, gid_t gid,
		 const void *data, size_t len);
/* A regular file copied from a host path (contents and permission bits). */
int om_cpio_copy(struct om_cpio *c, const char *name, const char *src);
int om_cpio_dir(struct om_cpio *c, const char *name, mode_t perm, uid_t uid, gid_t gid);
int om_cpio_symlink(struct om_cpio *c, const char *name, const char *target);
int om_cpio_chardev(struct om_cpio *c, const char *name, mode_t perm, unsigned maj, unsigned min);
/* The trailer, padded to 512 bytes so that a second archive can follow. */
int om_cpio_finish(struct om_cpio *c);

/* The reading side, for one entry only: whether the archive at FD begins with NAME.
 * 0 when it does not (another name, not newc, shorter than a header); 1 when it is
 * a regular file of at most CAP bytes, copied into DATA with its size in *LEN; -1
 * when it is NAME but not such a file. NAME is at most 64 bytes. */
int om_cpio_first(int fd, const char *name, void *data, size_t cap, size_t *len);

#endif
