#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "om_proc.h"

uint64_t om_proc_starttime(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* After ")": state is field 3; starttime is field 22. */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &st) != 1)
		return 0;
	/* A zombie has exited: it is not alive for our purposes. */
	if (p[1] == ' ' && p[2] == 'Z')
		return 0;
	return st;
}

bool om_proc_alive(pid_t pid, uint64_t start)
{
	uint64_t st;

	if (pid <= 0)
		return false;
	st = om_proc_starttime(pid);
	return st != 0 && (start == 0 || st == start);
}

bool om_proc_wait(pid_t pid, uint64_t start, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int t = 0; t < ms; t += 10) {
		if (!om_proc_alive(pid, start))
			return true;
		nanosleep(&ts, NULL);
	}
	return !om_proc_alive(pid, start);
}

void om_proc_stop(pid_t pid, uint64_t start, int ms)
{
	if (!om_proc_alive(pid, start))
		return;
	kill(pid, SIGTERM);
	if (!om_proc_wait(pid, start, ms) && om_proc_alive(pid, start))
		kill(pid, SIGKILL);
}

bool om_proc_is(pid_t pid, uint64_t start, const char *comm)
{
	char path[64], buf[64] = { 0 };
	FILE *f;

	if (!om_proc_alive(pid, start))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, comm) == 0;
}
