/*
 * polca/core.h - version, status codes, errors, options and the context.
 *
 * Every other libpolca header builds on this one. Conventions that hold for the
 * whole library (docs/api.md has the long form):
 *
 *   - Every fallible call returns an int32_t status: POLCA_OK (0) or a negative
 *     POLCA_ERR_* code. The values are fixed forever.
 *   - Results are written through out-parameters. On failure an out-parameter
 *     is left untouched unless its documentation says it is zeroed.
 *   - After a failure, polca_last_error() returns a message naming the argument,
 *     option, file or offset at fault. It is thread-local.
 *   - Handles are opaque. Each _create has a _destroy; _destroy(NULL) does
 *     nothing.
 *   - Threads: a context and every handle made from it are used by one thread
 *     at a time. Separate contexts are independent and may be used from
 *     different threads at once.
 *   - The library never prints, exits or aborts. Logging and progress reach
 *     the host through callbacks on the context, silent by default.
 */
#ifndef POLCA_CORE_H
#define POLCA_CORE_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define POLCA_API
#else
#define POLCA_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------ */

#define POLCA_VERSION_MAJOR 0
#define POLCA_VERSION_MINOR 1
#define POLCA_VERSION_PATCH 0
/* One integer, comparable: major * 10000 + minor * 100 + patch. */
#define POLCA_VERSION                                                          \
    (POLCA_VERSION_MAJOR * 10000 + POLCA_VERSION_MINOR * 100 + POLCA_VERSION_PATCH)

/* The version of the library actually loaded, as POLCA_VERSION computes it.
 * Compare with POLCA_VERSION to detect a header/library mismatch. */
POLCA_API int32_t polca_version(void);
/* The same as static text, "MAJOR.MINOR.PATCH". */
POLCA_API const char *polca_version_string(void);

/* ---- Status codes (values fixed forever) -------------------------------- */

#define POLCA_OK 0
#define POLCA_ERR_INVALID_ARGUMENT -1    /* NULL, wrong size, out of range     */
#define POLCA_ERR_OUT_OF_MEMORY -2       /* host or device allocation failed   */
#define POLCA_ERR_BACKEND_UNAVAILABLE -3 /* asked-for backend cannot be used   */
#define POLCA_ERR_BACKEND -4             /* a backend call failed (CUDA, BLAS) */
#define POLCA_ERR_IO -5                  /* open, read, write, rename failed   */
#define POLCA_ERR_CORRUPT -6             /* file contents fail a check         */
#define POLCA_ERR_VERSION -7             /* file format version not supported  */
#define POLCA_ERR_UNKNOWN_OPTION -8      /* option name unknown to the call    */
#define POLCA_ERR_OPTION_TYPE -9         /* option set with the wrong type     */
#define POLCA_ERR_WRONG_CONTEXT -10      /* handles from different contexts    */
#define POLCA_ERR_NOT_FINITE -11         /* NaN or Inf in an input             */
#define POLCA_ERR_NOT_CONVERGED -12      /* iterative method hit its budget    */
#define POLCA_ERR_RANK_DEFICIENT -13     /* vectors not linearly independent   */
#define POLCA_ERR_UNSUPPORTED -14        /* feature absent in this build/model */
#define POLCA_ERR_CANCELLED -15          /* progress callback asked to stop    */
#define POLCA_ERR_STATE -16              /* call not valid in the handle's state */
#define POLCA_ERR_LAYOUT_MISMATCH -17    /* parameter layouts differ           */
#define POLCA_ERR_INTERNAL -18           /* a bug in libpolca: please report   */
#define POLCA_ERR_COMM -19               /* the host's communicator failed (a
                                            rank died, a timeout): polca/comm.h */

/* Static English text for a status code; never NULL ("unknown status" for a
 * value that is not a status). */
POLCA_API const char *polca_status_string(int32_t status);

/* The message of the last failed call on this thread: names the argument,
 * option, file or offset at fault. Empty string when no call has failed.
 * Valid until the next libpolca call on this thread. */
POLCA_API const char *polca_last_error(void);

/* ---- Options ------------------------------------------------------------ */
/*
 * An options handle is a bag of named, typed values: integers, doubles and
 * strings. It knows no names itself; the call that consumes it checks every
 * name it holds against the names that call accepts and fails with
 * POLCA_ERR_UNKNOWN_OPTION naming the first unknown one, or with
 * POLCA_ERR_OPTION_TYPE when a name was set with the wrong type (an integer
 * is accepted where a double is expected). Each consuming call documents
 * its names, types, defaults and ranges. A NULL options handle means "all
 * defaults". Consumers copy what they need; the handle may be destroyed or
 * reused right after the call.
 */
typedef struct polca_options polca_options;

POLCA_API int32_t polca_options_create(polca_options **out);
POLCA_API void polca_options_destroy(polca_options *options);
/* name: non-empty UTF-8, at most 63 bytes. Setting a name again replaces its
 * value and type. */
POLCA_API int32_t polca_options_set_int(polca_options *options, const char *name,
                                        int64_t value);
POLCA_API int32_t polca_options_set_double(polca_options *options,
                                           const char *name, double value);
/* value is copied. */
POLCA_API int32_t polca_options_set_string(polca_options *options,
                                           const char *name, const char *value);
/* Removes a name; POLCA_ERR_INVALID_ARGUMENT if it is not set. */
POLCA_API int32_t polca_options_unset(polca_options *options, const char *name);

/* ---- Context ------------------------------------------------------------ */

typedef struct polca_context polca_context;

/* Log levels for the log callback. */
#define POLCA_LOG_DEBUG 0
#define POLCA_LOG_INFO 1
#define POLCA_LOG_WARNING 2

/* message: UTF-8, no trailing newline, valid only during the call. */
typedef void (*polca_log_fn)(void *user, int32_t level, const char *message);

/* Progress of a long call. stage: static text naming the step ("basis",
 * "lanczos", ...). done/total: units of that stage (total 0 when unknown).
 * value: a stage-specific figure (a residual, a loss), NaN when none.
 * Return 0 to go on; anything else makes the running call stop and return
 * POLCA_ERR_CANCELLED, leaving its outputs untouched. */
typedef int32_t (*polca_progress_fn)(void *user, const char *stage, int64_t done,
                                     int64_t total, double value);

/*
 * Creates a context: the backend that computes, its threads, and the host's
 * callbacks. Options (NULL for defaults):
 *   "backend"     string  "auto" | "cpu" | "cuda". Default: the environment
 *                         variable POLCA_BACKEND if set, else "auto". "auto"
 *                         takes CUDA when its module loads and a device is
 *                         usable, else the CPU. "cuda" when CUDA is not usable
 *                         fails with POLCA_ERR_BACKEND_UNAVAILABLE and a
 *                         message saying why (module missing, CUDA library
 *                         missing, no device, driver too old).
 *   "cuda_module" string  path of the CUDA backend module. Default: the
 *                         environment variable POLCA_CUDA_MODULE if set, else
 *                         libpolca_cuda.so.MAJOR beside libpolca itself.
 *   "cuda_device" int     CUDA device ordinal, default 0.
 *   "threads"     int     CPU threads for BLAS and kernels, >= 1; default 0 =
 *                         what OpenBLAS chose (OPENBLAS_NUM_THREADS, or the
 *                         cores). Applies process-wide (an OpenBLAS limit).
 *   "allow_tf32"  int     0 (default) or 1: let the CUDA backend use TF32
 *                         tensor cores for float32 GEMM (faster, ~1e-3
 *                         relative error). Ignored on the CPU.
 * out: receives the context; untouched on failure.
 */
POLCA_API int32_t polca_context_create(const polca_options *options,
                                       polca_context **out);
POLCA_API void polca_context_destroy(polca_context *ctx);

/* Name of the backend the context computes with: "cpu" or "cuda". Static. */
POLCA_API int32_t polca_context_backend(const polca_context *ctx,
                                        const char **out_name);
/* One line describing the device ("CPU: OpenBLAS 0.3.21, 2 threads",
 * "CUDA: NVIDIA H100 80GB HBM3, sm_90"), valid while ctx lives. With
 * backend "auto" on the CPU it ends "; CUDA not used: <why>". Whole, of any
 * length: copy it with strlen, not into a fixed-size buffer. */
POLCA_API int32_t polca_context_device(const polca_context *ctx,
                                       const char **out_text);

/* fn NULL turns logging off. Messages below min_level are not produced. */
POLCA_API int32_t polca_context_set_log(polca_context *ctx, polca_log_fn fn,
                                        void *user, int32_t min_level);
/* fn NULL turns progress reports off. */
POLCA_API int32_t polca_context_set_progress(polca_context *ctx,
                                             polca_progress_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_CORE_H */
