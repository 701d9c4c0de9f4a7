/* What every tool's command line shares: the usage text on stderr with the usage
 * exit status, or with --help the usage and the help on stdout and 0. */
#ifndef OM_CLI_H
#define OM_CLI_H

_Noreturn void om_usage(const char *usage, const char *help, int code);

#endif
