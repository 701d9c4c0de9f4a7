/* Running the system's tools (ip, wg, nft, wireguard-go): absolute paths, an argv
 * array, a clean environment. Never a shell, never a string built from input. */
#ifndef OM_EXEC_H
#define OM_EXEC_H
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* Finds NAME in /usr/sbin, /usr/bin, /sbin, /bin. 0, or -1 when it is not there. */
int om_which(const char *name, char out[PATH_MAX]);

#define OM_RUN_QUIET 1 /* the child's stderr goes to /dev/null */

/* Runs argv (argv[0] is a bare name looked up with om_which) and waits for it.
 * in: bytes for its stdin (NULL: /dev/null). out: if not NULL, receives its stdout,
 * NUL-terminated (at most 1 MiB), to be freed by the caller. Returns the exit status,
 * 128+N for a signal, or -1 when it could not be started (errno set). */
int om_run(const char *const argv[], const char *in, size_t inlen, char **out, int flags);

/* Starts argv detached (own session, stdin /dev/null, stdout and stderr to logpath),
 * with extra environment entries env (NULL-terminated, may be NULL). Returns the
 * pid, or -1. The caller does not wait for it. */
pid_t om_spawn_detached(const char *const argv[], const char *const env[], const char *logpath);

#endif
