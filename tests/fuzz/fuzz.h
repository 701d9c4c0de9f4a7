#ifndef FUZZ_H
#define FUZZ_H
#include <stddef.h>
#include <stdint.h>

int fuzz_wgconf(const uint8_t *data, size_t size);
int fuzz_key(const uint8_t *data, size_t size);
int fuzz_state(const uint8_t *data, size_t size);
int fuzz_door(const uint8_t *data, size_t size);
int fuzz_ctl(const uint8_t *data, size_t size);
int fuzz_frame(const uint8_t *data, size_t size);
int fuzz_num(const uint8_t *data, size_t size);
int fuzz_kmod(const uint8_t *data, size_t size);
int fuzz_jrec(const uint8_t *data, size_t size);
int fuzz_ext2(const uint8_t *data, size_t size);
int fuzz_image(const uint8_t *data, size_t size);
int fuzz_policy(const uint8_t *data, size_t size);

#endif
