/* om_ext2: a strict, read-only walker of an ext2 filesystem image that a guest wrote.
 *
 * Why it exists: a job's output directory lives on a disk of its own, and it must come
 * back even when the VM was killed (timeout, a dead tunnel). The image is the guest's,
 * so it is hostile: the host never mounts it (a kernel's filesystem code is not
 * written for an attacker's image) and never hands it to a tool that was not either.
 * This reader does only what is needed, with every offset bounded by the image:
 * superblock, group descriptors, inodes, block maps (direct, single, double, triple
 * indirect) and linear directories. What it cannot read safely it refuses by name:
 * an incompatible feature (extents, 64bit, inline data, a journal to replay), a
 * block past the end, a directory loop, a free inode named by a directory.
 *
 * Only plain files and directories are walked; everything else (symlinks, device
 * nodes, FIFOs, sockets, hard links, setuid/setgid/sticky bits, names with control
 * characters) is a refusal with its reason, so what the callbacks see is already a
 * tree that can be written anywhere without surprises. */
#ifndef OM_EXT2_H
#define OM_EXT2_H
#include <stddef.h>
#include <stdint.h>

struct om_ext2_cb {
	/* A directory (path "" is the root, never reported), then everything in it. */
	int (*dir)(void *ctx, const char *path, unsigned mode, long long mtime);
	/* A file: begin, its bytes in order (holes as zeros), then end. */
	int (*file)(void *ctx, const char *path, unsigned mode, long long mtime, uint64_t size);
	int (*data)(void *ctx, const void *p, size_t n);
};

struct om_ext2_limits {
	uint64_t max_bytes; /* the files' sizes, in all */
	uint64_t max_files; /* files and directories, in all */
};

/* Walks the image on fd (size bytes, read with pread). 0 when the whole tree was
 * reported; -1 with a one-line reason in err (a callback's -1 stops the walk with
 * "write failed"). */
int om_ext2_walk(int fd, uint64_t size, const struct om_ext2_limits *lim, const struct om_ext2_cb *cb,
		 void *ctx, char *err, size_t errlen);

#endif
