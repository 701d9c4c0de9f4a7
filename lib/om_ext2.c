/* om_ext2: see om_ext2.h. Little-endian fields, read by offset, never by casting a
 * struct over the image. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "om_ext2.h"
#include "om_text.h"

#define EXT2_MAGIC 0xEF53
#define ROOT_INO 2
#define DEPTH_MAX 64
#define PATH_MAX_LEN 4096
#define DIR_MAX_BYTES (64u << 20)
/* incompat features this reader understands: filetype in directory entries; flex_bg
 * only moves the tables, which the group descriptors name anyway. */
#define INCOMPAT_FILETYPE 0x0002
#define INCOMPAT_FLEX_BG 0x0200
#define FL_EXTENTS 0x00080000u
#define FL_INLINE 0x10000000u

struct fs {
	int fd;
	uint64_t size;
	uint32_t bs, blocks, inodes, ipg, isz, first_data, ngroups, desc_size;
	uint64_t gdt_off;
	const struct om_ext2_limits *lim;
	const struct om_ext2_cb *cb;
	void *ctx;
	char *err;
	size_t errlen;
	uint64_t files, bytes, dir_bytes, dir_budget;
	uint8_t *seen; /* one bit per inode: reported already */
	unsigned char *blk;
};

struct inode {
	uint32_t ino, mode, links, flags, mtime;
	uint64_t size;
	uint32_t block[15];
};

static int fail(struct fs *f, const char *fmt, ...)
{
	va_list ap;

	if (*f->err)
		return -1; /* the first reason stands */
	va_start(ap, fmt);
	vsnprintf(f->err, f->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int rd(struct fs *f, uint64_t off, void *p, size_t n)
{
	size_t got = 0;

	if (off > f->size || n > f->size - off)
		return fail(f, "the image is shorter than its own layout");
	while (got < n) {
		ssize_t r = pread(f->fd, (char *)p + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return fail(f, "cannot read the image: %s", r < 0 ? strerror(errno) : "short read");
		got += (size_t)r;
	}
	return 0;
}

/* Reads block b (which must lie in the filesystem and the image) into p. */
static int rd_block(struct fs *f, uint32_t b, void *p)
{
	if (b < f->first_data || b >= f->blocks)
		return fail(f, "a block number (%u) outside the filesystem", b);
	return rd(f, (uint64_t)b * f->bs, p, f->bs);
}

static int rd_inode(struct fs *f, uint32_t ino, struct inode *in)
{
	unsigned char d[64], b[128];
	uint32_t g, idx, table;

	if (ino < 1 || ino > f->inodes)
		return fail(f, "an inode number (%u) outside the filesystem", ino);
	g = (ino - 1) / f->ipg;
	idx = (ino - 1) % f->ipg;
	if (rd(f, f->gdt_off + (uint64_t)g * f->desc_size, d, 32) < 0)
		return -1;
	table = le32(d + 8);
	if (table < f->first_data || table >= f->blocks)
		return fail(f, "group %u's inode table lies outside the filesystem", g);
	if (rd(f, (uint64_t)table * f->bs + (uint64_t)idx * f->isz, b, 128) < 0)
		return -1;
	in->ino = ino;
	in->mode = le16(b);
	in->size = le32(b + 4);
	in->mtime = le32(b + 16);
	in->links = le16(b + 26);
	in->flags = le32(b + 32);
	for (int i = 0; i < 15; i++)
		in->block[i] = le32(b + 40 + 4 * i);
	if (S_ISREG(in->mode))
		in->size |= (uint64_t)le32(b + 108) << 32;
	if (in->mode == 0 || le32(b + 20) != 0)
		return fail(f, "a directory names a free inode (%u)", ino);
	if (in->flags & FL_EXTENTS)
		return fail(f, "inode %u uses extents, which this reader does not read", ino);
	if (in->flags & FL_INLINE)
		return fail(f, "inode %u has inline data, which this reader does not read", ino);
	return 0;
}

/* The physical block of logical block lbn, 0 for a hole. One indirect block of each
 * level is kept, so a sequential read costs one read per 1024 blocks a level. */
struct map {
	uint32_t cached[3];
	unsigned char *buf[3];
};

static int map_block(struct fs *f, const struct inode *in, struct map *m, uint64_t lbn, uint32_t *out)
{
	uint64_t per = f->bs / 4, idx[3];
	uint32_t b;
	int levels;

	if (lbn < 12) {
		*out = in->block[lbn];
		return 0;
	}
	lbn -= 12;
	if (lbn < per) {
		levels = 1, b = in->block[12], idx[0] = lbn;
	} else if ((lbn -= per) < per * per) {
		levels = 2, b = in->block[13], idx[0] = lbn / per, idx[1] = lbn % per;
	} else if ((lbn -= per * per) < per * per * per) {
		levels = 3, b = in->block[14], idx[0] = lbn / (per * per), idx[1] = lbn / per % per,
		idx[2] = lbn % per;
	} else {
		return fail(f, "inode %u is larger than ext2 can map", in->ino);
	}
	for (int l = 0; l < levels; l++) {
		int slot = l; /* each depth of the walk has its own cached block */
		if (b == 0) {
			*out = 0;
			return 0;
		}
		if (m->cached[slot] != b) {
			if (rd_block(f, b, m->buf[slot]) < 0)
				return -1;
			m->cached[slot] = b;
		}
		b = le32(m->buf[slot] + 4 * idx[l]);
	}
	*out = b;
	return 0;
}

/* Calls fn with the inode's bytes, block by block, up to its size. */
static int read_data(struct fs *f, const struct inode *in, int (*fn)(struct fs *, const void *, size_t, void *),
		     void *arg)
{
	unsigned char *ib = malloc(3 * (size_t)f->bs);
	struct map m = { { 0, 0, 0 }, { ib, ib ? ib + f->bs : NULL, ib ? ib + 2 * f->bs : NULL } };
	uint64_t left = in->size;
	int rc = 0;

	if (!ib)
		return fail(f, "out of memory");
	for (uint64_t lbn = 0; left && rc == 0; lbn++) {
		size_t n = left < f->bs ? (size_t)left : f->bs;
		uint32_t pb = 0;

		if (map_block(f, in, &m, lbn, &pb) < 0) {
			rc = -1;
			break;
		}
		if (pb == 0)
			memset(f->blk, 0, f->bs);
		else if (rd_block(f, pb, f->blk) < 0) {
			rc = -1;
			break;
		}
		rc = fn(f, f->blk, n, arg);
		left -= n;
	}
	free(ib);
	return rc;
}

static int emit_data(struct fs *f, const void *p, size_t n, void *arg)
{
	(void)arg;
	return f->cb->data(f->ctx, p, n) < 0 ? fail(f, "write failed") : 0;
}

static int seen(struct fs *f, uint32_t ino)
{
	int was = f->seen[ino / 8] >> (ino % 8) & 1;
	f->seen[ino / 8] |= (uint8_t)(1u << (ino % 8));
	return was;
}

static int walk_dir(struct fs *f, const struct inode *dir, char *path, size_t plen, int depth);

/* One entry of a directory: its checks, then it is reported (and walked). */
static int entry(struct fs *f, uint32_t ino, const char *name, char *path, size_t plen, int depth)
{
	char shown_path[256];
	struct inode in;
	size_t nlen = strlen(name);
	unsigned perm;

	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) {
			path[plen] = '\0';
			char full[PATH_MAX_LEN + 260];
			snprintf(full, sizeof(full), "%s%s%s", path, plen ? "/" : "", name);
			om_shown(full, shown_path, sizeof(shown_path));
			return fail(f, "a name with a control character: %s", shown_path);
		}
	if (plen + 1 + nlen >= PATH_MAX_LEN)
		return fail(f, "a path longer than %d bytes", PATH_MAX_LEN - 1);
	if (plen)
		path[plen++] = '/';
	memcpy(path + plen, name, nlen + 1);
	plen += nlen;
	om_shown(path, shown_path, sizeof(shown_path));
	if (rd_inode(f, ino, &in) < 0)
		return -1;
	if (++f->files > f->lim->max_files)
		return fail(f, "more than %llu files and directories", (unsigned long long)f->lim->max_files);
	perm = in.mode & 07777;
	switch (in.mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
		break;
	case S_IFLNK:
		return fail(f, "a symbolic link: %s", shown_path);
	case S_IFCHR:
	case S_IFBLK:
		return fail(f, "a device node: %s", shown_path);
	case S_IFIFO:
		return fail(f, "a FIFO: %s", shown_path);
	case S_IFSOCK:
		return fail(f, "a socket: %s", shown_path);
	default:
		return fail(f, "an inode of unknown type: %s", shown_path);
	}
	if (perm & 07000)
		return fail(f, "a setuid, setgid or sticky bit (mode %04o): %s", perm, shown_path);
	if (seen(f, ino))
		return fail(f, S_ISDIR(in.mode) ? "a directory loop: %s" : "a hard link: %s", shown_path);
	if (S_ISREG(in.mode)) {
		if (in.links > 1)
			return fail(f, "a hard link: %s", shown_path);
		if (in.size > f->lim->max_bytes - f->bytes)
			return fail(f, "more than %llu bytes", (unsigned long long)f->lim->max_bytes);
		f->bytes += in.size;
		if (f->cb->file(f->ctx, path, perm, in.mtime, in.size) < 0)
			return fail(f, "write failed");
		return read_data(f, &in, emit_data, NULL);
	}
	if (depth >= DEPTH_MAX)
		return fail(f, "directories nested deeper than %d", DEPTH_MAX);
	if (f->cb->dir(f->ctx, path, perm, in.mtime) < 0)
		return fail(f, "write failed");
	return walk_dir(f, &in, path, plen, depth + 1);
}

/* A directory, one block at a time: a level of the walk holds one block and one
 * block map (four blocks in all), never the whole directory, and the directories'
 * sizes count against a budget of their own, so that directories of forged sizes
 * (every block the same one) cost no more than that much reading. */
static int walk_dir(struct fs *f, const struct inode *dir, char *path, size_t plen, int depth)
{
	unsigned char *buf;
	struct map m;
	int rc = 0;

	if (dir->size > DIR_MAX_BYTES || dir->size > f->size || dir->size % f->bs)
		return fail(f, "a directory of %llu bytes", (unsigned long long)dir->size);
	/* Directories have a budget of their own, not the files' bytes: 16 MiB and the
	 * largest entry (264 bytes) for every file allowed. */
	if (dir->size > f->dir_budget - f->dir_bytes)
		return fail(f, "directories of more than %llu bytes in all", (unsigned long long)f->dir_budget);
	f->dir_bytes += dir->size;
	buf = malloc(4 * (size_t)f->bs);
	if (!buf)
		return fail(f, "out of memory");
	m = (struct map){ { 0, 0, 0 }, { buf + f->bs, buf + 2 * f->bs, buf + 3 * f->bs } };
	for (uint64_t lbn = 0; lbn < dir->size / f->bs && rc == 0; lbn++) {
		uint32_t pb = 0;
		if (map_block(f, dir, &m, lbn, &pb) < 0 || (pb && rd_block(f, pb, buf) < 0)) {
			rc = -1;
			break;
		}
		if (pb == 0)
			continue; /* a hole: no entries */
		for (size_t o = 0; o < f->bs && rc == 0;) {
			const unsigned char *e = buf + o;
			uint32_t ino, rec, nlen;
			char name[256];

			if (f->bs - o < 8) {
				rc = fail(f, "a directory entry cut by its block");
				break;
			}
			ino = le32(e), rec = le16(e + 4), nlen = e[6];
			if (rec < 8 || rec % 4 || rec > f->bs - o || nlen + 8 > rec) {
				rc = fail(f, "a malformed directory entry");
				break;
			}
			o += rec;
			if (ino == 0)
				continue;
			memcpy(name, e + 8, nlen);
			name[nlen] = '\0';
			if (nlen == 0 || memchr(name, '\0', nlen) || memchr(name, '/', nlen)) {
				rc = fail(f, "a directory entry with an empty name, a NUL or a slash");
				break;
			}
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			rc = entry(f, ino, name, path, plen, depth);
			path[plen] = '\0';
		}
	}
	free(buf);
	return rc;
}

int om_ext2_walk(int fd, uint64_t size, const struct om_ext2_limits *lim, const struct om_ext2_cb *cb,
		 void *ctx, char *err, size_t errlen)
{
	unsigned char sb[1024];
	struct fs f = { .fd = fd, .size = size, .lim = lim, .cb = cb, .ctx = ctx, .err = err, .errlen = errlen };
	struct inode root;
	uint32_t log, incompat, rev;
	char *path = NULL;
	int rc = -1;

	*err = '\0';
	if (rd(&f, 1024, sb, sizeof(sb)) < 0)
		return -1;
	if (le16(sb + 56) != EXT2_MAGIC)
		return fail(&f, "not an ext2 filesystem");
	log = le32(sb + 24);
	if (log > 2) /* 1, 2 or 4 KiB blocks */
		return fail(&f, "a block size of 1024 << %u", log);
	f.bs = 1024u << log;
	f.inodes = le32(sb + 0), f.blocks = le32(sb + 4), f.first_data = le32(sb + 20);
	f.ipg = le32(sb + 40);
	rev = le32(sb + 76);
	f.isz = rev ? le16(sb + 88) : 128;
	incompat = rev ? le32(sb + 96) : 0;
	if (incompat & ~(uint32_t)(INCOMPAT_FILETYPE | INCOMPAT_FLEX_BG))
		return fail(&f, "an ext2 feature this reader does not read (incompat 0x%x)",
			    incompat & ~(uint32_t)(INCOMPAT_FILETYPE | INCOMPAT_FLEX_BG));
	if (f.ipg == 0 || f.inodes == 0 || f.inodes % f.ipg || f.isz < 128 || f.isz > f.bs || (f.isz & (f.isz - 1)))
		return fail(&f, "an impossible inode layout");
	if (f.blocks == 0 || (uint64_t)f.blocks * f.bs > size || f.first_data > 1)
		return fail(&f, "a block count the image cannot hold");
	/* Every inode has its place in a table inside the image: so their count (and
	 * the bitmap of the ones seen, one bit each) is bounded by the image's size. */
	if ((uint64_t)f.inodes * f.isz > size)
		return fail(&f, "an inode count the image cannot hold");
	f.ngroups = f.inodes / f.ipg;
	f.dir_budget = (16u << 20) + (lim->max_files > (1ull << 40) ? (1ull << 40) : lim->max_files) * 264;
	f.desc_size = 32;
	f.gdt_off = (uint64_t)(f.first_data + 1) * f.bs;
	f.seen = calloc((size_t)f.inodes / 8 + 1, 1);
	f.blk = malloc(f.bs);
	path = malloc(PATH_MAX_LEN + 1);
	if (!f.seen || !f.blk || !path) {
		fail(&f, "out of memory");
		goto out;
	}
	*path = '\0';
	if (rd_inode(&f, ROOT_INO, &root) < 0)
		goto out;
	if (!S_ISDIR(root.mode)) {
		fail(&f, "the root is not a directory");
		goto out;
	}
	seen(&f, ROOT_INO);
	rc = walk_dir(&f, &root, path, 0, 0);
out:
	free(f.seen);
	free(f.blk);
	free(path);
	return rc;
}
