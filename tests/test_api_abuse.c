/*
 * tests/test_api_abuse.c - every public function survives bad input.
 *
 * For each exported function: each pointer argument NULL in turn, a handle
 * of the wrong type where a handle is expected, handles from another context
 * where two combine, negative / zero / huge counts and out-of-range indices,
 * and NaN/Inf where finite values are documented. Each case expects a
 * non-OK status (the documented one where the header names it), a message
 * that names the argument as spelled in the header, and out-parameters left
 * as they were (pre-filled with a byte pattern, compared afterwards).
 *
 * The cases are soft: one run lists every gap. The last test checks that the
 * set of functions exercised here (cover()) is the set the headers declare,
 * the ABI baseline lists and the built library exports, so a new public
 * function cannot go unchecked.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdint.h>
#include <unistd.h>

#include "harness.h"

/* ---- the case checker ---------------------------------------------------- */

#define ANY 1 /* any failure status (1 is no status) */
#define SENT_BYTE 0x5a

static int n_cases;

static void bad_case(int line, const char *src, int32_t want, const char *name, int32_t got) {
    n_cases++;
    const char *msg = polca_last_error();
    if (got == POLCA_OK || (want != ANY && got != want) || !msg[0] || !strstr(msg, name)) {
        printf("  %s:%d: %s -> %d (%s), wanted %s naming '%s'; last error: '%s'\n", __FILE__,
               line, src, (int)got, polca_status_string(got),
               want == ANY ? "a failure" : polca_status_string(want), name, msg);
        harness_test_failed = 1;
    }
}

static void fill(void *p, size_t bytes) { memset(p, SENT_BYTE, bytes); }

static void untouched(int line, const char *src, const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        if (b[i] != SENT_BYTE) {
            printf("  %s:%d: %s wrote its output (byte %zu) although it failed\n", __FILE__,
                   line, src, i);
            harness_test_failed = 1;
            return;
        }
}

/* BAD: the call fails with `want` (or ANY failure) naming `name`. */
#define BAD(want, name, call) bad_case(__LINE__, #call, (want), (name), (call))
/* BADO: the same, and the output `buf` (bytes) is untouched. */
#define BADO(want, name, buf, bytes, call)                                      \
    (fill((buf), (bytes)), bad_case(__LINE__, #call, (want), (name), (call)),  \
     untouched(__LINE__, #call, (buf), (bytes)))
/* Two outputs. */
#define BADO2(want, name, b1, n1, b2, n2, call)                                 \
    (fill((b1), (n1)), fill((b2), (n2)), bad_case(__LINE__, #call, (want), (name), (call)), \
     untouched(__LINE__, #call, (b1), (n1)), untouched(__LINE__, #call, (b2), (n2)))

/* ---- coverage ------------------------------------------------------------ */

#define MAX_FUNCS 256
static const char *covered[MAX_FUNCS];
static int n_covered;

static void cover(const char *fn) {
    for (int i = 0; i < n_covered; i++)
        if (!strcmp(covered[i], fn)) return;
    if (n_covered < MAX_FUNCS) covered[n_covered++] = fn;
}

/* ---- the valid setup ----------------------------------------------------- */

#define NF 3  /* MLP features */
#define NS 8  /* MLP samples */
#define P 26  /* MLP parameters: 3x4 + 4 + 4x2 + 2 */
#define CN 40 /* clustering samples */
#define CT 6  /* clustering columns */

static struct {
    polca_context *ctx, *ctx2;
    polca_options *opt;        /* an empty options handle */
    polca_model *mlp, *mlp2;   /* mlp2 in ctx2 */
    polca_model *tf, *host;    /* transformer, host-defined */
    polca_data *feat, *feat2;  /* feature data (ctx, ctx2) */
    polca_data *tok, *idx;     /* token data, index data */
    float theta[P];
    polca_checkpoints *series, *series2, *series1; /* series1: one checkpoint */
    polca_basis *basis, *basis2, *axis, *basis_p5; /* basis_p5: P = 5 */
    polca_trajectories *traj;
    polca_clustering *clu;
    int64_t n_clusters;
    char dir[64], ckpt_path[128], basis_path[128], traj_path[128], st_path[128],
        out_path[128], missing_path[128];
} fx;

static polca_context *cpu_ctx(void) {
    polca_options *o = NULL;
    polca_context *c = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &c);
    polca_options_destroy(o);
    return c;
}

static polca_model *make_mlp(polca_context *c) {
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", NF);
    polca_options_set_int(o, "n_classes", 2);
    polca_options_set_string(o, "hidden", "4");
    polca_model_create_mlp(c, o, &m);
    polca_options_destroy(o);
    return m;
}

static polca_data *make_feat(polca_context *c) {
    float x[NS * NF];
    int32_t y[NS];
    unsigned long long s = 7;
    for (int i = 0; i < NS * NF; i++) x[i] = harness_uniform(&s);
    for (int i = 0; i < NS; i++) y[i] = i % 2;
    polca_data *d = NULL;
    polca_data_create_features(c, NS, NF, x, y, &d);
    return d;
}

static polca_checkpoints *make_series(polca_context *c, polca_model *m, int n) {
    polca_checkpoints *s = NULL;
    if (polca_checkpoints_create(c, m, NULL, NULL, &s)) return NULL;
    float th[P];
    for (int t = 0; t < n; t++) {
        for (int j = 0; j < P; j++) th[j] = fx.theta[j] * (1.0f - 0.1f * (float)t);
        if (polca_checkpoints_append(s, 10 * t, th, P)) return NULL;
    }
    return s;
}

static polca_basis *make_random(polca_context *c, int64_t p, int64_t k) {
    polca_basis *b = NULL;
    polca_basis_create_random(c, p, k, NULL, &b);
    return b;
}

static int32_t diag_op(void *user, const float *x, float *y) {
    (void)user;
    for (int i = 0; i < 4; i++) y[i] = (float)(i + 1) * x[i];
    return 0;
}

static int32_t loss_cb(void *u, const float *th, int64_t n, const int64_t *s, float *l) {
    (void)u, (void)th, (void)s;
    for (int64_t i = 0; i < n; i++) l[i] = 0;
    return 0;
}

static int32_t grad_cb(void *u, const float *th, int64_t n, const int64_t *s, double *m,
                       float *g) {
    (void)u, (void)th, (void)n, (void)s;
    *m = 0;
    memset(g, 0, P * sizeof *g);
    return 0;
}

TEST(setup) {
    fx.ctx = cpu_ctx();
    fx.ctx2 = cpu_ctx();
    CHECK(fx.ctx && fx.ctx2);
    CHECK_OK(polca_options_create(&fx.opt));
    fx.mlp = make_mlp(fx.ctx);
    fx.mlp2 = make_mlp(fx.ctx2);
    CHECK(fx.mlp && fx.mlp2);
    int64_t p = 0;
    CHECK_OK(polca_model_n_params(fx.mlp, &p));
    CHECK(p == P);
    CHECK_OK(polca_model_init(fx.mlp, 1, fx.theta));

    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_heads", 1);
    polca_options_set_int(o, "d_mlp", 0);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", 4);
    CHECK_OK(polca_model_create_transformer(fx.ctx, o, &fx.tf));
    polca_options_destroy(o);
    CHECK_OK(polca_model_create_host(fx.ctx, P, NS, NULL, &fx.host));

    fx.feat = make_feat(fx.ctx);
    fx.feat2 = make_feat(fx.ctx2);
    CHECK(fx.feat && fx.feat2);
    const int32_t tokens[2 * 4] = {0, 1, 2, 3, 4, 3, 2, 1};
    CHECK_OK(polca_data_create_tokens(fx.ctx, 2, 4, tokens, NULL, &fx.tok));
    CHECK_OK(polca_data_create_indices(fx.ctx, NS, NS, NULL, &fx.idx));

    fx.series = make_series(fx.ctx, fx.mlp, 3);
    fx.series2 = make_series(fx.ctx2, fx.mlp2, 3);
    fx.series1 = make_series(fx.ctx, fx.mlp, 1);
    CHECK(fx.series && fx.series2 && fx.series1);
    fx.basis = make_random(fx.ctx, P, 2);
    fx.basis2 = make_random(fx.ctx2, P, 2);
    fx.basis_p5 = make_random(fx.ctx, 5, 2);
    CHECK(fx.basis && fx.basis2 && fx.basis_p5);
    CHECK_OK(polca_basis_create_axis(fx.ctx, P, fx.theta, 2, NULL, &fx.axis));
    CHECK_OK(polca_trajectories_create(fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, NULL, NULL,
                                       &fx.traj));

    static float tr[CN * CT];
    for (int i = 0; i < CN; i++)
        for (int j = 0; j < CT; j++) {
            float base = i < CN / 2 ? (j >= 2 ? -1.0f : 0.0f) : (j >= 4 ? -3.0f : 0.0f);
            tr[i * CT + j] = base + 0.01f * (float)((i * 7 + j * 3) % 5);
        }
    CHECK_OK(polca_options_create(&o));
    polca_options_set_int(o, "min_cluster_size", 5);
    polca_options_set_int(o, "min_samples", 3);
    polca_options_set_double(o, "plateau", 2.0);
    CHECK_OK(polca_clustering_create(fx.ctx, 1, CN, CT, tr, CT, NULL, o, &fx.clu));
    polca_options_destroy(o);
    CHECK_OK(polca_clustering_shape(fx.clu, NULL, NULL, NULL, NULL, &fx.n_clusters));
    CHECK(fx.n_clusters >= 1);

    strcpy(fx.dir, "/tmp/polca_abuse_XXXXXX");
    CHECK(mkdtemp(fx.dir));
    snprintf(fx.ckpt_path, sizeof fx.ckpt_path, "%s/series.polca", fx.dir);
    snprintf(fx.basis_path, sizeof fx.basis_path, "%s/basis.polca", fx.dir);
    snprintf(fx.traj_path, sizeof fx.traj_path, "%s/traj.polca", fx.dir);
    snprintf(fx.st_path, sizeof fx.st_path, "%s/ckpt_000001.safetensors", fx.dir);
    snprintf(fx.out_path, sizeof fx.out_path, "%s/out.bin", fx.dir);
    snprintf(fx.missing_path, sizeof fx.missing_path, "%s/no/such/file", fx.dir);
    CHECK_OK(polca_checkpoints_save(fx.series, fx.ckpt_path, NULL));
    CHECK_OK(polca_basis_save(fx.basis, fx.basis_path));
    CHECK_OK(polca_trajectories_save(fx.traj, fx.traj_path));
    CHECK_OK(polca_model_save_safetensors(fx.mlp, fx.st_path, fx.theta));
}

/* Handles of the wrong type: a live handle of another kind, cast. */
#define WRONG(type) ((type *)(void *)fx.opt)
#define WRONG_OPT ((const polca_options *)(const void *)fx.feat)
#define WRONG_CTX ((polca_context *)(void *)fx.opt)

/* ---- core ---------------------------------------------------------------- */

TEST(core) {
    cover("polca_version");
    cover("polca_version_string");
    cover("polca_status_string");
    cover("polca_last_error");
    /* No arguments to abuse; the checks that exist: */
    EXPECT(polca_version() == POLCA_VERSION);
    EXPECT(polca_version_string() != NULL);
    EXPECT(polca_status_string(12345) != NULL);
    EXPECT(polca_status_string(INT32_MIN) != NULL);
    EXPECT(polca_last_error() != NULL);

    cover("polca_options_create");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_options_create(NULL));

    cover("polca_options_destroy");
    polca_options_destroy(NULL);
    polca_options_destroy((polca_options *)(void *)fx.feat); /* wrong type: a no-op */
    int64_t n = 0;
    EXPECT(polca_data_n_samples(fx.feat, &n) == POLCA_OK && n == NS); /* still alive */

    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = 0;
    cover("polca_options_set_int");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_set_int(NULL, "x", 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_set_int((polca_options *)(void *)fx.ctx, "x", 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_int(fx.opt, NULL, 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_int(fx.opt, "", 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_int(fx.opt, long_name, 1));
    cover("polca_options_set_double");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_set_double(NULL, "x", 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_set_double((polca_options *)(void *)fx.ctx, "x", 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_double(fx.opt, NULL, 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_double(fx.opt, "", 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_double(fx.opt, long_name, 1));
    cover("polca_options_set_string");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_set_string(NULL, "x", "v"));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_set_string((polca_options *)(void *)fx.ctx, "x", "v"));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_string(fx.opt, NULL, "v"));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_string(fx.opt, "", "v"));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_set_string(fx.opt, long_name, "v"));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "value", polca_options_set_string(fx.opt, "x", NULL));
    cover("polca_options_unset");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_unset(NULL, "x"));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_options_unset((polca_options *)(void *)fx.ctx, "x"));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "name", polca_options_unset(fx.opt, NULL));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "nope", polca_options_unset(fx.opt, "nope"));

    cover("polca_context_create");
    polca_context *oc;
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_context_create(NULL, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &oc, sizeof oc, polca_context_create(WRONG_OPT, &oc));
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "bogus");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "backend", &oc, sizeof oc, polca_context_create(o, &oc));
    polca_options_set_string(o, "backend", "cpu");
    polca_options_set_int(o, "threads", -1);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "threads", &oc, sizeof oc, polca_context_create(o, &oc));
    polca_options_unset(o, "threads");
    polca_options_set_int(o, "nonsense", 1);
    BADO(POLCA_ERR_UNKNOWN_OPTION, "nonsense", &oc, sizeof oc, polca_context_create(o, &oc));
    polca_options_destroy(o);

    cover("polca_context_destroy");
    polca_context_destroy(NULL);
    polca_context_destroy(WRONG(polca_context));
    EXPECT(polca_options_set_int(fx.opt, "x", 1) == POLCA_OK &&
           polca_options_unset(fx.opt, "x") == POLCA_OK); /* still alive */

    const char *s;
    cover("polca_context_backend");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &s, sizeof s, polca_context_backend(NULL, &s));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &s, sizeof s, polca_context_backend(WRONG_CTX, &s));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_name", polca_context_backend(fx.ctx, NULL));
    cover("polca_context_device");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &s, sizeof s, polca_context_device(NULL, &s));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &s, sizeof s, polca_context_device(WRONG_CTX, &s));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_text", polca_context_device(fx.ctx, NULL));
    cover("polca_context_set_log");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", polca_context_set_log(NULL, NULL, NULL, 0));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", polca_context_set_log(WRONG_CTX, NULL, NULL, 0));
    cover("polca_context_set_progress");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", polca_context_set_progress(NULL, NULL, NULL));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", polca_context_set_progress(WRONG_CTX, NULL, NULL));
}

/* ---- communicator ------------------------------------------------------- */

static int32_t no_reduce(void *u, double *d, int64_t n, char *m, size_t l) {
    (void)u, (void)d, (void)n, (void)m, (void)l;
    return 0;
}
static int32_t no_bcast(void *u, void *d, int64_t b, int32_t r, char *m, size_t l) {
    (void)u, (void)d, (void)b, (void)r, (void)m, (void)l;
    return 0;
}
static int32_t no_gather(void *u, const void *s, int64_t sb, void *r, const int64_t *rb,
                         int32_t root, char *m, size_t l) {
    (void)u, (void)s, (void)sb, (void)r, (void)rb, (void)root, (void)m, (void)l;
    return 0;
}
static int32_t no_barrier(void *u, char *m, size_t l) {
    (void)u, (void)m, (void)l;
    return 0;
}

TEST(comm) {
    polca_comm_ops ops = {sizeof ops, NULL, 0, 1, no_reduce, no_bcast, no_gather, no_barrier, NULL};
    polca_comm *c = NULL;
    cover("polca_comm_create");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_comm_create(&ops, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ops", &c, sizeof c, polca_comm_create(NULL, &c));
    polca_comm_ops bad = ops;
    bad.struct_size = 0;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "struct_size", &c, sizeof c, polca_comm_create(&bad, &c));
    bad = ops;
    bad.broadcast = NULL;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "broadcast", &c, sizeof c, polca_comm_create(&bad, &c));
    bad = ops;
    bad.size = 0;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "size", &c, sizeof c, polca_comm_create(&bad, &c));
    bad = ops;
    bad.rank = -1;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "rank", &c, sizeof c, polca_comm_create(&bad, &c));
    CHECK_OK(polca_comm_create(&ops, &c));
    int32_t r;
    cover("polca_comm_rank");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "comm", &r, sizeof r, polca_comm_rank(NULL, &r, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "comm", &r, sizeof r,
         polca_comm_rank((const polca_comm *)(const void *)fx.ctx, &r, NULL));
    cover("polca_context_set_comm");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", polca_context_set_comm(NULL, c));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", polca_context_set_comm(WRONG_CTX, c));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "comm", polca_context_set_comm(fx.ctx, WRONG(polca_comm)));
    polca_comm *got = NULL;
    cover("polca_context_comm");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &got, sizeof got, polca_context_comm(NULL, &got));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &got, sizeof got, polca_context_comm(WRONG_CTX, &got));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_comm", polca_context_comm(fx.ctx, NULL));
    cover("polca_comm_agree");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "comm", polca_comm_agree(WRONG(polca_comm), POLCA_OK));
    EXPECT(polca_comm_agree(NULL, POLCA_ERR_IO) == POLCA_ERR_IO);
    EXPECT(polca_comm_agree(c, POLCA_ERR_IO) == POLCA_ERR_IO); /* size 1: unchanged */
    cover("polca_comm_destroy");
    polca_comm_destroy(NULL);
    polca_comm_destroy(WRONG(polca_comm));
    polca_comm_destroy(c);
}

/* ---- data ---------------------------------------------------------------- */

TEST(data) {
    const int32_t tokens[8] = {0, 1, 2, 3, 4, 3, 2, 1};
    const int32_t neg_tokens[8] = {0, 1, -2, 3, 4, 3, 2, 1};
    uint8_t last_mask[8] = {1, 1, 1, 1, 0, 0, 0, 0}; /* last position of seq 0 set */
    uint8_t zero_mask[8] = {0};
    polca_data *od;

    cover("polca_data_create_tokens");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &od, sizeof od, polca_data_create_tokens(NULL, 2, 4, tokens, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &od, sizeof od, polca_data_create_tokens(WRONG_CTX, 2, 4, tokens, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_seq", &od, sizeof od, polca_data_create_tokens(fx.ctx, 0, 4, tokens, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_seq", &od, sizeof od, polca_data_create_tokens(fx.ctx, -1, 4, tokens, NULL, &od));
    BADO(ANY, "n_seq", &od, sizeof od, polca_data_create_tokens(fx.ctx, INT64_MAX, 4, tokens, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_ctx", &od, sizeof od, polca_data_create_tokens(fx.ctx, 2, 0, tokens, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_ctx", &od, sizeof od, polca_data_create_tokens(fx.ctx, 2, -4, tokens, NULL, &od));
    BADO(ANY, "n_ctx", &od, sizeof od, polca_data_create_tokens(fx.ctx, 2, INT64_MAX, tokens, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "tokens", &od, sizeof od, polca_data_create_tokens(fx.ctx, 2, 4, NULL, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "tokens", &od, sizeof od, polca_data_create_tokens(fx.ctx, 2, 4, neg_tokens, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "mask", &od, sizeof od, polca_data_create_tokens(fx.ctx, 2, 4, tokens, last_mask, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "mask", &od, sizeof od, polca_data_create_tokens(fx.ctx, 2, 4, tokens, zero_mask, &od));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_data_create_tokens(fx.ctx, 2, 4, tokens, NULL, NULL));

    float x[NS * NF] = {0};
    int32_t y[NS] = {0};
    cover("polca_data_create_features");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &od, sizeof od, polca_data_create_features(NULL, NS, NF, x, y, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &od, sizeof od, polca_data_create_features(WRONG_CTX, NS, NF, x, y, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_create_features(fx.ctx, 0, NF, x, y, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_create_features(fx.ctx, -3, NF, x, y, &od));
    BADO(ANY, "n", &od, sizeof od, polca_data_create_features(fx.ctx, INT64_MAX, NF, x, y, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_features", &od, sizeof od, polca_data_create_features(fx.ctx, NS, 0, x, y, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_features", &od, sizeof od, polca_data_create_features(fx.ctx, NS, -1, x, y, &od));
    BADO(ANY, "n_features", &od, sizeof od, polca_data_create_features(fx.ctx, NS, INT64_MAX, x, y, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "features", &od, sizeof od, polca_data_create_features(fx.ctx, NS, NF, NULL, y, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "labels", &od, sizeof od, polca_data_create_features(fx.ctx, NS, NF, x, NULL, &od));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_data_create_features(fx.ctx, NS, NF, x, y, NULL));
    x[5] = NAN;
    BADO(POLCA_ERR_NOT_FINITE, "features", &od, sizeof od, polca_data_create_features(fx.ctx, NS, NF, x, y, &od));
    x[5] = -INFINITY;
    BADO(POLCA_ERR_NOT_FINITE, "features", &od, sizeof od, polca_data_create_features(fx.ctx, NS, NF, x, y, &od));
    x[5] = 0;
    y[3] = -1;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "labels", &od, sizeof od, polca_data_create_features(fx.ctx, NS, NF, x, y, &od));

    int64_t ix[3] = {0, 5, 2};
    cover("polca_data_create_indices");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &od, sizeof od, polca_data_create_indices(NULL, NS, 3, ix, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &od, sizeof od, polca_data_create_indices(WRONG_CTX, NS, 3, ix, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_total", &od, sizeof od, polca_data_create_indices(fx.ctx, 0, 3, ix, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_total", &od, sizeof od, polca_data_create_indices(fx.ctx, -1, 3, ix, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_create_indices(fx.ctx, NS, 0, ix, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_create_indices(fx.ctx, NS, -3, ix, &od));
    BADO(ANY, "n", &od, sizeof od, polca_data_create_indices(fx.ctx, INT64_MAX, INT64_MAX, NULL, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &od, sizeof od, polca_data_create_indices(fx.ctx, NS, 3, NULL, &od));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_data_create_indices(fx.ctx, NS, 3, ix, NULL));
    ix[1] = NS;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &od, sizeof od, polca_data_create_indices(fx.ctx, NS, 3, ix, &od));
    ix[1] = -1;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &od, sizeof od, polca_data_create_indices(fx.ctx, NS, 3, ix, &od));

    cover("polca_data_destroy");
    polca_data_destroy(NULL);
    polca_data_destroy(WRONG(polca_data));

    int64_t v, v2;
    cover("polca_data_n_samples");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &v, sizeof v, polca_data_n_samples(NULL, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &v, sizeof v, polca_data_n_samples(WRONG(polca_data), &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_data_n_samples(fx.feat, NULL));
    cover("polca_data_n_seq");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &v, sizeof v, polca_data_n_seq(NULL, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &v, sizeof v, polca_data_n_seq(WRONG(polca_data), &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_data_n_seq(fx.feat, NULL));
    cover("polca_data_sample_at");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "data", &v, sizeof v, &v2, sizeof v2, polca_data_sample_at(NULL, 0, &v, &v2));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "data", &v, sizeof v, &v2, sizeof v2, polca_data_sample_at(WRONG(polca_data), 0, &v, &v2));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "sample", &v, sizeof v, &v2, sizeof v2, polca_data_sample_at(fx.feat, -1, &v, &v2));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "sample", &v, sizeof v, &v2, sizeof v2, polca_data_sample_at(fx.feat, NS, &v, &v2));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "sample", &v, sizeof v, &v2, sizeof v2, polca_data_sample_at(fx.tok, INT64_MAX, &v, &v2));

    int64_t seq[2] = {0, 1};
    cover("polca_data_subset_sequences");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &od, sizeof od, polca_data_subset_sequences(NULL, 2, seq, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &od, sizeof od, polca_data_subset_sequences(WRONG(polca_data), 2, seq, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_subset_sequences(fx.tok, 0, seq, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_subset_sequences(fx.tok, -2, seq, &od));
    BADO(ANY, "n", &od, sizeof od, polca_data_subset_sequences(fx.tok, INT64_MAX, seq, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "seq", &od, sizeof od, polca_data_subset_sequences(fx.tok, 2, NULL, &od));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_data_subset_sequences(fx.tok, 2, seq, NULL));
    seq[1] = 2;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "seq", &od, sizeof od, polca_data_subset_sequences(fx.tok, 2, seq, &od));
    seq[1] = -1;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "seq", &od, sizeof od, polca_data_subset_sequences(fx.feat, 2, seq, &od));

    int64_t smp[2] = {0, 3};
    cover("polca_data_subset_samples");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &od, sizeof od, polca_data_subset_samples(NULL, 2, smp, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &od, sizeof od, polca_data_subset_samples(WRONG(polca_data), 2, smp, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_subset_samples(fx.feat, 0, smp, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", &od, sizeof od, polca_data_subset_samples(fx.feat, -1, smp, &od));
    BADO(ANY, "n", &od, sizeof od, polca_data_subset_samples(fx.feat, INT64_MAX, smp, &od));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "sample", &od, sizeof od, polca_data_subset_samples(fx.feat, 2, NULL, &od));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_data_subset_samples(fx.feat, 2, smp, NULL));
    smp[1] = 0; /* not strictly increasing */
    BADO(POLCA_ERR_INVALID_ARGUMENT, "sample", &od, sizeof od, polca_data_subset_samples(fx.feat, 2, smp, &od));
    smp[1] = NS;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "sample", &od, sizeof od, polca_data_subset_samples(fx.feat, 2, smp, &od));
    smp[0] = -1, smp[1] = 1;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "sample", &od, sizeof od, polca_data_subset_samples(fx.tok, 2, smp, &od));
}

/* ---- models -------------------------------------------------------------- */

TEST(model_create) {
    polca_model *om;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_heads", 1);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", 4);
    cover("polca_model_create_transformer");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_transformer(NULL, o, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_transformer(WRONG_CTX, o, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &om, sizeof om, polca_model_create_transformer(fx.ctx, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &om, sizeof om, polca_model_create_transformer(fx.ctx, WRONG_OPT, &om));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_model_create_transformer(fx.ctx, o, NULL));
    polca_options_set_int(o, "d_model", 0);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "d_model", &om, sizeof om, polca_model_create_transformer(fx.ctx, o, &om));
    polca_options_set_int(o, "d_model", INT64_MAX);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "d_model", &om, sizeof om, polca_model_create_transformer(fx.ctx, o, &om));
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_ctx", 1);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_ctx", &om, sizeof om, polca_model_create_transformer(fx.ctx, o, &om));
    polca_options_set_int(o, "n_ctx", 4);
    polca_options_unset(o, "n_layers");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_layers", &om, sizeof om, polca_model_create_transformer(fx.ctx, o, &om));
    polca_options_destroy(o);

    polca_options_create(&o);
    polca_options_set_int(o, "n_features", NF);
    polca_options_set_int(o, "n_classes", 2);
    cover("polca_model_create_mlp");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_mlp(NULL, o, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_mlp(WRONG_CTX, o, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &om, sizeof om, polca_model_create_mlp(fx.ctx, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &om, sizeof om, polca_model_create_mlp(fx.ctx, WRONG_OPT, &om));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_model_create_mlp(fx.ctx, o, NULL));
    polca_options_set_string(o, "hidden", "4,x");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "hidden", &om, sizeof om, polca_model_create_mlp(fx.ctx, o, &om));
    polca_options_set_string(o, "hidden", "99999999999");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "hidden", &om, sizeof om, polca_model_create_mlp(fx.ctx, o, &om));
    polca_options_unset(o, "hidden");
    polca_options_set_int(o, "n_classes", 1);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_classes", &om, sizeof om, polca_model_create_mlp(fx.ctx, o, &om));
    polca_options_set_int(o, "n_classes", 2);
    polca_options_set_int(o, "n_features", -1);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_features", &om, sizeof om, polca_model_create_mlp(fx.ctx, o, &om));
    polca_options_destroy(o);

    cover("polca_model_create_host");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_host(NULL, P, NS, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_host(WRONG_CTX, P, NS, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &om, sizeof om, polca_model_create_host(fx.ctx, 0, NS, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &om, sizeof om, polca_model_create_host(fx.ctx, -1, NS, NULL, &om));
    BADO(ANY, "n_params", &om, sizeof om, polca_model_create_host(fx.ctx, INT64_MAX, NS, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_samples", &om, sizeof om, polca_model_create_host(fx.ctx, P, 0, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_samples", &om, sizeof om, polca_model_create_host(fx.ctx, P, -5, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &om, sizeof om, polca_model_create_host(fx.ctx, P, NS, WRONG_OPT, &om));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_model_create_host(fx.ctx, P, NS, NULL, NULL));
    polca_options_create(&o);
    polca_options_set_double(o, "fd_step", 2.0);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "fd_step", &om, sizeof om, polca_model_create_host(fx.ctx, P, NS, o, &om));
    polca_options_set_double(o, "fd_step", NAN);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "fd_step", &om, sizeof om, polca_model_create_host(fx.ctx, P, NS, o, &om));
    polca_options_destroy(o);

    cover("polca_model_destroy");
    polca_model_destroy(NULL);
    polca_model_destroy(WRONG(polca_model));
}

TEST(model_query) {
    const char *s;
    int64_t v;
    cover("polca_model_kind");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &s, sizeof s, polca_model_kind(NULL, &s));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &s, sizeof s, polca_model_kind(WRONG(polca_model), &s));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_name", polca_model_kind(fx.mlp, NULL));

#define CB_CASES(setter, fn)                                                                 \
    cover("polca_model_" #setter);                                                           \
    BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_##setter(NULL, fn, NULL));          \
    BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_##setter(WRONG(polca_model), fn, NULL)); \
    BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_##setter(fx.mlp, fn, NULL))
    CB_CASES(set_loss_callback, loss_cb);
    CB_CASES(set_grad_callback, grad_cb);
    CB_CASES(set_hvp_callback, NULL);
    CB_CASES(set_dirderiv_callback, NULL);
    CB_CASES(set_second_dirderiv_callback, NULL);

    cover("polca_model_n_params");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &v, sizeof v, polca_model_n_params(NULL, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &v, sizeof v, polca_model_n_params(WRONG(polca_model), &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_model_n_params(fx.mlp, NULL));
    cover("polca_model_n_tensors");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &v, sizeof v, polca_model_n_tensors(NULL, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &v, sizeof v, polca_model_n_tensors(WRONG(polca_model), &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_model_n_tensors(fx.mlp, NULL));

    int64_t shape[POLCA_MODEL_MAX_DIMS];
    cover("polca_model_tensor_info");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", shape, sizeof shape, polca_model_tensor_info(NULL, 0, &s, NULL, shape, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", shape, sizeof shape, polca_model_tensor_info(WRONG(polca_model), 0, &s, NULL, shape, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "index", shape, sizeof shape, &s, sizeof s, polca_model_tensor_info(fx.mlp, -1, &s, NULL, shape, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "index", shape, sizeof shape, &s, sizeof s, polca_model_tensor_info(fx.mlp, 4, &s, NULL, shape, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "index", shape, sizeof shape, &s, sizeof s, polca_model_tensor_info(fx.tf, INT64_MAX, &s, NULL, shape, NULL));

    cover("polca_model_find_tensor");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &v, sizeof v, polca_model_find_tensor(NULL, "layers.0.W", &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &v, sizeof v, polca_model_find_tensor(WRONG(polca_model), "layers.0.W", &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "name", &v, sizeof v, polca_model_find_tensor(fx.mlp, NULL, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "layers.9.W", &v, sizeof v, polca_model_find_tensor(fx.mlp, "layers.9.W", &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_index", polca_model_find_tensor(fx.mlp, "layers.0.W", NULL));

    {
        const char *nm[1] = {"w"};
        const int32_t nd[1] = {1};
        const int64_t sh[POLCA_MODEL_MAX_DIMS] = {P, 1, 1, 1};
        cover("polca_model_set_host_layout");
        BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_set_host_layout(NULL, 1, nm, nd, sh));
        BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_set_host_layout(WRONG(polca_model), 1, nm, nd, sh));
        BAD(POLCA_ERR_INVALID_ARGUMENT, "host-defined", polca_model_set_host_layout(fx.mlp, 1, nm, nd, sh));
        BAD(POLCA_ERR_INVALID_ARGUMENT, "n_tensors", polca_model_set_host_layout(fx.host, -1, nm, nd, sh));
        BAD(POLCA_ERR_INVALID_ARGUMENT, "names", polca_model_set_host_layout(fx.host, 1, NULL, nd, sh));
        BAD(POLCA_ERR_INVALID_ARGUMENT, "ndims", polca_model_set_host_layout(fx.host, 1, nm, NULL, sh));
        BAD(POLCA_ERR_INVALID_ARGUMENT, "shapes", polca_model_set_host_layout(fx.host, 1, nm, nd, NULL));
    }

    float th[P];
    cover("polca_model_init");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", th, sizeof th, polca_model_init(NULL, 1, th));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", th, sizeof th, polca_model_init(WRONG(polca_model), 1, th));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "theta", polca_model_init(fx.mlp, 1, NULL));
    BADO(POLCA_ERR_UNSUPPORTED, "host", th, sizeof th, polca_model_init(fx.host, 1, th));

    cover("polca_model_load_safetensors");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", th, sizeof th, polca_model_load_safetensors(NULL, fx.st_path, th));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", th, sizeof th, polca_model_load_safetensors(WRONG(polca_model), fx.st_path, th));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "path", th, sizeof th, polca_model_load_safetensors(fx.mlp, NULL, th));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "theta", polca_model_load_safetensors(fx.mlp, fx.st_path, NULL));
    BADO(POLCA_ERR_IO, fx.missing_path, th, sizeof th, polca_model_load_safetensors(fx.mlp, fx.missing_path, th));
    BADO(POLCA_ERR_LAYOUT_MISMATCH, "", th, sizeof th, polca_model_load_safetensors(fx.tf, fx.st_path, th));

    cover("polca_model_save_safetensors");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_save_safetensors(NULL, fx.out_path, fx.theta));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_save_safetensors(WRONG(polca_model), fx.out_path, fx.theta));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_model_save_safetensors(fx.mlp, NULL, fx.theta));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "theta", polca_model_save_safetensors(fx.mlp, fx.out_path, NULL));
    BAD(POLCA_ERR_IO, fx.missing_path, polca_model_save_safetensors(fx.mlp, fx.missing_path, fx.theta));
    EXPECT(access(fx.out_path, F_OK) != 0);

    /* checkpoints in other layouts (polca/model.h) */
    polca_model *om;
    cover("polca_model_create_pretrained");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_pretrained(NULL, fx.st_path, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &om, sizeof om, polca_model_create_pretrained(WRONG_CTX, fx.st_path, NULL, &om));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "path", &om, sizeof om, polca_model_create_pretrained(fx.ctx, NULL, NULL, &om));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_model_create_pretrained(fx.ctx, fx.st_path, NULL, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &om, sizeof om, polca_model_create_pretrained(fx.ctx, fx.st_path, WRONG_OPT, &om));
    BADO(POLCA_ERR_IO, fx.missing_path, &om, sizeof om, polca_model_create_pretrained(fx.ctx, fx.missing_path, NULL, &om));
    BADO(POLCA_ERR_LAYOUT_MISMATCH, "layers.0.W", &om, sizeof om, polca_model_create_pretrained(fx.ctx, fx.st_path, NULL, &om));
    cover("polca_model_source_format");
    const char *name;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &name, sizeof name, polca_model_source_format(NULL, &name));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &name, sizeof name, polca_model_source_format(WRONG(polca_model), &name));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "transformer", &name, sizeof name, polca_model_source_format(fx.mlp, &name));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_name", polca_model_source_format(fx.tf, NULL));
    cover("polca_model_describe");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &name, sizeof name, polca_model_describe(NULL, &name));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &name, sizeof name, polca_model_describe(WRONG(polca_model), &name));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "transformer", &name, sizeof name, polca_model_describe(fx.host, &name));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_json", polca_model_describe(fx.tf, NULL));
    cover("polca_model_load_pretrained");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", th, sizeof th, polca_model_load_pretrained(NULL, fx.st_path, th));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", th, sizeof th, polca_model_load_pretrained(WRONG(polca_model), fx.st_path, th));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "transformer", th, sizeof th, polca_model_load_pretrained(fx.mlp, fx.st_path, th));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "path", th, sizeof th, polca_model_load_pretrained(fx.tf, NULL, th));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "theta", polca_model_load_pretrained(fx.tf, fx.st_path, NULL));
    BADO(POLCA_ERR_IO, fx.missing_path, th, sizeof th, polca_model_load_pretrained(fx.tf, fx.missing_path, th));
    BADO(POLCA_ERR_LAYOUT_MISMATCH, "layers.0.W", th, sizeof th, polca_model_load_pretrained(fx.tf, fx.st_path, th));
    cover("polca_model_save_pretrained");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_save_pretrained(NULL, fx.out_path, fx.theta));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "model", polca_model_save_pretrained(WRONG(polca_model), fx.out_path, fx.theta));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "transformer", polca_model_save_pretrained(fx.mlp, fx.out_path, fx.theta));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_model_save_pretrained(fx.tf, NULL, fx.theta));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "vector", polca_model_save_pretrained(fx.tf, fx.out_path, NULL));
    EXPECT(access(fx.out_path, F_OK) != 0);
}

TEST(model_compute) {
    float l[NS], g[P], bad[P], dirs[2 * P], gd[2 * NS];
    double mean;
    memcpy(bad, fx.theta, sizeof bad);
    bad[7] = NAN;
    for (int i = 0; i < 2 * P; i++) dirs[i] = (float)(i % 3) - 1.0f;
    const polca_model *m = fx.mlp;
    const polca_data *d = fx.feat;
    const float *th = fx.theta;

    cover("polca_model_losses");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", l, sizeof l, polca_model_losses(NULL, d, th, l));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", l, sizeof l, polca_model_losses(WRONG(polca_model), d, th, l));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", l, sizeof l, polca_model_losses(m, NULL, th, l));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", l, sizeof l, polca_model_losses(m, WRONG(polca_data), th, l));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", l, sizeof l, polca_model_losses(m, fx.tok, th, l));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", l, sizeof l, polca_model_losses(fx.tf, fx.feat, th, l));
    BADO(POLCA_ERR_WRONG_CONTEXT, "data", l, sizeof l, polca_model_losses(m, fx.feat2, th, l));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "theta", l, sizeof l, polca_model_losses(m, d, NULL, l));
    BADO(POLCA_ERR_NOT_FINITE, "theta", l, sizeof l, polca_model_losses(m, d, bad, l));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "losses", polca_model_losses(m, d, th, NULL));

    cover("polca_model_grad");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "model", g, sizeof g, &mean, sizeof mean, polca_model_grad(NULL, d, th, &mean, g));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "model", g, sizeof g, &mean, sizeof mean, polca_model_grad(WRONG(polca_model), d, th, &mean, g));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "data", g, sizeof g, &mean, sizeof mean, polca_model_grad(m, NULL, th, &mean, g));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "data", g, sizeof g, &mean, sizeof mean, polca_model_grad(m, WRONG(polca_data), th, &mean, g));
    BADO2(POLCA_ERR_WRONG_CONTEXT, "data", g, sizeof g, &mean, sizeof mean, polca_model_grad(m, fx.feat2, th, &mean, g));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "theta", g, sizeof g, &mean, sizeof mean, polca_model_grad(m, d, NULL, &mean, g));
    BADO2(POLCA_ERR_NOT_FINITE, "theta", g, sizeof g, &mean, sizeof mean, polca_model_grad(m, d, bad, &mean, g));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "grad", &mean, sizeof mean, polca_model_grad(m, d, th, &mean, NULL));

    cover("polca_model_hvp");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", g, sizeof g, polca_model_hvp(NULL, d, th, th, g));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", g, sizeof g, polca_model_hvp(WRONG(polca_model), d, th, th, g));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", g, sizeof g, polca_model_hvp(m, NULL, th, th, g));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", g, sizeof g, polca_model_hvp(m, WRONG(polca_data), th, th, g));
    BADO(POLCA_ERR_WRONG_CONTEXT, "data", g, sizeof g, polca_model_hvp(m, fx.feat2, th, th, g));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "theta", g, sizeof g, polca_model_hvp(m, d, NULL, th, g));
    BADO(POLCA_ERR_NOT_FINITE, "theta", g, sizeof g, polca_model_hvp(m, d, bad, th, g));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "v", g, sizeof g, polca_model_hvp(m, d, th, NULL, g));
    BADO(POLCA_ERR_NOT_FINITE, "v", g, sizeof g, polca_model_hvp(m, d, th, bad, g));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "hv", polca_model_hvp(m, d, th, th, NULL));

    cover("polca_model_dirderivs");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", gd, sizeof gd, polca_model_dirderivs(NULL, d, th, 2, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", gd, sizeof gd, polca_model_dirderivs(WRONG(polca_model), d, th, 2, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", gd, sizeof gd, polca_model_dirderivs(m, NULL, th, 2, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", gd, sizeof gd, polca_model_dirderivs(m, WRONG(polca_data), th, 2, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_WRONG_CONTEXT, "data", gd, sizeof gd, polca_model_dirderivs(m, fx.feat2, th, 2, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "theta", gd, sizeof gd, polca_model_dirderivs(m, d, NULL, 2, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_NOT_FINITE, "theta", gd, sizeof gd, polca_model_dirderivs(m, d, bad, 2, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", gd, sizeof gd, polca_model_dirderivs(m, d, th, 0, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", gd, sizeof gd, polca_model_dirderivs(m, d, th, -1, dirs, NULL, gd, NULL));
    BADO(ANY, "k", gd, sizeof gd, polca_model_dirderivs(m, d, th, INT64_MAX, dirs, NULL, gd, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "dirs", gd, sizeof gd, polca_model_dirderivs(m, d, th, 2, NULL, NULL, gd, NULL));
    dirs[P + 3] = INFINITY;
    BADO(POLCA_ERR_NOT_FINITE, "dirs", gd, sizeof gd, polca_model_dirderivs(m, d, th, 2, dirs, NULL, gd, NULL));
    dirs[P + 3] = 0;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "g", l, sizeof l, polca_model_dirderivs(m, d, th, 2, dirs, l, NULL, NULL));
    /* the host model without callbacks: a state error, not a crash */
    BADO(POLCA_ERR_STATE, "callback", l, sizeof l, polca_model_losses(fx.host, fx.idx, th, l));
}

/* ---- checkpoints --------------------------------------------------------- */

TEST(checkpoints) {
    polca_checkpoints *os;
    const char *files[1] = {fx.st_path};
    const char *nullfiles[1] = {NULL};
    cover("polca_checkpoints_create");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &os, sizeof os, polca_checkpoints_create(NULL, fx.mlp, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &os, sizeof os, polca_checkpoints_create(WRONG_CTX, fx.mlp, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &os, sizeof os, polca_checkpoints_create(fx.ctx, NULL, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &os, sizeof os, polca_checkpoints_create(fx.ctx, WRONG(polca_model), NULL, NULL, &os));
    BADO(POLCA_ERR_WRONG_CONTEXT, "model", &os, sizeof os, polca_checkpoints_create(fx.ctx, fx.mlp2, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &os, sizeof os, polca_checkpoints_create(fx.ctx, fx.mlp, NULL, WRONG_OPT, &os));
    BADO(POLCA_ERR_IO, fx.missing_path, &os, sizeof os, polca_checkpoints_create(fx.ctx, fx.mlp, fx.missing_path, NULL, &os));
    BADO(POLCA_ERR_IO, fx.ckpt_path, &os, sizeof os, polca_checkpoints_create(fx.ctx, fx.mlp, fx.ckpt_path, NULL, &os));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_checkpoints_create(fx.ctx, fx.mlp, NULL, NULL, NULL));

    cover("polca_checkpoints_import_safetensors");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &os, sizeof os, polca_checkpoints_import_safetensors(NULL, fx.mlp, 1, files, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &os, sizeof os, polca_checkpoints_import_safetensors(WRONG_CTX, fx.mlp, 1, files, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, NULL, 1, files, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, WRONG(polca_model), 1, files, NULL, NULL, &os));
    BADO(POLCA_ERR_WRONG_CONTEXT, "model", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, fx.mlp2, 1, files, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_files", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, fx.mlp, 0, files, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_files", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, fx.mlp, -1, files, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "files", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, fx.mlp, 1, NULL, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "files", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, fx.mlp, 1, nullfiles, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &os, sizeof os, polca_checkpoints_import_safetensors(fx.ctx, fx.mlp, 1, files, NULL, WRONG_OPT, &os));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_checkpoints_import_safetensors(fx.ctx, fx.mlp, 1, files, NULL, NULL, NULL));

    cover("polca_checkpoints_open");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &os, sizeof os, polca_checkpoints_open(NULL, fx.ckpt_path, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &os, sizeof os, polca_checkpoints_open(WRONG_CTX, fx.ckpt_path, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "path", &os, sizeof os, polca_checkpoints_open(fx.ctx, NULL, NULL, &os));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &os, sizeof os, polca_checkpoints_open(fx.ctx, fx.ckpt_path, WRONG_OPT, &os));
    BADO(POLCA_ERR_IO, fx.missing_path, &os, sizeof os, polca_checkpoints_open(fx.ctx, fx.missing_path, NULL, &os));
    /* a file of another kind: CORRUPT here (basis_load says INVALID_ARGUMENT) */
    BADO(ANY, fx.basis_path, &os, sizeof os, polca_checkpoints_open(fx.ctx, fx.basis_path, NULL, &os));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_checkpoints_open(fx.ctx, fx.ckpt_path, NULL, NULL));

    cover("polca_checkpoints_destroy");
    polca_checkpoints_destroy(NULL);
    polca_checkpoints_destroy(WRONG(polca_checkpoints));

    polca_checkpoints *s = fx.series;
    float th[P], bad[P];
    memcpy(th, fx.theta, sizeof th);
    memcpy(bad, fx.theta, sizeof bad);
    bad[P - 1] = INFINITY;
    int64_t count0 = -1, v;
    polca_checkpoints_count(s, &count0);
    cover("polca_checkpoints_append");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_append(NULL, 100, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_append(WRONG(polca_checkpoints), 100, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "step", polca_checkpoints_append(s, 20, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "step", polca_checkpoints_append(s, -5, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "theta", polca_checkpoints_append(s, 100, NULL, P));
    BAD(POLCA_ERR_NOT_FINITE, "theta", polca_checkpoints_append(s, 100, bad, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "n_params", polca_checkpoints_append(s, 100, th, P - 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "n_params", polca_checkpoints_append(s, 100, th, -1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "n_params", polca_checkpoints_append(s, 100, th, INT64_MAX));
    polca_checkpoints *ro = NULL;
    if (polca_checkpoints_open(fx.ctx, fx.ckpt_path, NULL, &ro) == POLCA_OK) {
        BAD(POLCA_ERR_STATE, "writable", polca_checkpoints_append(ro, 100, th, P));
    } else {
        FAILF("opening %s: %s", fx.ckpt_path, polca_last_error());
    }
    EXPECT(polca_checkpoints_count(s, &v) == POLCA_OK && v == count0);

#define SERIES_OUT(fn, type, outname)                                                        \
    do {                                                                                     \
        type o_;                                                                             \
        cover("polca_checkpoints_" #fn);                                                     \
        BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &o_, sizeof o_, polca_checkpoints_##fn(NULL, &o_)); \
        BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &o_, sizeof o_,                           \
             polca_checkpoints_##fn(WRONG(polca_checkpoints), &o_));                         \
        BAD(POLCA_ERR_INVALID_ARGUMENT, outname, polca_checkpoints_##fn(s, NULL));           \
    } while (0)
    SERIES_OUT(count, int64_t, "out_count");
    SERIES_OUT(n_params, int64_t, "out_n_params");
    SERIES_OUT(layout_hash, uint64_t, "out_hash");
    SERIES_OUT(path, const char *, "out_path");

    cover("polca_checkpoints_step");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &v, sizeof v, polca_checkpoints_step(NULL, 0, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &v, sizeof v, polca_checkpoints_step(WRONG(polca_checkpoints), 0, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "index", &v, sizeof v, polca_checkpoints_step(s, -1, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "index", &v, sizeof v, polca_checkpoints_step(s, 3, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "index", &v, sizeof v, polca_checkpoints_step(s, INT64_MAX, &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_step", polca_checkpoints_step(s, 0, NULL));

    int64_t steps[3];
    cover("polca_checkpoints_steps");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", steps, sizeof steps, polca_checkpoints_steps(NULL, steps, 3));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", steps, sizeof steps, polca_checkpoints_steps(WRONG(polca_checkpoints), steps, 3));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_steps", polca_checkpoints_steps(s, NULL, 3));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "count", steps, sizeof steps, polca_checkpoints_steps(s, steps, 2));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "count", steps, sizeof steps, polca_checkpoints_steps(s, steps, -3));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "count", steps, sizeof steps, polca_checkpoints_steps(s, steps, INT64_MAX));

    cover("polca_checkpoints_find_step");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &v, sizeof v, polca_checkpoints_find_step(NULL, 10, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &v, sizeof v, polca_checkpoints_find_step(WRONG(polca_checkpoints), 10, &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_index", polca_checkpoints_find_step(s, 10, NULL));

    /* read: out_theta's contents are unspecified on failure (header). */
    cover("polca_checkpoints_read");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_read(NULL, 0, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_read(WRONG(polca_checkpoints), 0, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "index", polca_checkpoints_read(s, -1, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "index", polca_checkpoints_read(s, 3, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "index", polca_checkpoints_read(s, INT64_MIN, th, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_theta", polca_checkpoints_read(s, 0, NULL, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "n_params", polca_checkpoints_read(s, 0, th, P - 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "n_params", polca_checkpoints_read(s, 0, th, 0));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "n_params", polca_checkpoints_read(s, 0, th, INT64_MAX));

    cover("polca_checkpoints_save");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_save(NULL, fx.out_path, NULL));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_save(WRONG(polca_checkpoints), fx.out_path, NULL));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_checkpoints_save(s, NULL, NULL));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "options", polca_checkpoints_save(s, fx.out_path, WRONG_OPT));
    BAD(POLCA_ERR_IO, fx.missing_path, polca_checkpoints_save(s, fx.missing_path, NULL));
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "zstd_level", 99);
    BAD(POLCA_ERR_INVALID_ARGUMENT, "zstd_level", polca_checkpoints_save(s, fx.out_path, o));
    polca_options_set_int(o, "zstd_level", 3);
    polca_options_set_int(o, "max_chain", -1);
    BAD(POLCA_ERR_INVALID_ARGUMENT, "max_chain", polca_checkpoints_save(s, fx.out_path, o));
    polca_options_destroy(o);
    EXPECT(access(fx.out_path, F_OK) != 0);

    cover("polca_checkpoints_export_npy");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_export_npy(NULL, 0, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "series", polca_checkpoints_export_npy(WRONG(polca_checkpoints), 0, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "index", polca_checkpoints_export_npy(s, -1, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "index", polca_checkpoints_export_npy(s, 3, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_checkpoints_export_npy(s, 0, NULL));
    BAD(POLCA_ERR_IO, fx.missing_path, polca_checkpoints_export_npy(s, 0, fx.missing_path));
    EXPECT(access(fx.out_path, F_OK) != 0);
    polca_checkpoints_destroy(ro);
}

/* ---- basis --------------------------------------------------------------- */

TEST(basis) {
    polca_basis *ob;
    float th[P], bad[P], vec[2 * P];
    memcpy(th, fx.theta, sizeof th);
    memcpy(bad, fx.theta, sizeof bad);
    bad[3] = NAN;
    for (int i = 0; i < 2 * P; i++) vec[i] = (float)((i * 5) % 7) - 3.0f;

    cover("polca_basis_create_random");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_create_random(NULL, P, 2, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_create_random(WRONG_CTX, P, 2, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_random(fx.ctx, 0, 1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_random(fx.ctx, -P, 1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_random(fx.ctx, P, 0, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_random(fx.ctx, P, -1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_random(fx.ctx, P, P + 1, NULL, &ob));
    BADO(ANY, "n_params", &ob, sizeof ob, polca_basis_create_random(fx.ctx, INT64_MAX, INT64_MAX, NULL, &ob));
    /* n_params * sizeof(float) wraps around size_t */
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_random(fx.ctx, ((int64_t)1 << 62) + 1, 1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_random(fx.ctx, (int64_t)1 << 32, (int64_t)1 << 32, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &ob, sizeof ob, polca_basis_create_random(fx.ctx, P, 2, WRONG_OPT, &ob));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_basis_create_random(fx.ctx, P, 2, NULL, NULL));

    cover("polca_basis_create_axis");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_create_axis(NULL, P, th, 2, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_create_axis(WRONG_CTX, P, th, 2, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, 0, th, 1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, -1, th, 1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "theta", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, P, NULL, 2, NULL, &ob));
    BADO(POLCA_ERR_NOT_FINITE, "theta", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, P, bad, 2, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, P, th, 0, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, P, th, P + 1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, ((int64_t)1 << 62) + 1, th, 1, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, P, th, 2, WRONG_OPT, &ob));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_basis_create_axis(fx.ctx, P, th, 2, NULL, NULL));
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "seed", 1);
    BADO(POLCA_ERR_UNKNOWN_OPTION, "seed", &ob, sizeof ob, polca_basis_create_axis(fx.ctx, P, th, 2, o, &ob));
    polca_options_destroy(o);

    cover("polca_basis_create_from_vectors");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_create_from_vectors(NULL, P, 2, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_create_from_vectors(WRONG_CTX, P, 2, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, 0, 2, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, -1, 2, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, 0, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, -2, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, 1, 2, vec, NULL, &ob));
    BADO(ANY, "k", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, INT64_MAX, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_params", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, ((int64_t)1 << 62) + 1, 1, vec, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "vectors", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, 2, NULL, NULL, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, 2, vec, WRONG_OPT, &ob));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_basis_create_from_vectors(fx.ctx, P, 2, vec, NULL, NULL));
    vec[P + 1] = -INFINITY;
    BADO(POLCA_ERR_NOT_FINITE, "vector", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, 2, vec, NULL, &ob));
    memcpy(vec + P, vec, P * sizeof *vec);
    BADO(POLCA_ERR_RANK_DEFICIENT, "vector", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, 2, vec, NULL, &ob));
    polca_options_create(&o);
    polca_options_set_double(o, "rank_tol", 2.0);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "rank_tol", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, 1, vec, o, &ob));
    polca_options_set_double(o, "rank_tol", NAN);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "rank_tol", &ob, sizeof ob, polca_basis_create_from_vectors(fx.ctx, P, 1, vec, o, &ob));
    polca_options_destroy(o);

    cover("polca_basis_destroy");
    polca_basis_destroy(NULL);
    polca_basis_destroy(WRONG(polca_basis));

    polca_basis *b = fx.basis;
    int64_t v;
    cover("polca_basis_count");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "basis", &v, sizeof v, polca_basis_count(NULL, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "basis", &v, sizeof v, polca_basis_count(WRONG(polca_basis), &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_k", polca_basis_count(b, NULL));
    cover("polca_basis_n_params");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "basis", &v, sizeof v, polca_basis_n_params(NULL, &v));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "basis", &v, sizeof v, polca_basis_n_params(WRONG(polca_basis), &v));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_n_params", polca_basis_n_params(b, NULL));

    int64_t ix[2] = {0, 2};
    cover("polca_basis_create_hessian");
#define HESS(ctx, model, data, series, indices, n_ind, k, opt) \
    polca_basis_create_hessian(ctx, model, data, series, indices, n_ind, k, opt, &ob)
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, HESS(NULL, fx.mlp, fx.feat, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, HESS(WRONG_CTX, fx.mlp, fx.feat, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &ob, sizeof ob, HESS(fx.ctx, NULL, fx.feat, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &ob, sizeof ob, HESS(fx.ctx, WRONG(polca_model), fx.feat, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_WRONG_CONTEXT, "model", &ob, sizeof ob, HESS(fx.ctx, fx.mlp2, fx.feat, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, NULL, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, WRONG(polca_data), fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_WRONG_CONTEXT, "data", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat2, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.tok, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, NULL, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, WRONG(polca_checkpoints), NULL, 0, 1, NULL));
    BADO(POLCA_ERR_WRONG_CONTEXT, "series", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series2, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_LAYOUT_MISMATCH, "series", &ob, sizeof ob, HESS(fx.ctx, fx.tf, fx.tok, fx.series, NULL, 0, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, NULL, 2, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_indices", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, -1, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_indices", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, INT64_MAX, 1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_indices", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 0, 1, NULL));
    ix[1] = 3;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 1, NULL));
    ix[1] = -1;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 1, NULL));
    ix[1] = 0;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 1, NULL));
    ix[1] = 2;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 0, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, -1, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, P, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, INT64_MAX, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 1, WRONG_OPT));
    polca_options_create(&o);
    polca_options_set_double(o, "tol", 5.0);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "tol", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 1, o));
    polca_options_set_double(o, "tol", NAN);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "tol", &ob, sizeof ob, HESS(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 1, o));
    polca_options_destroy(o);
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_basis_create_hessian(fx.ctx, fx.mlp, fx.feat, fx.series, ix, 2, 1, NULL, NULL));

    cover("polca_basis_create_hessian_scaled");
    {
        /* scales: steps 0 and 20 (the basis checkpoints ix = {0, 2}), s = 1
         * but one negative value at step 20 */
        polca_checkpoints *sc = NULL, *tf_sc = NULL;
        float s1[P];
        for (int j = 0; j < P; j++) s1[j] = 1.0f;
        CHECK_OK(polca_checkpoints_create(fx.ctx, fx.mlp, NULL, NULL, &sc));
        CHECK_OK(polca_checkpoints_append(sc, 0, s1, P));
        s1[5] = -1.0f;
        CHECK_OK(polca_checkpoints_append(sc, 20, s1, P));
        CHECK_OK(polca_checkpoints_create(fx.ctx, fx.tf, NULL, NULL, &tf_sc));
#define HESS_S(ctx, model, data, series, scales, indices, n_ind, k, opt) \
    polca_basis_create_hessian_scaled(ctx, model, data, series, scales, indices, n_ind, k, opt, &ob)
        BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, HESS_S(NULL, fx.mlp, fx.feat, fx.series, sc, ix, 2, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "model", &ob, sizeof ob, HESS_S(fx.ctx, NULL, fx.feat, fx.series, sc, ix, 2, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "data", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, NULL, fx.series, sc, ix, 2, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "series", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, NULL, sc, ix, 2, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "scales", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, NULL, ix, 2, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "scales", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, WRONG(polca_checkpoints), ix, 2, 1, NULL));
        BADO(POLCA_ERR_WRONG_CONTEXT, "scales", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, fx.series2, ix, 2, 1, NULL));
        BADO(POLCA_ERR_LAYOUT_MISMATCH, "scales", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, tf_sc, ix, 2, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "step 10", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, sc, NULL, 0, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "s[5]", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, sc, ix, 2, 1, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "k", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, sc, ix, 2, 0, NULL));
        BADO(POLCA_ERR_INVALID_ARGUMENT, "indices", &ob, sizeof ob, HESS_S(fx.ctx, fx.mlp, fx.feat, fx.series, sc, NULL, 2, 1, NULL));
        BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_basis_create_hessian_scaled(fx.ctx, fx.mlp, fx.feat, fx.series, sc, ix, 2, 1, NULL, NULL));
#undef HESS_S
        polca_checkpoints_destroy(sc);
        polca_checkpoints_destroy(tf_sc);
    }

    float out[P];
    cover("polca_basis_get_vector");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "basis", out, sizeof out, polca_basis_get_vector(NULL, 0, out, P));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "basis", out, sizeof out, polca_basis_get_vector(WRONG(polca_basis), 0, out, P));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "i", out, sizeof out, polca_basis_get_vector(b, -1, out, P));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "i", out, sizeof out, polca_basis_get_vector(b, 2, out, P));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "i", out, sizeof out, polca_basis_get_vector(b, INT64_MAX, out, P));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_basis_get_vector(b, 0, NULL, P));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_len", out, sizeof out, polca_basis_get_vector(b, 0, out, P - 1));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_len", out, sizeof out, polca_basis_get_vector(b, 0, out, -1));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_len", out, sizeof out, polca_basis_get_vector(b, 0, out, INT64_MAX));

    int32_t kind;
    double ev;
    cover("polca_basis_get_info");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "basis", &kind, sizeof kind, &ev, sizeof ev, polca_basis_get_info(NULL, 0, &kind, NULL, NULL, &ev, NULL, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "basis", &kind, sizeof kind, &ev, sizeof ev, polca_basis_get_info(WRONG(polca_basis), 0, &kind, NULL, NULL, &ev, NULL, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "i", &kind, sizeof kind, &ev, sizeof ev, polca_basis_get_info(b, -1, &kind, NULL, NULL, &ev, NULL, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "i", &kind, sizeof kind, &ev, sizeof ev, polca_basis_get_info(b, 2, &kind, NULL, NULL, &ev, NULL, NULL));

    int64_t drop[2] = {0, 1};
    cover("polca_basis_drop");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", polca_basis_drop(NULL, drop, 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", polca_basis_drop(WRONG(polca_basis), drop, 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "indices", polca_basis_drop(b, NULL, 1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "count", polca_basis_drop(b, drop, -1));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "count", polca_basis_drop(b, drop, 3));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "count", polca_basis_drop(b, drop, INT64_MAX));
    drop[1] = 2;
    BAD(POLCA_ERR_INVALID_ARGUMENT, "indices", polca_basis_drop(b, drop, 2));
    drop[1] = -1;
    BAD(POLCA_ERR_INVALID_ARGUMENT, "indices", polca_basis_drop(b, drop, 2));
    drop[1] = 0;
    BAD(POLCA_ERR_INVALID_ARGUMENT, "indices", polca_basis_drop(b, drop, 2));
    EXPECT(polca_basis_count(b, &v) == POLCA_OK && v == 2);

    cover("polca_basis_save");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", polca_basis_save(NULL, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", polca_basis_save(WRONG(polca_basis), fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_basis_save(b, NULL));
    BAD(POLCA_ERR_IO, fx.missing_path, polca_basis_save(b, fx.missing_path));
    cover("polca_basis_load");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_load(NULL, fx.basis_path, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ob, sizeof ob, polca_basis_load(WRONG_CTX, fx.basis_path, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "path", &ob, sizeof ob, polca_basis_load(fx.ctx, NULL, &ob));
    BADO(POLCA_ERR_IO, fx.missing_path, &ob, sizeof ob, polca_basis_load(fx.ctx, fx.missing_path, &ob));
    BADO(POLCA_ERR_INVALID_ARGUMENT, fx.ckpt_path, &ob, sizeof ob, polca_basis_load(fx.ctx, fx.ckpt_path, &ob));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_basis_load(fx.ctx, fx.basis_path, NULL));
    cover("polca_basis_export_npy");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", polca_basis_export_npy(NULL, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", polca_basis_export_npy(WRONG(polca_basis), fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_basis_export_npy(b, NULL));
    BAD(POLCA_ERR_IO, fx.missing_path, polca_basis_export_npy(b, fx.missing_path));
    EXPECT(access(fx.out_path, F_OK) != 0);
}

/* ---- eigen --------------------------------------------------------------- */

TEST(eigen) {
    double vals[2];
    float start[2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0};
    cover("polca_eigen_solve");
#define EIG(ctx, n, apply, k, st, nst, opt, out) \
    polca_eigen_solve(ctx, n, apply, NULL, k, st, nst, opt, out, NULL, NULL, NULL, NULL)
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", vals, sizeof vals, EIG(NULL, 4, diag_op, 2, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", vals, sizeof vals, EIG(WRONG_CTX, 4, diag_op, 2, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", vals, sizeof vals, EIG(fx.ctx, 0, diag_op, 2, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n", vals, sizeof vals, EIG(fx.ctx, -4, diag_op, 2, NULL, 0, NULL, vals));
    BADO(ANY, "n", vals, sizeof vals, EIG(fx.ctx, INT64_MAX, diag_op, 2, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "apply", vals, sizeof vals, EIG(fx.ctx, 4, NULL, 2, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 0, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, -1, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 5, NULL, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "start", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, NULL, 1, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_start", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, start, 0, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_start", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, start, -1, NULL, vals));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_start", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, start, INT64_MAX, NULL, vals));
    start[5] = NAN;
    BADO(POLCA_ERR_NOT_FINITE, "start", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, start, 2, NULL, vals));
    start[5] = 0;
    BADO(ANY, "start", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, start, 2, NULL, vals)); /* row 1 zero */
    BADO(POLCA_ERR_INVALID_ARGUMENT, "options", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, NULL, 0, WRONG_OPT, vals));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out_values", EIG(fx.ctx, 4, diag_op, 2, NULL, 0, NULL, NULL));
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_double(o, "tol", 0.0);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "tol", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, NULL, 0, o, vals));
    polca_options_set_double(o, "tol", NAN);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "tol", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, NULL, 0, o, vals));
    polca_options_unset(o, "tol");
    polca_options_set_int(o, "max_products", 1);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "max_products", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, NULL, 0, o, vals));
    polca_options_unset(o, "max_products");
    polca_options_set_int(o, "krylov_size", 2);
    BADO(POLCA_ERR_INVALID_ARGUMENT, "krylov_size", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, NULL, 0, o, vals));
    polca_options_unset(o, "krylov_size");
    polca_options_set_string(o, "which", "middle");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "which", vals, sizeof vals, EIG(fx.ctx, 4, diag_op, 2, NULL, 0, o, vals));
    polca_options_destroy(o);
}

/* ---- trajectories -------------------------------------------------------- */

TEST(trajectories) {
    polca_trajectories *ot;
    cover("polca_trajectories_create");
#define TRJ(ctx, model, data, series, basis, lca, opt) \
    polca_trajectories_create(ctx, model, data, series, basis, lca, opt, &ot)
#define TRJ_BAD(want, name, ...) BADO(want, name, &ot, sizeof ot, TRJ(__VA_ARGS__))
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", NULL, fx.mlp, fx.feat, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", WRONG_CTX, fx.mlp, fx.feat, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "model", fx.ctx, NULL, fx.feat, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "model", fx.ctx, WRONG(polca_model), fx.feat, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_WRONG_CONTEXT, "model", fx.ctx, fx.mlp2, fx.feat, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "data", fx.ctx, fx.mlp, NULL, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "data", fx.ctx, fx.mlp, WRONG(polca_data), fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_WRONG_CONTEXT, "data", fx.ctx, fx.mlp, fx.feat2, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "data", fx.ctx, fx.mlp, fx.tok, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "series", fx.ctx, fx.mlp, fx.feat, NULL, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "series", fx.ctx, fx.mlp, fx.feat, WRONG(polca_checkpoints), fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_WRONG_CONTEXT, "series", fx.ctx, fx.mlp, fx.feat, fx.series2, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "series", fx.ctx, fx.mlp, fx.feat, fx.series1, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_LAYOUT_MISMATCH, "series", fx.ctx, fx.tf, fx.tok, fx.series, fx.basis, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", fx.ctx, fx.mlp, fx.feat, fx.series, NULL, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", fx.ctx, fx.mlp, fx.feat, fx.series, WRONG(polca_basis), NULL, NULL);
    TRJ_BAD(POLCA_ERR_WRONG_CONTEXT, "basis", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis2, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "basis", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis_p5, NULL, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "lca_basis", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, WRONG(polca_basis), NULL);
    TRJ_BAD(POLCA_ERR_WRONG_CONTEXT, "lca_basis", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, fx.basis2, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "lca_basis", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, fx.basis_p5, NULL);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "options", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, NULL, WRONG_OPT);
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_trajectories_create(fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, NULL, NULL, NULL));
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "block", 0);
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "block", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, NULL, o);
    polca_options_unset(o, "block");
    polca_options_set_string(o, "curvature", "bogus");
    TRJ_BAD(POLCA_ERR_INVALID_ARGUMENT, "curvature", fx.ctx, fx.mlp, fx.feat, fx.series, fx.basis, NULL, o);
    polca_options_destroy(o);

    cover("polca_trajectories_destroy");
    polca_trajectories_destroy(NULL);
    polca_trajectories_destroy(WRONG(polca_trajectories));

    const polca_trajectories *t = fx.traj;
    const float *data;
    int64_t k, n, tt;
    cover("polca_trajectories_view");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "traj", &data, sizeof data, &k, sizeof k, polca_trajectories_view(NULL, POLCA_TRAJ_POLCA, &data, &k, &n, &tt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "traj", &data, sizeof data, &k, sizeof k, polca_trajectories_view(WRONG(polca_trajectories), POLCA_TRAJ_POLCA, &data, &k, &n, &tt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "kind", &data, sizeof data, &k, sizeof k, polca_trajectories_view(t, -1, &data, &k, &n, &tt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "kind", &data, sizeof data, &k, sizeof k, polca_trajectories_view(t, 6, &data, &k, &n, &tt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "kind", &data, sizeof data, &k, sizeof k, polca_trajectories_view(t, INT32_MIN, &data, &k, &n, &tt));
    BADO2(POLCA_ERR_STATE, "fisher", &data, sizeof data, &k, sizeof k, polca_trajectories_view(t, POLCA_TRAJ_FISHER, &data, &k, &n, &tt));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_data", &k, sizeof k, polca_trajectories_view(t, POLCA_TRAJ_POLCA, NULL, &k, &n, &tt));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_k", &data, sizeof data, polca_trajectories_view(t, POLCA_TRAJ_POLCA, &data, NULL, &n, &tt));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_n", &data, sizeof data, polca_trajectories_view(t, POLCA_TRAJ_POLCA, &data, &k, NULL, &tt));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_t", &data, sizeof data, polca_trajectories_view(t, POLCA_TRAJ_POLCA, &data, &k, &n, NULL));

    const int64_t *steps;
    cover("polca_trajectories_steps");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "traj", &steps, sizeof steps, &tt, sizeof tt, polca_trajectories_steps(NULL, &steps, &tt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "traj", &steps, sizeof steps, &tt, sizeof tt, polca_trajectories_steps(WRONG(polca_trajectories), &steps, &tt));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_steps", &tt, sizeof tt, polca_trajectories_steps(t, NULL, &tt));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_t1", &steps, sizeof steps, polca_trajectories_steps(t, &steps, NULL));

    double means[2];
    cover("polca_trajectories_final_means");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "traj", means, sizeof means, polca_trajectories_final_means(NULL, POLCA_TRAJ_POLCA, means, 2));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "traj", means, sizeof means, polca_trajectories_final_means(WRONG(polca_trajectories), POLCA_TRAJ_POLCA, means, 2));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "kind", means, sizeof means, polca_trajectories_final_means(t, POLCA_TRAJ_EXACT_LOSS, means, 2));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "kind", means, sizeof means, polca_trajectories_final_means(t, 99, means, 2));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "kind", means, sizeof means, polca_trajectories_final_means(t, -1, means, 2));
    BADO(POLCA_ERR_STATE, "lca", means, sizeof means, polca_trajectories_final_means(t, POLCA_TRAJ_LCA, means, 2));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_trajectories_final_means(t, POLCA_TRAJ_POLCA, NULL, 2));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k_len", means, sizeof means, polca_trajectories_final_means(t, POLCA_TRAJ_POLCA, means, 1));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k_len", means, sizeof means, polca_trajectories_final_means(t, POLCA_TRAJ_POLCA, means, -2));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "k_len", means, sizeof means, polca_trajectories_final_means(t, POLCA_TRAJ_POLCA, means, INT64_MAX));

    uint8_t mask[NS];
    int64_t cnt;
    cover("polca_trajectories_decreasing");
#define DEC(tr, kind, kk, m, len, c) polca_trajectories_decreasing(tr, kind, kk, m, len, c)
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "traj", mask, sizeof mask, &cnt, sizeof cnt, DEC(NULL, POLCA_TRAJ_POLCA, 0, mask, NS, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "traj", mask, sizeof mask, &cnt, sizeof cnt, DEC(WRONG(polca_trajectories), POLCA_TRAJ_POLCA, 0, mask, NS, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "kind", mask, sizeof mask, &cnt, sizeof cnt, DEC(t, POLCA_TRAJ_LOSS_CHANGE, 0, mask, NS, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "kind", mask, sizeof mask, &cnt, sizeof cnt, DEC(t, 7, 0, mask, NS, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "k", mask, sizeof mask, &cnt, sizeof cnt, DEC(t, POLCA_TRAJ_POLCA, -1, mask, NS, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "k", mask, sizeof mask, &cnt, sizeof cnt, DEC(t, POLCA_TRAJ_POLCA, 2, mask, NS, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "k", mask, sizeof mask, &cnt, sizeof cnt, DEC(t, POLCA_TRAJ_POLCA, INT64_MAX, mask, NS, &cnt));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "out_mask", &cnt, sizeof cnt, DEC(t, POLCA_TRAJ_POLCA, 0, NULL, NS, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n_len", mask, sizeof mask, &cnt, sizeof cnt, DEC(t, POLCA_TRAJ_POLCA, 0, mask, NS - 1, &cnt));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n_len", mask, sizeof mask, &cnt, sizeof cnt, DEC(t, POLCA_TRAJ_POLCA, 0, mask, -1, &cnt));

    cover("polca_trajectories_save");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "traj", polca_trajectories_save(NULL, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "traj", polca_trajectories_save(WRONG(polca_trajectories), fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_trajectories_save(t, NULL));
    BAD(POLCA_ERR_IO, fx.missing_path, polca_trajectories_save(t, fx.missing_path));
    cover("polca_trajectories_load");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ot, sizeof ot, polca_trajectories_load(NULL, fx.traj_path, &ot));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "ctx", &ot, sizeof ot, polca_trajectories_load(WRONG_CTX, fx.traj_path, &ot));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "path", &ot, sizeof ot, polca_trajectories_load(fx.ctx, NULL, &ot));
    BADO(POLCA_ERR_IO, fx.missing_path, &ot, sizeof ot, polca_trajectories_load(fx.ctx, fx.missing_path, &ot));
    BADO(POLCA_ERR_INVALID_ARGUMENT, fx.basis_path, &ot, sizeof ot, polca_trajectories_load(fx.ctx, fx.basis_path, &ot));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_trajectories_load(fx.ctx, fx.traj_path, NULL));
    cover("polca_trajectories_export_npy");
    BAD(POLCA_ERR_INVALID_ARGUMENT, "traj", polca_trajectories_export_npy(NULL, POLCA_TRAJ_POLCA, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "traj", polca_trajectories_export_npy(WRONG(polca_trajectories), POLCA_TRAJ_POLCA, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "kind", polca_trajectories_export_npy(t, -1, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "kind", polca_trajectories_export_npy(t, 6, fx.out_path));
    BAD(POLCA_ERR_STATE, "fisher", polca_trajectories_export_npy(t, POLCA_TRAJ_FISHER, fx.out_path));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "path", polca_trajectories_export_npy(t, POLCA_TRAJ_POLCA, NULL));
    BAD(POLCA_ERR_IO, fx.missing_path, polca_trajectories_export_npy(t, POLCA_TRAJ_POLCA, fx.missing_path));
    EXPECT(access(fx.out_path, F_OK) != 0);
}

/* ---- clustering ---------------------------------------------------------- */

TEST(hdbscan) {
    float x[10 * 2];
    for (int i = 0; i < 20; i++) x[i] = (float)((i * 7) % 11);
    int32_t lab[10], nc;
    float prob[10];
    cover("polca_hdbscan");
#define HDB(ctx, n, d, xx, opt, l) polca_hdbscan(ctx, n, d, xx, opt, l, prob, NULL, &nc)
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "ctx", lab, sizeof lab, prob, sizeof prob, HDB(NULL, 10, 2, x, NULL, lab));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "ctx", lab, sizeof lab, prob, sizeof prob, HDB(WRONG_CTX, 10, 2, x, NULL, lab));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 1, 2, x, NULL, lab));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, -10, 2, x, NULL, lab));
    BADO2(ANY, "n", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, INT64_MAX, 2, x, NULL, lab));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "d", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 0, x, NULL, lab));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "d", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, -2, x, NULL, lab));
    BADO2(ANY, "d", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, INT64_MAX, x, NULL, lab));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "x", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, NULL, NULL, lab));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "labels", prob, sizeof prob, HDB(fx.ctx, 10, 2, x, NULL, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "options", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, WRONG_OPT, lab));
    x[13] = NAN;
    BADO2(POLCA_ERR_NOT_FINITE, "x", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, NULL, lab));
    x[13] = INFINITY;
    BADO2(POLCA_ERR_NOT_FINITE, "x", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, NULL, lab));
    x[13] = 0;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "min_cluster_size", 1);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "min_cluster_size", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, o, lab));
    polca_options_unset(o, "min_cluster_size");
    polca_options_set_double(o, "alpha", NAN);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "alpha", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, o, lab));
    polca_options_set_double(o, "alpha", 0.0);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "alpha", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, o, lab));
    polca_options_unset(o, "alpha");
    polca_options_set_double(o, "cluster_selection_epsilon", NAN);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "cluster_selection_epsilon", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, o, lab));
    polca_options_set_double(o, "cluster_selection_epsilon", -1.0);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "cluster_selection_epsilon", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, o, lab));
    polca_options_unset(o, "cluster_selection_epsilon");
    polca_options_set_string(o, "cluster_selection_method", "best");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "cluster_selection_method", lab, sizeof lab, prob, sizeof prob, HDB(fx.ctx, 10, 2, x, o, lab));
    polca_options_destroy(o);
}

TEST(clustering_create) {
    static float tr[CN * CT], ex[CN * CT];
    for (int i = 0; i < CN * CT; i++) tr[i] = -(float)(i % CT), ex[i] = (float)(CT - i % CT);
    polca_clustering *oc;
    cover("polca_clustering_create");
#define CLU(ctx, k, n, t, traj, t1, exact, opt) polca_clustering_create(ctx, k, n, t, traj, t1, exact, opt, &oc)
#define CLU_BAD(want, name, ...) BADO(want, name, &oc, sizeof oc, CLU(__VA_ARGS__))
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", NULL, 1, CN, CT, tr, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "ctx", WRONG_CTX, 1, CN, CT, tr, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "k", fx.ctx, 0, CN, CT, tr, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "k", fx.ctx, -1, CN, CT, tr, CT, ex, NULL);
    CLU_BAD(ANY, "k", fx.ctx, INT64_MAX, CN, CT, tr, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "n", fx.ctx, 1, 0, CT, tr, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "n", fx.ctx, 1, -1, CT, tr, CT, ex, NULL);
    CLU_BAD(ANY, "n", fx.ctx, 1, INT64_MAX, CT, tr, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "t", fx.ctx, 1, CN, 2, tr, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "t", fx.ctx, 1, CN, -6, tr, CT, ex, NULL);
    CLU_BAD(ANY, "t", fx.ctx, 1, CN, INT64_MAX, tr, INT64_MAX, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "trajectories", fx.ctx, 1, CN, CT, NULL, CT, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "t1", fx.ctx, 1, CN, CT, tr, CT - 1, ex, NULL);
    CLU_BAD(ANY, "t1", fx.ctx, 1, CN, CT, tr, INT64_MAX, ex, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "exact_loss", fx.ctx, 1, CN, CT, tr, CT, NULL, NULL);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "options", fx.ctx, 1, CN, CT, tr, CT, ex, WRONG_OPT);
    BAD(POLCA_ERR_INVALID_ARGUMENT, "out", polca_clustering_create(fx.ctx, 1, CN, CT, tr, CT, ex, NULL, NULL));
    tr[17] = NAN;
    CLU_BAD(POLCA_ERR_NOT_FINITE, "trajectories", fx.ctx, 1, CN, CT, tr, CT, ex, NULL);
    tr[17] = 0;
    ex[CN * CT - 1] = INFINITY;
    CLU_BAD(POLCA_ERR_NOT_FINITE, "exact_loss", fx.ctx, 1, CN, CT, tr, CT, ex, NULL);
    ex[CN * CT - 1] = 0;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "smoothing", 2);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "smoothing", fx.ctx, 1, CN, CT, tr, CT, ex, o);
    polca_options_unset(o, "smoothing");
    polca_options_set_double(o, "plateau", NAN);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "plateau", fx.ctx, 1, CN, CT, tr, CT, NULL, o);
    polca_options_set_double(o, "plateau", INFINITY);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "plateau", fx.ctx, 1, CN, CT, tr, CT, NULL, o);
    polca_options_unset(o, "plateau");
    polca_options_set_double(o, "plateau_epsilon", 1.5);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "plateau_epsilon", fx.ctx, 1, CN, CT, tr, CT, ex, o);
    polca_options_unset(o, "plateau_epsilon");
    polca_options_set_int(o, "min_samples_divisor", 0);
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "min_samples_divisor", fx.ctx, 1, CN, CT, tr, CT, ex, o);
    polca_options_unset(o, "min_samples_divisor");
    polca_options_set_string(o, "filter", "bogus");
    CLU_BAD(POLCA_ERR_INVALID_ARGUMENT, "filter", fx.ctx, 1, CN, CT, tr, CT, ex, o);
    polca_options_destroy(o);

    cover("polca_clustering_destroy");
    polca_clustering_destroy(NULL);
    polca_clustering_destroy(WRONG(polca_clustering));
}

TEST(clustering_query) {
    const polca_clustering *c = fx.clu;
    int64_t nc = fx.n_clusters, v;
    double dv;
    cover("polca_clustering_shape");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", &v, sizeof v, polca_clustering_shape(NULL, &v, NULL, NULL, NULL, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", &v, sizeof v, polca_clustering_shape(WRONG(polca_clustering), &v, NULL, NULL, NULL, NULL));

    int32_t lab[CN];
    double ons[CN];
    cover("polca_clustering_labels");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", lab, sizeof lab, ons, sizeof ons, polca_clustering_labels(NULL, 0, lab, NULL, NULL, ons));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", lab, sizeof lab, ons, sizeof ons, polca_clustering_labels(WRONG(polca_clustering), 0, lab, NULL, NULL, ons));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "direction", lab, sizeof lab, ons, sizeof ons, polca_clustering_labels(c, -1, lab, NULL, NULL, ons));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "direction", lab, sizeof lab, ons, sizeof ons, polca_clustering_labels(c, 1, lab, NULL, NULL, ons));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "direction", lab, sizeof lab, ons, sizeof ons, polca_clustering_labels(c, INT64_MAX, lab, NULL, NULL, ons));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "labels", ons, sizeof ons, polca_clustering_labels(c, 0, NULL, NULL, NULL, ons));

    cover("polca_clustering_cluster");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", &v, sizeof v, &dv, sizeof dv, polca_clustering_cluster(NULL, 0, NULL, &v, NULL, &dv, NULL, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", &v, sizeof v, &dv, sizeof dv, polca_clustering_cluster(WRONG(polca_clustering), 0, NULL, &v, NULL, &dv, NULL, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "cluster", &v, sizeof v, &dv, sizeof dv, polca_clustering_cluster(c, -1, NULL, &v, NULL, &dv, NULL, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "cluster", &v, sizeof v, &dv, sizeof dv, polca_clustering_cluster(c, nc, NULL, &v, NULL, &dv, NULL, NULL));

    int64_t mem[CN];
    cover("polca_clustering_members");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", mem, sizeof mem, polca_clustering_members(NULL, 0, mem));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", mem, sizeof mem, polca_clustering_members(WRONG(polca_clustering), 0, mem));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "cluster", mem, sizeof mem, polca_clustering_members(c, -1, mem));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "cluster", mem, sizeof mem, polca_clustering_members(c, nc, mem));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "members", polca_clustering_members(c, 0, NULL));

    float mean[CT];
    cover("polca_clustering_mean");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", mean, sizeof mean, polca_clustering_mean(NULL, 0, mean));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", mean, sizeof mean, polca_clustering_mean(WRONG(polca_clustering), 0, mean));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "cluster", mean, sizeof mean, polca_clustering_mean(c, -1, mean));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "cluster", mean, sizeof mean, polca_clustering_mean(c, nc, mean));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "mean", polca_clustering_mean(c, 0, NULL));

    cover("polca_clustering_plateau");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", &dv, sizeof dv, polca_clustering_plateau(NULL, &dv));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", &dv, sizeof dv, polca_clustering_plateau(WRONG(polca_clustering), &dv));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "tau", polca_clustering_plateau(c, NULL));
    cover("polca_clustering_hidden_fraction");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", &dv, sizeof dv, polca_clustering_hidden_fraction(NULL, &dv));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", &dv, sizeof dv, polca_clustering_hidden_fraction(WRONG(polca_clustering), &dv));
    BAD(POLCA_ERR_INVALID_ARGUMENT, "fraction", polca_clustering_hidden_fraction(c, NULL));

    uint8_t label[CN];
    for (int i = 0; i < CN; i++) label[i] = (uint8_t)(i % 2);
    double hom[16];
    if (nc > 16) nc = 16;
    size_t hb = (size_t)nc * sizeof *hom;
    cover("polca_clustering_score");
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", hom, hb, polca_clustering_score(NULL, label, hom, NULL, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "clustering", hom, hb, polca_clustering_score(WRONG(polca_clustering), label, hom, NULL, NULL));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "label", hom, hb, polca_clustering_score(c, NULL, hom, NULL, NULL));
    label[7] = 2;
    BADO(POLCA_ERR_INVALID_ARGUMENT, "label", hom, hb, polca_clustering_score(c, label, hom, NULL, NULL));
    label[7] = 1;

    int32_t rtag[CN], allowed[2] = {1, 2}, elig[16];
    for (int i = 0; i < CN; i++) rtag[i] = i % 4;
    size_t eb = (size_t)nc * sizeof *elig;
    cover("polca_clustering_score_restricted");
#define RESTRICT(cl, lab, tg, na, al, ms) \
    polca_clustering_score_restricted(cl, lab, tg, na, al, ms, hom, NULL, NULL, NULL, elig)
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", hom, hb, elig, eb, RESTRICT(NULL, label, rtag, 2, allowed, 0.5));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", hom, hb, elig, eb, RESTRICT(WRONG(polca_clustering), label, rtag, 2, allowed, 0.5));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "label", hom, hb, elig, eb, RESTRICT(c, NULL, rtag, 2, allowed, 0.5));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "tag", hom, hb, elig, eb, RESTRICT(c, label, NULL, 2, allowed, 0.5));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n_allowed", hom, hb, elig, eb, RESTRICT(c, label, rtag, 0, allowed, 0.5));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "allowed", hom, hb, elig, eb, RESTRICT(c, label, rtag, 2, NULL, 0.5));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "min_share", hom, hb, elig, eb, RESTRICT(c, label, rtag, 2, allowed, 1.0));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "min_share", hom, hb, elig, eb, RESTRICT(c, label, rtag, 2, allowed, -0.5));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "min_share", hom, hb, elig, eb, RESTRICT(c, label, rtag, 2, allowed, NAN));
    label[5] = 3;
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "label", hom, hb, elig, eb, RESTRICT(c, label, rtag, 2, allowed, 0.5));
    label[5] = 1;
#undef RESTRICT

    int64_t best[1], top[3];
    cover("polca_clustering_best");
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", best, sizeof best, top, sizeof top, polca_clustering_best(NULL, label, best, 3, top));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", best, sizeof best, top, sizeof top, polca_clustering_best(WRONG(polca_clustering), label, best, 3, top));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "label", best, sizeof best, top, sizeof top, polca_clustering_best(c, NULL, best, 3, top));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n_top", best, sizeof best, top, sizeof top, polca_clustering_best(c, label, best, -1, top));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "top", best, sizeof best, polca_clustering_best(c, label, best, 3, NULL));
    label[3] = 9;
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "label", best, sizeof best, top, sizeof top, polca_clustering_best(c, label, best, 3, top));
    label[3] = 1;

    int32_t tags[CN * 2], vals[2 * 2], nv[2];
    for (int i = 0; i < CN * 2; i++) tags[i] = i % 3;
    cover("polca_clustering_autolabel");
#define AUTO(cl, cluster, npos, tg, opt, va, n) polca_clustering_autolabel(cl, cluster, npos, tg, opt, va, n)
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", vals, sizeof vals, nv, sizeof nv, AUTO(NULL, 0, 2, tags, NULL, vals, nv));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "clustering", vals, sizeof vals, nv, sizeof nv, AUTO(WRONG(polca_clustering), 0, 2, tags, NULL, vals, nv));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "cluster", vals, sizeof vals, nv, sizeof nv, AUTO(c, -1, 2, tags, NULL, vals, nv));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "cluster", vals, sizeof vals, nv, sizeof nv, AUTO(c, fx.n_clusters, 2, tags, NULL, vals, nv));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n_positions", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, 0, tags, NULL, vals, nv));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "n_positions", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, -2, tags, NULL, vals, nv));
    BADO2(ANY, "n_positions", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, INT64_MAX, tags, NULL, vals, nv));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "tags", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, 2, NULL, NULL, vals, nv));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "values", nv, sizeof nv, AUTO(c, 0, 2, tags, NULL, NULL, nv));
    BADO(POLCA_ERR_INVALID_ARGUMENT, "n_values", vals, sizeof vals, AUTO(c, 0, 2, tags, NULL, vals, NULL));
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "options", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, 2, tags, WRONG_OPT, vals, nv));
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_double(o, "coverage", 0.0);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "coverage", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, 2, tags, o, vals, nv));
    polca_options_set_double(o, "coverage", NAN);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "coverage", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, 2, tags, o, vals, nv));
    polca_options_unset(o, "coverage");
    polca_options_set_int(o, "max_values", 0);
    BADO2(POLCA_ERR_INVALID_ARGUMENT, "max_values", vals, sizeof vals, nv, sizeof nv, AUTO(c, 0, 2, tags, o, vals, nv));
    polca_options_destroy(o);
}

/* ---- coverage: every public function was exercised above ------------------ */

static int is_covered(const char *fn) {
    for (int i = 0; i < n_covered; i++)
        if (!strcmp(covered[i], fn)) return 1;
    return 0;
}

/* Reads "polca_<name>" identifiers from a stream: each line that `keep`
 * accepts contributes the first polca_ identifier after `after` (or anywhere
 * when after is NULL). Returns how many names were found; reports every one
 * not covered. */
static int scan_names(FILE *f, const char *source, const char *must, const char *after) {
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (must && !strstr(line, must)) continue;
        char *p = after ? strstr(line, after) : line;
        if (!p) continue;
        p = strstr(p, "polca_");
        if (!p) continue;
        char name[128];
        size_t n = 0;
        while (n + 1 < sizeof name && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') ||
                                       (p[n] >= '0' && p[n] <= '9')))
            name[n] = p[n], n++;
        name[n] = 0;
        found++;
        if (!is_covered(name)) {
            printf("  %s declares or exports %s, which tests/test_api_abuse.c does not "
                   "exercise: add its bad-input cases\n", source, name);
            harness_test_failed = 1;
        }
    }
    return found;
}

TEST(coverage) {
    /* Every header, so one added later is read too. */
    int declared = 0;
    FILE *ls = popen("ls include/polca/*.h", "r");
    CHECK(ls != NULL);
    char hp[256];
    while (fgets(hp, sizeof hp, ls)) {
        hp[strcspn(hp, "\n")] = 0;
        FILE *f = fopen(hp, "r");
        if (!f) {
            FAILF("cannot read %s", hp);
            continue;
        }
        /* POLCA_API <type> [*]polca_name( on one line */
        declared += scan_names(f, hp, "POLCA_API", "POLCA_API");
        fclose(f);
    }
    pclose(ls);
    CHECK(declared > 0);

    FILE *abi = fopen("docs/abi/libpolca.abi", "r");
    CHECK(abi != NULL);
    int in_abi = scan_names(abi, "docs/abi/libpolca.abi", "<elf-symbol name='polca_", "name='");
    fclose(abi);
    CHECK(in_abi > 0);

    /* The library as built: every exported function. */
    const char *libout = getenv("LIBOUT");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %s/libpolca.so 2>/dev/null",
             libout ? libout : "lib");
    FILE *nm = popen(cmd, "r");
    CHECK(nm != NULL);
    int exported = scan_names(nm, "the built libpolca.so", " T polca_", " T ");
    pclose(nm);
    if (exported == 0) printf("  (nm found no exports; %s not checked)\n", cmd);
    printf("  %d functions exercised, %d declared, %d in the ABI baseline, %d exported; %d "
           "bad-input cases\n", n_covered, declared, in_abi, exported, n_cases);
    CHECK(declared == n_covered);
}

TEST(teardown) {
    polca_clustering_destroy(fx.clu);
    polca_trajectories_destroy(fx.traj);
    polca_basis_destroy(fx.basis);
    polca_basis_destroy(fx.basis2);
    polca_basis_destroy(fx.basis_p5);
    polca_basis_destroy(fx.axis);
    polca_checkpoints_destroy(fx.series);
    polca_checkpoints_destroy(fx.series2);
    polca_checkpoints_destroy(fx.series1);
    polca_data_destroy(fx.feat);
    polca_data_destroy(fx.feat2);
    polca_data_destroy(fx.tok);
    polca_data_destroy(fx.idx);
    polca_model_destroy(fx.mlp);
    polca_model_destroy(fx.mlp2);
    polca_model_destroy(fx.tf);
    polca_model_destroy(fx.host);
    polca_options_destroy(fx.opt);
    polca_context_destroy(fx.ctx);
    polca_context_destroy(fx.ctx2);
    const char *paths[] = {fx.ckpt_path, fx.basis_path, fx.traj_path, fx.st_path, fx.out_path};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) unlink(paths[i]);
    CHECK(rmdir(fx.dir) == 0);
}

int main(void) {
    RUN(setup);
    if (harness_failed) return harness_done();
    RUN(core);
    RUN(comm);
    RUN(data);
    RUN(model_create);
    RUN(model_query);
    RUN(model_compute);
    RUN(checkpoints);
    RUN(basis);
    RUN(eigen);
    RUN(trajectories);
    RUN(hdbscan);
    RUN(clustering_create);
    RUN(clustering_query);
    RUN(coverage);
    RUN(teardown);
    return harness_done();
}
