/* The run directory: $OMERTA_RUN_DIR (default /run/omerta), and in it one folder for
 * each tool that keeps per-job state (jail, vpn), mode 0700, with a lock file. A
 * provider that is also a requester (local mode) has the same job ID in both. */
#ifndef OM_RUNDIR_H
#define OM_RUNDIR_H
#include <stdbool.h>
#include <stddef.h>

#define OM_RUNDIR_MAX 256

/* dir becomes $OMERTA_RUN_DIR/TOOL, made (with its parent) when create is set. 0, or
 * -1 after a one-line message: a relative or over-long $OMERTA_RUN_DIR, a mkdir
 * that failed. */
int om_rundir_setup(char dir[OM_RUNDIR_MAX], const char *tool, bool create);
/* dir/JOB/FILE, or dir/JOB when file is NULL. */
void om_rundir_path(const char *dir, char *out, size_t n, const char *job, const char *file);
/* dir/.lock, held exclusively: an fd to close when done, or -1 after a message. */
int om_rundir_lock(const char *dir);

#endif
