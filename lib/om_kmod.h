#ifndef OM_KMOD_H
#define OM_KMOD_H
#include <stddef.h>

/* A kernel module (.ko, ELF64 ET_REL) made cheaper for the guest to load. Done in
 * place; returns the new length (at most len). What goes:
 *  - the appended signature: the guest kernel takes unsigned modules anyway (it only
 *    taints), and checking it cost ~100 ms of every boot under TCG;
 *  - the .BTF section's bytes: its header stays, with size 0, so no section index
 *    changes; the kernel parses a module's BTF at every load (~13 ms for the
 *    guest's modules under TCG) only for BPF and tracing, which the guest never
 *    uses, and every byte is unpacked at every boot.
 * Anything that is not a well-formed ELF64 relocatable file, or whose .BTF cannot be
 * cut cleanly, comes back with only its signature removed. */
size_t om_kmod_strip(unsigned char *b, size_t len);

#endif
