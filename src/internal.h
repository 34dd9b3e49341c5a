/*
 * src/internal.h - private helpers shared by the core's source files.
 * Never installed.
 */
#ifndef POLCA_INTERNAL_H
#define POLCA_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "polca/polca.h"
#include "backend.h"

#define POLCA_INTERNAL __attribute__((visibility("hidden")))

/* ---- Errors (error.c) ---- */

/* Records a formatted message as this thread's last error and returns status,
 * so a failing path reads: return polca__fail(POLCA_ERR_..., "...", ...); */
POLCA_INTERNAL int32_t polca__fail(int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
POLCA_INTERNAL int32_t polca__vfail(int32_t status, const char *fmt, va_list ap);
/* Prefixes the current last error with "context: " (keeps the status). */
POLCA_INTERNAL int32_t polca__wrap(int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Every public entry point calls this first: a successful call leaves the
 * previous message alone, but a new failure must not carry stale text. */
POLCA_INTERNAL void polca__clear_error(void);

/* ---- Handles ---- */

/* Every public handle struct starts with this head. `magic` tells the handle
 * types apart (an FFI caller passing the wrong pointer gets a status, not a
 * crash, as long as the pointer is readable) and is cleared on destroy. */
typedef struct polca__head {
    uint32_t magic;
    uint32_t reserved;
    struct polca_context *ctx; /* owning context; NULL for context/options */
} polca__head;

#define POLCA_MAGIC_CONTEXT 0x58544350u /* "PCTX" */
#define POLCA_MAGIC_OPTIONS 0x54504f50u /* "POPT" */

/* Checks that `h` is a live handle of the given magic; on failure records
 * "<fn>: argument '<arg>' is NULL" or "... is not a <type_name>". */
POLCA_INTERNAL int32_t polca__check_handle(const void *h, uint32_t magic,
                                           const char *fn, const char *arg,
                                           const char *type_name);
/* Fails with POLCA_ERR_WRONG_CONTEXT unless both handles belong to one
 * context. */
POLCA_INTERNAL int32_t polca__check_same_context(const void *a, const void *b,
                                                 const char *fn,
                                                 const char *arg_a,
                                                 const char *arg_b);

/* ---- Options (options.c) ---- */

#define POLCA_OPT_INT 1
#define POLCA_OPT_DOUBLE 2
#define POLCA_OPT_STRING 3

/* What a consuming call accepts: a table ended by {NULL}. */
typedef struct polca__option_spec {
    const char *name;
    int type; /* POLCA_OPT_* */
} polca__option_spec;

/* Checks every name set in `options` (may be NULL) against `spec`. */
POLCA_INTERNAL int32_t polca__options_check(const polca_options *options,
                                            const polca__option_spec *spec,
                                            const char *fn);
/* Getters return the default when the name is unset or options is NULL.
 * Call polca__options_check first: they assume the types are right. */
POLCA_INTERNAL int64_t polca__options_int(const polca_options *options,
                                          const char *name, int64_t dflt);
POLCA_INTERNAL double polca__options_double(const polca_options *options,
                                            const char *name, double dflt);
POLCA_INTERNAL const char *polca__options_string(const polca_options *options,
                                                 const char *name,
                                                 const char *dflt);

/* ---- Context (context.c) ---- */

struct polca_context {
    polca__head head;
    const polca_backend *be; /* dispatch table, never NULL */
    void *be_state;          /* backend instance, owned */
    void *module;            /* dlopen handle of a plugin backend, or NULL */
    polca_backend_host host; /* what the backend was opened with; it keeps a
                                pointer to this for the context's lifetime */
    char *device_text;       /* owned, whole: the backend's description
                                (and, for "auto" on the CPU, why CUDA was
                                passed over), never cut to a fixed size */
    polca_log_fn log_fn;
    void *log_user;
    int32_t log_min_level;
    polca_progress_fn progress_fn;
    void *progress_user;
    struct polca_comm *comm; /* borrowed; NULL = this process alone */
};

POLCA_INTERNAL void polca__log(const polca_context *ctx, int32_t level,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports progress; returns POLCA_ERR_CANCELLED (with a message) when the
 * host asked to stop, else POLCA_OK. */
POLCA_INTERNAL int32_t polca__progress(const polca_context *ctx,
                                       const char *stage, int64_t done,
                                       int64_t total, double value);

/* ---- Small utilities ---- */

/* Overflow-checked size arithmetic: return 0 on overflow. */
POLCA_INTERNAL int polca__mul_size(size_t a, size_t b, size_t *out);
/* malloc / calloc / 64-byte aligned_alloc that record POLCA_ERR_OUT_OF_MEMORY
 * naming `what` on failure, and refuse requests beyond the machine's RAM plus
 * swap (which an overcommitting kernel would grant, then kill the process). */
POLCA_INTERNAL void *polca__alloc(size_t bytes, const char *what);
POLCA_INTERNAL void *polca__alloc_aligned(size_t bytes, const char *what);
POLCA_INTERNAL void *polca__calloc(size_t count, size_t size, const char *what);

#endif /* POLCA_INTERNAL_H */
