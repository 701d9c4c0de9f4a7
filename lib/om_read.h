#ifndef OM_READ_H
#define OM_READ_H
#include <stddef.h>

/* Reads all of fd into a new NUL-terminated buffer of at most cap bytes.
 * Returns 0; -1 with errno set on a read error; -2 when the input exceeds cap.
 * The buffer may hold secrets: free it with om_read_free. */
int om_read_fd(int fd, size_t cap, char **buf, size_t *len);

/* Same, from a path, or standard input when path is "-". O_NOFOLLOW is not used:
 * the caller names the file on purpose. */
int om_read_path(const char *path, size_t cap, char **buf, size_t *len);

/* Wipes and frees a buffer from om_read_*. */
void om_read_free(char *buf, size_t len);

/* Writes the string v to the existing file path (a sysctl, a /proc or /sys knob) in
 * one write(2). 0, or -1 with errno set. */
int om_write_knob(const char *path, const char *v);

#endif
