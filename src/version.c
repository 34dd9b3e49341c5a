/* src/version.c - the runtime version of the loaded library. */
#include "internal.h"

#define POLCA_STR2(x) #x
#define POLCA_STR(x) POLCA_STR2(x)

int32_t polca_version(void) { return POLCA_VERSION; }

const char *polca_version_string(void) {
    return POLCA_STR(POLCA_VERSION_MAJOR) "." POLCA_STR(POLCA_VERSION_MINOR) "." POLCA_STR(
        POLCA_VERSION_PATCH);
}
