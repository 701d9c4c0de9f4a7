/* The libFuzzer entry point: FUZZ_TARGET names the function at build time. */
#ifdef FUZZ_TARGET
#include "fuzz.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return FUZZ_TARGET(data, size);
}
#endif
