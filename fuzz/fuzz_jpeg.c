/* fuzz_jpeg.c - libFuzzer harness for ungil's JPEG decoder (ungil/image.h).
 *
 * Inputs start from the small JPEG files in fuzz/seeds/jpeg; those without
 * the JPEG signature are skipped, so that the fuzzer spends its time in one
 * decoder (fuzz_png.c covers the other).  Every input goes through
 * fuzz_image (fuzz/image_check.h): it is decoded by ungil's own entry
 * points under a small pixel limit, checked against its header, and
 * re-encoded if it decodes.  `make fuzz-jpeg` builds and runs it.
 */
#include <stddef.h>
#include <stdint.h>

#include "image_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (ug_image_format_detect(data, size) == UG_FORMAT_JPEG)
        fuzz_image(data, size);
    return 0;
}
