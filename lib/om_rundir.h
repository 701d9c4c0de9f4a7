/* The run directory: $OMERTA_RUN_DIR (default /run/omerta), and in it one folder for
 * each tool that keeps per-job state (jail, vpn, uid), mode 0700, with a lock file. A
 * provider that is also a requester (local mode) has the same job ID in both. */
#ifndef OM_RUNDIR_H
#define OM_RUNDIR_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define OM_RUNDIR_MAX 256

/* dir becomes $OMERTA_RUN_DIR/TOOL, made (with its parent) when create is set. Both
 * must be directories (not links) of this euid that no group or other may write. 0,
 * or -1 after a one-line message: a relative or over-long $OMERTA_RUN_DIR, a mkdir
 * that failed, a folder of someone else's. */
int om_rundir_setup(char dir[OM_RUNDIR_MAX], const char *tool, bool create);
/* 0 when path is a directory (not a link) owned by this euid and writable by no
 * group or other; -1 after a one-line message naming it. */
int om_rundir_check(const char *path);
/* Whether no one but root and UID can change what the absolute PATH names: every
 * folder on the way, PATH's own included, is a real folder (not a link) of root's
 * or UID's that no group or other may write, or a sticky one (as /tmp), where no one
 * may rename or remove another's entry. So none can be swapped after the check.
 * When false and BAD is given, the first folder that failed goes there. */
bool om_path_trusted(const char *path, uid_t uid, char *bad, size_t blen);
/* dir/JOB/FILE, or dir/JOB when file is NULL. */
void om_rundir_path(const char *dir, char *out, size_t n, const char *job, const char *file);
/* dir/.lock, held exclusively: an fd to close when done, or -1 after a message. */
int om_rundir_lock(const char *dir);

#endif
