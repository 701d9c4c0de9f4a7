#include <elf.h>
#include <string.h>
#include "om_kmod.h"

/* A signed module ends in its signature, a 12-byte descriptor (sig_len last, big
 * endian) and the marker. */
static size_t unsigned_len(const unsigned char *b, size_t len)
{
	static const char mark[] = "~Module signature appended~\n";
	size_t m = sizeof(mark) - 1, sig;

	if (len < m + 12 || memcmp(b + len - m, mark, m) != 0)
		return len;
	b += len - m - 12;
	/* algo, hash, id_type, signer_len, key_id_len, pad[3], sig_len */
	sig = (size_t)b[3] + b[4] + ((size_t)b[8] << 24 | (size_t)b[9] << 16 | (size_t)b[10] << 8 | b[11]);
	return sig + m + 12 <= len ? len - m - 12 - sig : len;
}

static int in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

size_t om_kmod_strip(unsigned char *b, size_t len)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, str;
	uint64_t cut_at = 0, cut = 0, align = 16;
	size_t btf = 0;

	len = unsigned_len(b, len);
	if (len < sizeof(eh))
		return len;
	memcpy(&eh, b, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_type != ET_REL || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shstrndx >= eh.e_shnum || !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(sh), len))
		return len;
	memcpy(&str, b + eh.e_shoff + (size_t)eh.e_shstrndx * sizeof(sh), sizeof(sh));
	if (!in_file(str.sh_offset, str.sh_size, len))
		return len;
	for (size_t i = 1; i < eh.e_shnum; i++) {
		memcpy(&sh, b + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_name < str.sh_size && str.sh_size - sh.sh_name >= 5 &&
		    !memcmp(b + str.sh_offset + sh.sh_name, ".BTF", 5) && sh.sh_type == SHT_PROGBITS &&
		    !(sh.sh_flags & SHF_ALLOC) && in_file(sh.sh_offset, sh.sh_size, len)) {
			btf = i;
			cut_at = sh.sh_offset;
			cut = sh.sh_size;
		}
	}
	if (!btf || !cut)
		return len;
	/* Everything after the cut keeps its alignment: cut a multiple of the largest
	 * alignment among what moves (the section header table needs 8). */
	for (size_t i = 1; i < eh.e_shnum; i++) {
		memcpy(&sh, b + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (i == btf || sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
			continue;
		if (sh.sh_offset < cut_at + cut && sh.sh_offset + sh.sh_size > cut_at)
			return len; /* overlaps .BTF: not a file to edit */
		if (sh.sh_offset >= cut_at + cut && sh.sh_addralign > align && sh.sh_addralign <= 4096)
			align = sh.sh_addralign;
	}
	cut -= cut % align;
	if (!cut || eh.e_shoff < cut_at + cut)
		return len; /* the table before the section: unusual, leave it */
	for (size_t i = 1; i < eh.e_shnum; i++) {
		unsigned char *p = b + eh.e_shoff + i * sizeof(sh);
		memcpy(&sh, p, sizeof(sh));
		if (i == btf)
			sh.sh_size = 0;
		else if (sh.sh_offset >= cut_at + cut)
			sh.sh_offset -= cut;
		memcpy(p, &sh, sizeof(sh));
	}
	eh.e_shoff -= cut;
	memcpy(b, &eh, sizeof(eh));
	memmove(b + cut_at, b + cut_at + cut, len - (size_t)(cut_at + cut));
	return len - (size_t)cut;
}
