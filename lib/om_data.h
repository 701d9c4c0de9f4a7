/* Where the guest's files are: next to the tools, so a checkout and an installed
 * tree (PREFIX/bin + PREFIX/lib/omerta) both work without configuration. */
#ifndef OM_DATA_H
#define OM_DATA_H
#include <limits.h>

/* Finds rel (e.g. "initramfs/init") under $OMERTA_DATADIR, else under
 * <exe dir>/../lib/omerta, else under <exe dir>/.. (a checkout). 0 or -1. */
int om_data_path(const char *rel, char out[PATH_MAX]);

#endif
