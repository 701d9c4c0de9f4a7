#include <stdio.h>
#include <stdlib.h>
#include "om_cli.h"

_Noreturn void om_usage(const char *usage, const char *help, int code)
{
	fputs(usage, code ? stderr : stdout);
	if (!code && help)
		fputs(help, stdout);
	exit(code);
}
