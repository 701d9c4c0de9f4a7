/* Replays the fuzz corpus through every target with a plain main(), so that
 * make check runs it without libFuzzer.  usage: fuzz-replay CORPUS_DIR */
#ifndef FUZZ_TARGET
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "om_read.h"

static const struct {
	const char *name;
	int (*fn)(const uint8_t *, size_t);
} targets[] = { { "wgconf", fuzz_wgconf }, { "key", fuzz_key }, { "state", fuzz_state }, { "door", fuzz_door }, { "ctl", fuzz_ctl }, { "frame", fuzz_frame }, { "num", fuzz_num }, { "kmod", fuzz_kmod }, { "jrec", fuzz_jrec }, { "ext2", fuzz_ext2 }, { "image", fuzz_image }, { "policy", fuzz_policy } };

int main(int argc, char **argv)
{
	int files = 0, failed = 0;

	if (argc != 2) {
		fputs("usage: fuzz-replay CORPUS_DIR\n", stderr);
		return 2;
	}
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		char dir[4096];
		DIR *d;
		struct dirent *e;

		snprintf(dir, sizeof(dir), "%s/%s", argv[1], targets[t].name);
		d = opendir(dir);
		if (!d) {
			fprintf(stderr, "fuzz-replay: %s: no corpus\n", dir);
			failed++;
			continue;
		}
		while ((e = readdir(d))) {
			char path[8192], *buf;
			size_t len;
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (om_read_path(path, 1 << 20, &buf, &len) < 0) {
				fprintf(stderr, "fuzz-replay: %s: unreadable\n", path);
				failed++;
				continue;
			}
			targets[t].fn((const uint8_t *)buf, len);
			om_read_free(buf, len);
			files++;
		}
		closedir(d);
	}
	printf("fuzz-replay: %d passed, %d failed\n", files, failed);
	return failed || !files ? 1 : 0;
}
#endif
