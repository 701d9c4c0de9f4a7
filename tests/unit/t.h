/* A tiny test harness: CHECK counts and reports; main prints "N passed, N failed". */
#ifndef T_H
#define T_H
#include <stdio.h>

extern int t_pass, t_fail;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (cond) {                                                    \
			t_pass++;                                              \
		} else {                                                       \
			t_fail++;                                              \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
		}                                                              \
	} while (0)

void t_num(void);
void t_jobid(void);
void t_key(void);
int t_key_ct(void); /* the codec under valgrind: tests/bats/seams-config.bats */
void t_addr(void);
void t_json(void);
void t_wgconf(void);
void t_state(void);
void t_wgmsg(void);
void t_ctl(void);
void t_frame(void);
void t_policy(void);
void t_blake2s(void);
void t_kmod(void);
void t_seams(void);
void t_door(void);
void t_kconfig(void);
void t_kernel_choose(void);

#endif
