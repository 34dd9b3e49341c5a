/* src/context.c - the context: backend choice and loading, log and progress. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define STR2(x) #x
#define STR(x) STR2(x)
#define CUDA_MODULE_NAME "libpolca_cuda.so." STR(POLCA_VERSION_MAJOR)

/* What a backend's open() may write as its one-line device description
 * (the CPU's OpenBLAS configuration, a CUDA device name of at most 256
 * bytes, a few numbers); the context then keeps an exact-size copy. */
#define BACKEND_TEXT_LEN 4096

static const polca__option_spec context_options[] = {
    {"backend", POLCA_OPT_STRING},  {"cuda_module", POLCA_OPT_STRING},
    {"cuda_device", POLCA_OPT_INT}, {"threads", POLCA_OPT_INT},
    {"allow_tf32", POLCA_OPT_INT},  {NULL, 0},
};

static int32_t host_fail(int32_t status, const char *message) {
    return polca__fail(status, "%s", message);
}

/* Default module path: the CUDA module beside the file that holds this code
 * (libpolca.so, or the executable when linked statically). */
static void default_module_path(char *out, size_t n) {
    Dl_info info;
    const char *self = NULL;
    if (dladdr((void *)&polca_context_create, &info) && info.dli_fname)
        self = info.dli_fname;
    const char *slash = self ? strrchr(self, '/') : NULL;
    if (slash)
        snprintf(out, n, "%.*s/%s", (int)(slash - self), self, CUDA_MODULE_NAME);
    else
        snprintf(out, n, "%s", CUDA_MODULE_NAME);
}

/* Loads and opens the CUDA module. On failure records why (the message says
 * which of: module missing, CUDA library missing, wrong ABI, no device). */
static int32_t open_cuda(polca_context *ctx, const char *path,
                         const polca_backend_host *host, char *text, size_t text_len) {
    struct stat sb;
    if (strchr(path, '/') && stat(path, &sb) != 0)
        return polca__fail(POLCA_ERR_BACKEND_UNAVAILABLE,
                           "CUDA backend module '%s' not found (build it with nvcc "
                           "present, or set POLCA_CUDA_MODULE)",
                           path);
    /* RTLD_NODELETE: the CUDA runtime and libstdc++ do not support being
     * unmapped while the process runs; dlclose only drops our reference. */
    void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!module) {
        const char *why = dlerror();
        return polca__fail(POLCA_ERR_BACKEND_UNAVAILABLE,
                           "CUDA backend module '%s' could not be loaded (is the CUDA "
                           "runtime/cuBLAS library missing?): %s",
                           path, why ? why : "unknown dlopen error");
    }
    polca_backend_entry_fn entry;
    *(void **)&entry = dlsym(module, POLCA_CUDA_ENTRY_SYMBOL);
    if (!entry) {
        dlclose(module);
        return polca__fail(POLCA_ERR_BACKEND_UNAVAILABLE,
                           "'%s' is not a libpolca CUDA module: no symbol %s", path,
                           POLCA_CUDA_ENTRY_SYMBOL);
    }
    const polca_backend *be = entry(POLCA_BACKEND_ABI);
    if (!be || be->abi != POLCA_BACKEND_ABI ||
        be->struct_size < offsetof(polca_backend, orthonormalize) + sizeof(be->orthonormalize)) {
        unsigned module_abi = be ? be->abi : 0u; /* read before dlclose unmaps it */
        dlclose(module);
        if (!module_abi)
            return polca__fail(POLCA_ERR_BACKEND_UNAVAILABLE,
                               "CUDA module '%s' does not support backend ABI %u",
                               path, POLCA_BACKEND_ABI);
        return polca__fail(POLCA_ERR_BACKEND_UNAVAILABLE,
                           "CUDA module '%s' was built for backend ABI %u (or is "
                           "incomplete); this libpolca needs ABI %u",
                           path, module_abi, POLCA_BACKEND_ABI);
    }
    void *state = NULL;
    int32_t st = be->open(host, &state, text, text_len);
    if (st) {
        dlclose(module);
        return polca__wrap(POLCA_ERR_BACKEND_UNAVAILABLE, "CUDA backend in '%s' unusable",
                           path);
    }
    ctx->be = be;
    ctx->be_state = state;
    ctx->module = module;
    return POLCA_OK;
}

static int32_t open_cpu(polca_context *ctx, const polca_backend_host *host, char *text,
                        size_t text_len) {
    int32_t st = polca__cpu_backend.open(host, &ctx->be_state, text, text_len);
    if (st) return st;
    ctx->be = &polca__cpu_backend;
    return POLCA_OK;
}

int32_t polca_context_create(const polca_options *options, polca_context **out) {
    static const char *fn = "polca_context_create";
    polca__clear_error();
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    int32_t st = polca__options_check(options, context_options, fn);
    if (st) return st;

    const char *env_backend = getenv("POLCA_BACKEND");
    const char *backend = polca__options_string(
        options, "backend", env_backend && env_backend[0] ? env_backend : "auto");
    if (strcmp(backend, "auto") && strcmp(backend, "cpu") && strcmp(backend, "cuda"))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'backend' (or POLCA_BACKEND) is '%s'; expected "
                           "auto, cpu or cuda",
                           fn, backend);
    int64_t device = polca__options_int(options, "cuda_device", 0);
    int64_t threads = polca__options_int(options, "threads", 0);
    int64_t tf32 = polca__options_int(options, "allow_tf32", 0);
    if (device < 0 || device > INT32_MAX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'cuda_device' is %lld; must be >= 0", fn,
                           (long long)device);
    if (threads < 0 || threads > 4096)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'threads' is %lld; must be 0..4096", fn,
                           (long long)threads);
    if (tf32 != 0 && tf32 != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'allow_tf32' is %lld; must be 0 or 1", fn,
                           (long long)tf32);

    char path[PATH_MAX];
    const char *env_module = getenv("POLCA_CUDA_MODULE");
    const char *module = polca__options_string(options, "cuda_module",
                                               env_module && env_module[0] ? env_module : NULL);
    if (module)
        snprintf(path, sizeof path, "%s", module);
    else
        default_module_path(path, sizeof path);

    polca_context *ctx = polca__calloc(1, sizeof *ctx, "polca_context");
    if (!ctx) return POLCA_ERR_OUT_OF_MEMORY;
    ctx->head.magic = POLCA_MAGIC_CONTEXT;
    ctx->head.ctx = ctx;
    ctx->log_min_level = POLCA_LOG_INFO;
    ctx->host = (polca_backend_host){POLCA_BACKEND_ABI, sizeof ctx->host, host_fail,
                                     (int32_t)device, (int32_t)threads, (int32_t)tf32};
    const polca_backend_host *host = &ctx->host;

    /* The backend's description, then (for "auto" on the CPU) why CUDA was
     * passed over: both kept whole in ctx->device_text. */
    char *text = polca__alloc(BACKEND_TEXT_LEN, "the device description");
    char *why = NULL;
    if (text) text[0] = 0;
    if (!text) {
        st = POLCA_ERR_OUT_OF_MEMORY;
    } else if (strcmp(backend, "cpu") == 0) {
        st = open_cpu(ctx, host, text, BACKEND_TEXT_LEN);
    } else {
        st = open_cuda(ctx, path, host, text, BACKEND_TEXT_LEN);
        if (st && strcmp(backend, "auto") == 0) {
            /* Keep the reason CUDA was passed over where the host can read it. */
            const char *reason = polca_last_error();
            why = polca__alloc(strlen(reason) + 1, "the device description");
            if (!why) {
                st = POLCA_ERR_OUT_OF_MEMORY;
            } else {
                memcpy(why, reason, strlen(reason) + 1);
                text[0] = 0;
                st = open_cpu(ctx, host, text, BACKEND_TEXT_LEN);
                if (!st) polca__clear_error();
            }
        }
    }
    if (!st) {
        static const char sep[] = "; CUDA not used: ";
        size_t len = strnlen(text, BACKEND_TEXT_LEN - 1);
        size_t total = len + (why ? sizeof sep - 1 + strlen(why) : 0) + 1;
        ctx->device_text = polca__alloc(total, "the device description");
        if (!ctx->device_text) {
            st = POLCA_ERR_OUT_OF_MEMORY;
            ctx->be->close(ctx->be_state);
            if (ctx->module) dlclose(ctx->module);
        } else {
            memcpy(ctx->device_text, text, len);
            ctx->device_text[len] = 0;
            if (why) snprintf(ctx->device_text + len, total - len, "%s%s", sep, why);
        }
    }
    free(text);
    free(why);
    if (st) {
        ctx->head.magic = 0;
        free(ctx);
        return polca__wrap(st, "%s", fn);
    }
    *out = ctx;
    return POLCA_OK;
}

void polca_context_destroy(polca_context *ctx) {
    if (!ctx || ctx->head.magic != POLCA_MAGIC_CONTEXT) return;
    ctx->be->close(ctx->be_state);
    if (ctx->module) dlclose(ctx->module);
    ctx->head.magic = 0;
    free(ctx->device_text);
    free(ctx);
}

int32_t polca_context_backend(const polca_context *ctx, const char **out_name) {
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, "polca_context_backend",
                                     "ctx", "polca_context");
    if (st) return st;
    if (!out_name)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_context_backend: argument 'out_name' is NULL");
    *out_name = ctx->be->name;
    return POLCA_OK;
}

int32_t polca_context_device(const polca_context *ctx, const char **out_text) {
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, "polca_context_device",
                                     "ctx", "polca_context");
    if (st) return st;
    if (!out_text)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_context_device: argument 'out_text' is NULL");
    *out_text = ctx->device_text;
    return POLCA_OK;
}

int32_t polca_context_set_log(polca_context *ctx, polca_log_fn fn, void *user,
                              int32_t min_level) {
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, "polca_context_set_log",
                                     "ctx", "polca_context");
    if (st) return st;
    if (min_level < POLCA_LOG_DEBUG || min_level > POLCA_LOG_WARNING)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_context_set_log: argument 'min_level' is %d; must be "
                           "POLCA_LOG_DEBUG..POLCA_LOG_WARNING",
                           (int)min_level);
    ctx->log_fn = fn;
    ctx->log_user = user;
    ctx->log_min_level = min_level;
    return POLCA_OK;
}

int32_t polca_context_set_progress(polca_context *ctx, polca_progress_fn fn, void *user) {
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT,
                                     "polca_context_set_progress", "ctx", "polca_context");
    if (st) return st;
    ctx->progress_fn = fn;
    ctx->progress_user = user;
    return POLCA_OK;
}

void polca__log(const polca_context *ctx, int32_t level, const char *fmt, ...) {
    if (!ctx->log_fn || level < ctx->log_min_level) return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    ctx->log_fn(ctx->log_user, level, message);
}

int32_t polca__progress(const polca_context *ctx, const char *stage, int64_t done,
                        int64_t total, double value) {
    if (!ctx->progress_fn) return POLCA_OK;
    if (ctx->progress_fn(ctx->progress_user, stage, done, total, value) != 0)
        return polca__fail(POLCA_ERR_CANCELLED, "%s: cancelled by the progress callback at %lld/%lld",
                           stage, (long long)done, (long long)total);
    return POLCA_OK;
}
