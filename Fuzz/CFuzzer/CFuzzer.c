// Only the header matters: LLVMFuzzerRunDriver comes from libFuzzer's runtime (-sanitize=fuzzer).
#include "CFuzzer.h"
