#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "om_read.h"
#include "om_state.h"

int om_state_set(struct om_state *s, const char *key, const char *val)
{
	size_t i;

	if (strlen(key) >= OM_STATE_KEY || strlen(val) >= OM_STATE_VAL || !*key ||
	    strpbrk(key, "=\n") || strchr(val, '\n'))
		return -1;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->key[i], key) == 0)
			break;
	if (i == s->n) {
		if (s->n == OM_STATE_MAX)
			return -1;
		s->n++;
	}
	strcpy(s->key[i], key);
	strcpy(s->val[i], val);
	return 0;
}

const char *om_state_get(const struct om_state *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->key[i], key) == 0)
			return s->val[i];
	return NULL;
}

int om_state_parse(struct om_state *s, const char *buf, size_t len)
{
	int bad = 0;
	size_t i = 0;

	memset(s, 0, sizeof(*s));
	while (i < len) {
		char line[OM_STATE_KEY + OM_STATE_VAL + 2];
		size_t n = 0;
		bool over = false, nul = false;
		for (; i < len && buf[i] != '\n'; i++) {
			if (buf[i] == '\0')
				nul = true;
			if (n < sizeof(line) - 1)
				line[n++] = buf[i];
			else
				over = true;
		}
		i++;
		line[n] = '\0';
		if (!n)
			continue;
		char *eq = strchr(line, '=');
		if (over || nul || !eq) {
			bad++;
			continue;
		}
		*eq = '\0';
		if (om_state_set(s, line, eq + 1) < 0)
			bad++;
	}
	return bad;
}

int om_state_write(const char *path, const struct om_state *s)
{
	char tmp[4096];
	FILE *f;
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%s=%s\n", s->key[i], s->val[i]);
	if (fflush(f) == EOF || fsync(fd) < 0 || ferror(f)) {
		e = errno;
		fclose(f);
		unlink(tmp);
		errno = e;
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int om_state_read(const char *path, struct om_state *s)
{
	char *buf;
	size_t len;
	int r = om_read_path(path, 64 * 1024, &buf, &len);

	if (r == -2) {
		errno = EFBIG;
		return -1;
	}
	if (r < 0)
		return -1;
	om_state_parse(s, buf, len);
	om_read_free(buf, len);
	return 0;
}
