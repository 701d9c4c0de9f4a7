#include <dirent.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include "om_kmod.h"
#include "om_read.h"
#include "t.h"

/* Section i's header. */
static Elf64_Shdr shdr(const unsigned char *b, size_t i)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh;
	memcpy(&eh, b, sizeof(eh));
	memcpy(&sh, b + eh.e_shoff + i * sizeof(sh), sizeof(sh));
	return sh;
}

static const char *sname(const unsigned char *b, size_t i)
{
	Elf64_Ehdr eh;
	memcpy(&eh, b, sizeof(eh));
	return (const char *)b + shdr(b, eh.e_shstrndx).sh_offset + shdr(b, i).sh_name;
}

/* One real module: every section but .BTF keeps its bytes, its alignment and its
 * index; .BTF keeps its header, with size 0; the signature is gone. */
static void one(const char *path)
{
	char *orig, *copy;
	size_t olen, nlen;
	Elf64_Ehdr eh;
	int had_btf = 0;

	if (om_read_path(path, 64u << 20, &orig, &olen) != 0) {
		CHECK(0, "%s: cannot read", path);
		return;
	}
	copy = malloc(olen);
	memcpy(copy, orig, olen);
	nlen = om_kmod_strip((unsigned char *)copy, olen);
	memcpy(&eh, copy, sizeof(eh));
	CHECK(nlen < olen, "%s: nothing was cut (%zu)", path, nlen);
	CHECK(memmem(copy, nlen, "~Module signature appended~", 27) == NULL, "%s: still signed", path);
	for (size_t i = 1; i < eh.e_shnum; i++) {
		Elf64_Shdr a = shdr((unsigned char *)orig, i), n = shdr((unsigned char *)copy, i);
		CHECK(!strcmp(sname((unsigned char *)orig, i), sname((unsigned char *)copy, i)), "%s: section %zu renamed", path, i);
		if (!strcmp(sname((unsigned char *)copy, i), ".BTF")) {
			had_btf = 1;
			CHECK(n.sh_size == 0, "%s: .BTF still %llu bytes", path, (unsigned long long)n.sh_size);
			continue;
		}
		CHECK(a.sh_size == n.sh_size && a.sh_type == n.sh_type && a.sh_flags == n.sh_flags,
		      "%s: section %zu changed", path, i);
		if (n.sh_type == SHT_NOBITS)
			continue;
		CHECK(n.sh_offset + n.sh_size <= nlen, "%s: section %zu outside the file", path, i);
		CHECK(!memcmp(orig + a.sh_offset, copy + n.sh_offset, a.sh_size), "%s: section %zu bytes differ", path, i);
		CHECK(n.sh_addralign < 2 || (n.sh_offset - a.sh_offset) % n.sh_addralign == 0,
		      "%s: section %zu lost its alignment", path, i);
	}
	CHECK(had_btf, "%s: no .BTF section", path);
	/* Stripping again changes nothing. */
	CHECK(om_kmod_strip((unsigned char *)copy, nlen) == nlen, "%s: a second strip cut more", path);
	free(copy);
	om_read_free(orig, olen);
}

void t_kmod(void)
{
	static const char *const mods[] = { "kernel/net/netfilter/nf_tables.ko",
					    "kernel/drivers/net/wireguard/wireguard.ko",
					    "kernel/drivers/char/virtio_console.ko" };
	unsigned char junk[256];
	char dir[300] = "", path[600];
	DIR *d = opendir("/lib/modules");
	struct dirent *e;

	/* Not ELF, truncated, or too short: returned as they are. */
	memset(junk, 'x', sizeof(junk));
	CHECK(om_kmod_strip(junk, sizeof(junk)) == sizeof(junk), "junk was cut");
	CHECK(om_kmod_strip(junk, 3) == 3, "3 bytes were cut");
	memcpy(junk, ELFMAG, SELFMAG);
	junk[EI_CLASS] = ELFCLASS64;
	CHECK(om_kmod_strip(junk, sizeof(junk)) == sizeof(junk), "a bare ELF header was cut");
	/* The guest kernel's modules (linux-image-cloud-amd64, a dependency). */
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, "cloud-amd64") && strverscmp(e->d_name, dir + 0) > 0)
			snprintf(dir, sizeof(dir), "%s", e->d_name);
	if (d)
		closedir(d);
	CHECK(dir[0], "no /lib/modules/*-cloud-amd64 (apt-get install linux-image-cloud-amd64)");
	for (size_t i = 0; dir[0] && i < sizeof(mods) / sizeof(mods[0]); i++) {
		snprintf(path, sizeof(path), "/lib/modules/%s/%s", dir, mods[i]);
		one(path);
	}
}
