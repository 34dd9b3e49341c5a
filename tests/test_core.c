/* tests/test_core.c - version, status codes, errors, options, context. */
#include "harness.h"

TEST(version_matches_header) {
    CHECK(polca_version() == POLCA_VERSION);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", POLCA_VERSION_MAJOR, POLCA_VERSION_MINOR,
             POLCA_VERSION_PATCH);
    CHECK(strcmp(polca_version_string(), expect) == 0);
}

TEST(status_strings_are_distinct_and_total) {
    for (int a = POLCA_ERR_COMM; a <= POLCA_OK; a++) {
        CHECK(polca_status_string(a) != NULL);
        CHECK(strcmp(polca_status_string(a), "unknown status") != 0);
        for (int b = POLCA_ERR_COMM; b < a; b++)
            CHECK(strcmp(polca_status_string(a), polca_status_string(b)) != 0);
    }
    CHECK(strcmp(polca_status_string(-999), "unknown status") == 0);
    CHECK(strcmp(polca_status_string(7), "unknown status") == 0);
}

TEST(status_values_fixed_forever) {
    /* These numbers are ABI: a change here breaks every compiled host. */
    CHECK(POLCA_ERR_INVALID_ARGUMENT == -1 && POLCA_ERR_OUT_OF_MEMORY == -2);
    CHECK(POLCA_ERR_BACKEND_UNAVAILABLE == -3 && POLCA_ERR_BACKEND == -4);
    CHECK(POLCA_ERR_IO == -5 && POLCA_ERR_CORRUPT == -6 && POLCA_ERR_VERSION == -7);
    CHECK(POLCA_ERR_UNKNOWN_OPTION == -8 && POLCA_ERR_OPTION_TYPE == -9);
    CHECK(POLCA_ERR_WRONG_CONTEXT == -10 && POLCA_ERR_NOT_FINITE == -11);
    CHECK(POLCA_ERR_NOT_CONVERGED == -12 && POLCA_ERR_RANK_DEFICIENT == -13);
    CHECK(POLCA_ERR_UNSUPPORTED == -14 && POLCA_ERR_CANCELLED == -15);
    CHECK(POLCA_ERR_STATE == -16 && POLCA_ERR_LAYOUT_MISMATCH == -17);
    CHECK(POLCA_ERR_INTERNAL == -18 && POLCA_ERR_COMM == -19);
}

TEST(options_bad_input) {
    polca_options *o = NULL;
    CHECK_STATUS(polca_options_create(NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out'");
    CHECK_OK(polca_options_create(&o));
    CHECK_STATUS(polca_options_set_int(NULL, "threads", 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'options'");
    CHECK_STATUS(polca_options_set_int(o, NULL, 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'name'");
    CHECK_STATUS(polca_options_set_int(o, "", 1), POLCA_ERR_INVALID_ARGUMENT);
    char longname[80];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_STATUS(polca_options_set_double(o, longname, 1.0), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_options_set_string(o, "backend", NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'value'");
    CHECK_STATUS(polca_options_unset(o, "never-set"), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("never-set");
    /* A context handle is not an options handle. */
    polca_context *ctx = NULL;
    polca_options *cpu = NULL;
    CHECK_OK(polca_options_create(&cpu));
    CHECK_OK(polca_options_set_string(cpu, "backend", "cpu"));
    CHECK_OK(polca_context_create(cpu, &ctx));
    CHECK_STATUS(polca_options_set_int((polca_options *)(void *)ctx, "x", 1),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_options");
    polca_context_destroy(ctx);
    polca_options_destroy(cpu);
    polca_options_destroy(o);
    polca_options_destroy(NULL);
}

TEST(options_replace_and_unset) {
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "backend", "nonsense"));
    CHECK_OK(polca_options_set_string(o, "backend", "cpu")); /* replaces */
    CHECK_OK(polca_options_set_int(o, "threads", 2));
    CHECK_OK(polca_options_unset(o, "threads"));
    polca_context *ctx = NULL;
    CHECK_OK(polca_context_create(o, &ctx));
    const char *name = NULL;
    CHECK_OK(polca_context_backend(ctx, &name));
    CHECK(strcmp(name, "cpu") == 0);
    polca_context_destroy(ctx);
    polca_options_destroy(o);
}

TEST(context_rejects_unknown_and_mistyped_options) {
    polca_options *o = NULL;
    polca_context *ctx = (polca_context *)(void *)&ctx; /* sentinel: must stay */
    polca_context *const sentinel = ctx;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "threadz", 2));
    CHECK_STATUS(polca_context_create(o, &ctx), POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("threadz");
    CHECK(ctx == sentinel);
    CHECK_OK(polca_options_unset(o, "threadz"));
    CHECK_OK(polca_options_set_string(o, "threads", "two"));
    CHECK_STATUS(polca_context_create(o, &ctx), POLCA_ERR_OPTION_TYPE);
    CHECK_ERROR_MENTIONS("threads");
    CHECK_OK(polca_options_set_int(o, "threads", -3));
    CHECK_STATUS(polca_context_create(o, &ctx), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("threads");
    CHECK_OK(polca_options_set_int(o, "threads", 2));
    CHECK_OK(polca_options_set_string(o, "backend", "tpu"));
    CHECK_STATUS(polca_context_create(o, &ctx), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("tpu");
    CHECK_OK(polca_options_set_string(o, "backend", "cpu"));
    CHECK_OK(polca_options_set_int(o, "allow_tf32", 5));
    CHECK_STATUS(polca_context_create(o, &ctx), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("allow_tf32");
    CHECK(ctx == sentinel);
    CHECK_STATUS(polca_context_create(NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    polca_options_destroy(o);
}

TEST(context_queries_bad_input) {
    const char *s = NULL;
    CHECK_STATUS(polca_context_backend(NULL, &s), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_STATUS(polca_context_device(NULL, &s), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_context_set_log(NULL, NULL, NULL, 0), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_context_set_progress(NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_STATUS(polca_context_backend((polca_context *)(void *)o, &s),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_context");
    CHECK_OK(polca_options_set_string(o, "backend", "cpu"));
    polca_context *ctx = NULL;
    CHECK_OK(polca_context_create(o, &ctx));
    CHECK_STATUS(polca_context_backend(ctx, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out_name'");
    CHECK_STATUS(polca_context_device(ctx, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_context_set_log(ctx, NULL, NULL, 9), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("min_level");
    CHECK_OK(polca_context_device(ctx, &s));
    CHECK(strncmp(s, "CPU", 3) == 0);
    polca_context_destroy(ctx);
    polca_context_destroy(NULL);
    polca_options_destroy(o);
}

TEST(last_error_is_cleared_by_a_new_failure_only) {
    CHECK_STATUS(polca_context_backend(NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(polca_last_error()[0] != 0);
    CHECK_STATUS(polca_options_create(NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("polca_options_create");
}

/* ---- log and progress reach the host only when set ---- */

#include "internal.h" /* polca__log, polca__progress: the core's emitters */

static int log_calls, progress_calls;
static char last_log[256];
static void on_log(void *user, int32_t level, const char *msg) {
    (void)level;
    (*(int *)user)++;
    snprintf(last_log, sizeof last_log, "%s", msg);
    log_calls++;
}
static int32_t on_progress(void *user, const char *stage, int64_t done, int64_t total,
                           double value) {
    (void)stage;
    (void)total;
    (void)value;
    progress_calls++;
    return done >= *(int64_t *)user;
}

TEST(log_and_progress_callbacks) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "backend", "cpu"));
    CHECK_OK(polca_context_create(o, &ctx));
    polca__log(ctx, POLCA_LOG_WARNING, "silent by default");
    CHECK_OK(polca__progress(ctx, "stage", 1, 2, 0.0));
    int counter = 0;
    CHECK_OK(polca_context_set_log(ctx, on_log, &counter, POLCA_LOG_INFO));
    polca__log(ctx, POLCA_LOG_DEBUG, "below the level");
    polca__log(ctx, POLCA_LOG_INFO, "hello %d", 42);
    CHECK(counter == 1 && strcmp(last_log, "hello 42") == 0);
    int64_t stop_at = 3;
    CHECK_OK(polca_context_set_progress(ctx, on_progress, &stop_at));
    CHECK_OK(polca__progress(ctx, "stage", 1, 5, 0.5));
    CHECK_STATUS(polca__progress(ctx, "stage", 3, 5, 0.5), POLCA_ERR_CANCELLED);
    CHECK_ERROR_MENTIONS("stage");
    CHECK(progress_calls == 2);
    CHECK_OK(polca_context_set_log(ctx, NULL, NULL, POLCA_LOG_DEBUG));
    polca__log(ctx, POLCA_LOG_WARNING, "off again");
    CHECK(counter == 1);
    polca_context_destroy(ctx);
    polca_options_destroy(o);
}

/* A request beyond RAM plus swap is refused by the library itself, whatever
 * the kernel's overcommit policy (which may grant it and kill the process
 * later); smaller requests are left to malloc. */
#include <sys/sysinfo.h>
TEST(allocation_beyond_the_machine_is_refused) {
    struct sysinfo si;
    CHECK(sysinfo(&si) == 0);
    size_t machine = (size_t)(si.totalram + si.totalswap) * si.mem_unit;
    size_t too_big = machine + ((size_t)4 << 30);
    CHECK(polca__alloc(too_big, "the test buffer") == NULL);
    CHECK_ERROR_MENTIONS("the test buffer");
    CHECK_ERROR_MENTIONS("memory and swap");
    CHECK(polca__alloc_aligned(too_big, "the aligned buffer") == NULL);
    CHECK_ERROR_MENTIONS("memory and swap");
    CHECK(polca__calloc(too_big / 8, 8, "the zeroed buffer") == NULL);
    CHECK_ERROR_MENTIONS("memory and swap");
    void *p = polca__alloc_aligned(100, "a small buffer");
    CHECK(p != NULL && ((uintptr_t)p & 63) == 0);
    free(p);
}

int main(void) {
    RUN(version_matches_header);
    RUN(status_strings_are_distinct_and_total);
    RUN(status_values_fixed_forever);
    RUN(options_bad_input);
    RUN(options_replace_and_unset);
    RUN(context_rejects_unknown_and_mistyped_options);
    RUN(context_queries_bad_input);
    RUN(last_error_is_cleared_by_a_new_failure_only);
    RUN(log_and_progress_callbacks);
    RUN(allocation_beyond_the_machine_is_refused);
    return harness_done();
}
