#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "om_ifaddr.h"

static unsigned mask_prefix(const uint8_t *m, size_t n)
{
	unsigned p = 0;

	for (size_t i = 0; i < n; i++)
		for (int b = 7; b >= 0 && (m[i] >> b & 1); b--)
			p++;
	return p;
}

int om_local_nets(struct om_cidr **out, size_t *n)
{
	struct ifaddrs *ifa, *i;
	struct om_cidr *v;
	size_t k = 0, cap = 1;

	if (getifaddrs(&ifa) < 0)
		return -1;
	for (i = ifa; i; i = i->ifa_next)
		cap++;
	v = calloc(cap, sizeof(*v));
	if (!v) {
		freeifaddrs(ifa);
		return -1;
	}
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || !i->ifa_netmask)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			v[k].ip.family = AF_INET;
			memcpy(v[k].ip.a, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
			v[k].prefix = mask_prefix(
				(const uint8_t *)&((struct sockaddr_in *)(void *)i->ifa_netmask)->sin_addr, 4);
			k++;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			v[k].ip.family = AF_INET6;
			memcpy(v[k].ip.a, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
			v[k].prefix = mask_prefix(
				(const uint8_t *)&((struct sockaddr_in6 *)(void *)i->ifa_netmask)->sin6_addr, 16);
			k++;
		}
	}
	freeifaddrs(ifa);
	*out = v;
	*n = k;
	return 0;
}
