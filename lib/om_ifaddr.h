/* The subnets this host is attached to: an endpoint there is "local", and a
 * per-job subnet there is taken. */
#ifndef OM_IFADDR_H
#define OM_IFADDR_H
#include <stddef.h>
#include "om_addr.h"

/* Every IPv4 and IPv6 address of this network namespace with its prefix, in a new
 * array the caller frees. 0, or -1 with errno set. */
int om_local_nets(struct om_cidr **out, size_t *n);

#endif
