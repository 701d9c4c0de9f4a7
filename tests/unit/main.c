#include "t.h"

int t_pass, t_fail;

int main(void)
{
	t_num();
	t_jobid();
	t_key();
	t_addr();
	t_json();
	t_wgconf();
	t_state();
	t_wgmsg();
	t_ctl();
	t_frame();
	t_blake2s();
	t_kmod();
	t_seams();
	t_door();
	t_policy();
	t_kconfig();
	t_kernel_choose();
	printf("unit: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail ? 1 : 0;
}
