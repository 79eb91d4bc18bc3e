/* fuzz_png.c - libFuzzer harness for ungil's PNG decoder (ungil/image.h).
 *
 * Inputs start from the small PNG files in fuzz/seeds/png; those without
 * the PNG signature are skipped, so that the fuzzer spends its time in one
 * decoder (fuzz_jpeg.c covers the other).  Every input goes through
 * fuzz_image (fuzz/image_check.h): it is decoded by ungil's own entry
 * points under a small pixel limit, checked against its header, and
 * re-encoded if it decodes.  `make fuzz-png` builds and runs it.
 */
#include <stddef.h>
#include <stdint.h>

#include "image_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (ug_image_format_detect(data, size) == UG_FORMAT_PNG)
        fuzz_image(data, size);
    return 0;
}
