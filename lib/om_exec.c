#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "om_exec.h"

#define OUT_CAP (1 << 20)

static const char *const clean_env_base[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	NULL,
};

int om_which(const char *name, char out[PATH_MAX])
{
	static const char *const dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };

	if (strchr(name, '/'))
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, PATH_MAX, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

static void child_exec(const char *path, const char *const argv[], const char *const env[])
{
	const char *envp[16];
	size_t n = 0;

	for (size_t i = 0; clean_env_base[i]; i++)
		envp[n++] = clean_env_base[i];
	for (size_t i = 0; env && env[i] && n < 15; i++)
		envp[n++] = env[i];
	envp[n] = NULL;
	/* Nothing of ours leaks into the child but 0, 1 and 2. */
	closefrom(3);
	{
		/* execve's prototype predates const; it does not write to either array. */
		char *const *av, *const *ev;
		const char *const *e = envp;
		memcpy(&av, &argv, sizeof(av));
		memcpy(&ev, &e, sizeof(ev));
		execve(path, av, ev);
	}
	_exit(127);
}

static int wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int om_run(const char *const argv[], const char *in, size_t inlen, char **out, int flags)
{
	char path[PATH_MAX];
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
	pid_t pid;
	char *buf = NULL;
	size_t len = 0;
	int e;

	if (out)
		*out = NULL;
	if (om_which(argv[0], path) < 0)
		return -1;
	if ((in && pipe2(inp, O_CLOEXEC) < 0) || (out && pipe2(outp, O_CLOEXEC) < 0))
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(in ? inp[0] : null, 0);
		dup2(out ? outp[1] : null, 1);
		if (flags & OM_RUN_QUIET)
			dup2(null, 2);
		/* Default signal handling, whatever the parent set. */
		signal(SIGPIPE, SIG_DFL);
		child_exec(path, argv, NULL);
	}
	if (in) {
		close(inp[0]);
		inp[0] = -1;
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);
		for (size_t off = 0; off < inlen;) {
			ssize_t w = write(inp[1], in + off, inlen - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		signal(SIGPIPE, old);
		close(inp[1]);
		inp[1] = -1;
	}
	if (out) {
		close(outp[1]);
		outp[1] = -1;
		buf = malloc(OUT_CAP + 1);
		for (;;) {
			ssize_t r = buf ? read(outp[0], buf + len, OUT_CAP - len) : -1;
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			len += (size_t)r;
			if (len == OUT_CAP)
				break;
		}
		close(outp[0]);
		outp[0] = -1;
		if (buf)
			buf[len] = '\0';
		*out = buf;
	}
	return wait_status(pid);
fail:
	e = errno;
	for (int i = 0; i < 2; i++) {
		if (inp[i] >= 0)
			close(inp[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	errno = e;
	return -1;
}

pid_t om_spawn_detached(const char *const argv[], const char *const env[], const char *logpath)
{
	char path[PATH_MAX];
	pid_t pid;

	if (om_which(argv[0], path) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
		setsid();
		dup2(null, 0);
		dup2(log >= 0 ? log : null, 1);
		dup2(log >= 0 ? log : null, 2);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		child_exec(path, argv, env);
	}
	return pid;
}
