/* Process identity that survives PID reuse: a PID plus its start time. */
#ifndef OM_PROC_H
#define OM_PROC_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The start time of pid in clock ticks since boot (field 22 of /proc/PID/stat),
 * or 0 when there is no such process. */
uint64_t om_proc_starttime(pid_t pid);

/* True when pid runs and, if start is not 0, started at start. */
bool om_proc_alive(pid_t pid, uint64_t start);

/* True when (pid, start) is alive and its command name (/proc/PID/comm) is comm. */
bool om_proc_is(pid_t pid, uint64_t start, const char *comm);

/* Sends SIGTERM, waits up to ms milliseconds for it to go, then SIGKILL. Only when
 * the process is still the one identified by (pid, start). */
void om_proc_stop(pid_t pid, uint64_t start, int ms);

/* Waits up to ms milliseconds for (pid, start) to be gone. True once it is. */
bool om_proc_wait(pid_t pid, uint64_t start, int ms);

#endif
