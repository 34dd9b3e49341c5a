/* tests/test_comm.c - the host communicator (polca/comm.h): the handle's
 * checks, and the private collectives every distributed call builds on,
 * over the in-process thread communicator of thread_comm.h. */
#include "harness.h"
#include "thread_comm.h"

#include "comm.h"

static int32_t ok_reduce(void *u, double *d, int64_t n, char *m, size_t l) {
    (void)u, (void)d, (void)n, (void)m, (void)l;
    return 0;
}
static int32_t ok_bcast(void *u, void *d, int64_t b, int32_t r, char *m, size_t l) {
    (void)u, (void)d, (void)b, (void)r, (void)m, (void)l;
    return 0;
}
static int32_t ok_gather(void *u, const void *s, int64_t sb, void *r, const int64_t *rb, int32_t root,
                         char *m, size_t l) {
    (void)u, (void)s, (void)sb, (void)r, (void)rb, (void)root, (void)m, (void)l;
    return 0;
}
static int32_t ok_barrier(void *u, char *m, size_t l) {
    (void)u, (void)m, (void)l;
    return 0;
}

TEST(create_checks_every_field) {
    polca_comm_ops ops = {sizeof ops, NULL, 0, 2, ok_reduce, ok_bcast, ok_gather, ok_barrier, NULL};
    polca_comm *c = NULL;
    CHECK_STATUS(polca_comm_create(NULL, &c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ops'");
    polca_comm_ops bad = ops;
    bad.struct_size = 8;
    CHECK_STATUS(polca_comm_create(&bad, &c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("struct_size");
    bad = ops;
    bad.gather = NULL;
    CHECK_STATUS(polca_comm_create(&bad, &c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("gather");
    bad = ops;
    bad.rank = 2;
    CHECK_STATUS(polca_comm_create(&bad, &c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("rank 2 of size 2");
    CHECK(c == NULL);
    CHECK_OK(polca_comm_create(&ops, &c));
    int32_t rank = -1, size = -1;
    CHECK_OK(polca_comm_rank(c, &rank, &size));
    CHECK(rank == 0 && size == 2);
    polca_context *ctx = NULL;
    CHECK_OK(polca_context_create(NULL, &ctx));
    polca_comm *got = (polca_comm *)1;
    CHECK_OK(polca_context_comm(ctx, &got));
    CHECK(got == NULL);
    CHECK_OK(polca_context_set_comm(ctx, c));
    CHECK_OK(polca_context_comm(ctx, &got));
    CHECK(got == c);
    CHECK_STATUS(polca_context_set_comm(ctx, (polca_comm *)(void *)ctx), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_comm");
    CHECK_OK(polca_context_set_comm(ctx, NULL));
    polca_context_destroy(ctx);
    polca_comm_destroy(c);
    polca_comm_destroy(NULL);
}

TEST(share_covers_every_item_once) {
    for (int64_t n = 0; n < 30; n++)
        for (int32_t size = 1; size <= 7; size++) {
            int64_t next = 0;
            for (int32_t r = 0; r < size; r++) {
                int64_t lo, hi;
                polca__comm_share(n, size, r, &lo, &hi);
                EXPECT(lo == next && hi >= lo && hi - lo <= n / size + 1 && hi - lo >= n / size);
                next = hi;
            }
            EXPECT(next == n);
        }
}

/* ---- collectives over three thread ranks ---- */

#define RANKS 3

typedef struct agree_result {
    int32_t status[RANKS];
    char message[RANKS][256];
    double sum[RANKS][2];
    char gathered[RANKS][16];
    int32_t public_status[RANKS];
    char public_message[RANKS][256];
} agree_result;

static void agree_body(int32_t rank, polca_comm *comm, void *arg) {
    agree_result *res = arg;
    polca_context *ctx = NULL;
    if (polca_context_create(NULL, &ctx) || polca_context_set_comm(ctx, comm)) abort();
    /* ranks 1 and 2 fail with different statuses: rank 1's wins */
    int32_t st = POLCA_OK;
    if (rank == 1) st = polca__fail(POLCA_ERR_IO, "cannot open 'bad.polca'");
    if (rank == 2) st = polca__fail(POLCA_ERR_CORRUPT, "other");
    res->status[rank] = polca__comm_agree(ctx, st);
    snprintf(res->message[rank], sizeof res->message[rank], "%s", polca_last_error());
    res->sum[rank][0] = rank + 1.0, res->sum[rank][1] = 10.0 * rank;
    polca__comm_allreduce_sum(ctx, res->sum[rank], 2, "test");
    char mine[5] = {(char)('a' + rank), (char)('a' + rank), 0, 0, 0};
    int64_t counts[RANKS] = {2, 2, 2};
    polca__comm_allgather(ctx, mine, 2, res->gathered[rank], counts, "test");
    if (polca__comm_agree(ctx, POLCA_OK) != POLCA_OK) res->status[rank] = 99;
    /* the public form, on the handle: rank 2 alone fails this time */
    int32_t own = rank == 2 ? polca__fail(POLCA_ERR_NOT_FINITE, "theta[3] is NaN") : POLCA_OK;
    res->public_status[rank] = polca_comm_agree(comm, own);
    snprintf(res->public_message[rank], sizeof res->public_message[rank], "%s", polca_last_error());
    polca_context_destroy(ctx);
}

TEST(agree_reports_the_lowest_failing_rank_everywhere) {
    agree_result res;
    memset(&res, 0, sizeof res);
    thread_world *w = thread_world_new(RANKS);
    thread_world_run(w, agree_body, &res);
    thread_world_free(w);
    for (int r = 0; r < RANKS; r++) {
        CHECK(res.status[r] == POLCA_ERR_IO);
        CHECK(strstr(res.message[r], "rank 1: cannot open 'bad.polca'") == res.message[r]);
        CHECK(res.sum[r][0] == 6.0 && res.sum[r][1] == 30.0);
        CHECK(memcmp(res.gathered[r], "aabbcc", 6) == 0);
        CHECK(res.public_status[r] == POLCA_ERR_NOT_FINITE);
        CHECK(!strcmp(res.public_message[r], "rank 2: theta[3] is NaN"));
    }
}

TEST(without_a_communicator_collectives_are_local) {
    polca_context *ctx = NULL;
    CHECK_OK(polca_context_create(NULL, &ctx));
    CHECK(polca__comm_size(ctx) == 1 && polca__comm_rank(ctx) == 0);
    CHECK(polca__comm_agree(ctx, POLCA_ERR_IO) == POLCA_ERR_IO);
    CHECK(polca_comm_agree(NULL, POLCA_ERR_CORRUPT) == POLCA_ERR_CORRUPT);
    double d[2] = {1.0, 2.0};
    CHECK_OK(polca__comm_allreduce_sum(ctx, d, 2, "x"));
    CHECK(d[0] == 1.0 && d[1] == 2.0);
    char out[3] = {0};
    int64_t counts[1] = {2};
    CHECK_OK(polca__comm_allgather(ctx, "xy", 2, out, counts, "x"));
    CHECK(!strcmp(out, "xy"));
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(create_checks_every_field);
    RUN(share_covers_every_item_once);
    RUN(agree_reports_the_lowest_failing_rank_everywhere);
    RUN(without_a_communicator_collectives_are_local);
    return harness_done();
}
