/* src/error.c - status strings and the thread-local last-error message. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define POLCA_ERROR_LEN 1024

static _Thread_local char last_error[POLCA_ERROR_LEN];

const char *polca_status_string(int32_t status) {
    switch (status) {
    case POLCA_OK: return "ok";
    case POLCA_ERR_INVALID_ARGUMENT: return "invalid argument";
    case POLCA_ERR_OUT_OF_MEMORY: return "out of memory";
    case POLCA_ERR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case POLCA_ERR_BACKEND: return "backend failure";
    case POLCA_ERR_IO: return "input/output error";
    case POLCA_ERR_CORRUPT: return "corrupt file";
    case POLCA_ERR_VERSION: return "unsupported file format version";
    case POLCA_ERR_UNKNOWN_OPTION: return "unknown option";
    case POLCA_ERR_OPTION_TYPE: return "option has the wrong type";
    case POLCA_ERR_WRONG_CONTEXT: return "handles belong to different contexts";
    case POLCA_ERR_NOT_FINITE: return "NaN or infinity in input";
    case POLCA_ERR_NOT_CONVERGED: return "did not converge";
    case POLCA_ERR_RANK_DEFICIENT: return "vectors are linearly dependent";
    case POLCA_ERR_UNSUPPORTED: return "not supported";
    case POLCA_ERR_CANCELLED: return "cancelled by the progress callback";
    case POLCA_ERR_STATE: return "call not valid in this state";
    case POLCA_ERR_LAYOUT_MISMATCH: return "parameter layouts differ";
    case POLCA_ERR_INTERNAL: return "internal error in libpolca";
    case POLCA_ERR_COMM: return "communication between ranks failed";
    default: return "unknown status";
    }
}

const char *polca_last_error(void) { return last_error; }

void polca__clear_error(void) { last_error[0] = '\0'; }

int32_t polca__vfail(int32_t status, const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return status;
}

int32_t polca__fail(int32_t status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    polca__vfail(status, fmt, ap);
    va_end(ap);
    return status;
}

int32_t polca__wrap(int32_t status, const char *fmt, ...) {
    char prefix[512], old[POLCA_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t len = strlen(prefix);
    memcpy(last_error, prefix, len + 1);
    if (len + 2 < sizeof last_error) {
        memcpy(last_error + len, ": ", 3);
        strncat(last_error, old, sizeof last_error - len - 3);
    }
    return status;
}
