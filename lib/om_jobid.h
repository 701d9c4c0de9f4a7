#ifndef OM_JOBID_H
#define OM_JOBID_H
#include <stdbool.h>

#define OM_JOBID_MAX 32

/* A job ID names a netns, interfaces, nft tables and a state directory, so it is
 * restricted to [A-Za-z0-9_-]{1,32}: no '/', no '.', nothing a shell or a path treats
 * specially. */
bool om_jobid_valid(const char *id);

#endif
