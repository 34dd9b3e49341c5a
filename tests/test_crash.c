/*
 * tests/test_crash.c - crash safety of file-backed checkpoint series.
 *
 * A child process appends checkpoints to a series file in a loop and reports
 * each append that returned POLCA_OK through a pipe; the parent kills it with
 * SIGKILL after a random delay (so kills land before, inside and between
 * appends: inside the record write, between the fsyncs, inside the commit),
 * then opens the file and checks that it holds at least every reported
 * checkpoint and that every checkpoint in it reads back bit-exact. The next
 * child reopens the same file for appending (discarding any torn tail), 30
 * rounds in all. A second loop kills children while they create a new file:
 * the path then holds nothing or a valid series.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "checkpoints.h"
#include "container.h"
#include "harness.h"

#define P 60000
#define ROUNDS 30

static char dir[64];

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    if (polca_options_create(&o) || polca_options_set_string(o, "backend", "cpu") ||
        polca_context_create(o, &ctx))
        ctx = NULL;
    polca_options_destroy(o);
    return ctx;
}

static void layout(polca__layout *l) {
    polca__layout_init(l);
    int64_t a[2] = {200, 250}, b[1] = {10000};
    polca__layout_add(l, "w", 2, a);
    polca__layout_add(l, "b", 1, b);
}

/* The checkpoint at step s: slowly drifting values, so appends use deltas. */
static void theta_at(int64_t s, float *v) {
    for (int i = 0; i < P; i++) {
        uint32_t h = (uint32_t)i * 2654435761u;
        v[i] = (float)(h % 100000) * 1e-5f - 0.5f + (float)s * 1e-6f * (float)(int)(h >> 29);
    }
}

/* Child: append steps after the file's last one until killed. */
static void child_append(const char *path, int wfd, int create, int sync) {
    polca_context *ctx = cpu_context();
    polca_options *o = NULL;
    polca_checkpoints *s = NULL;
    float *v = malloc(P * sizeof *v);
    if (!ctx || !v || polca_options_create(&o)) _exit(2);
    polca_options_set_int(o, "sync", sync);
    polca_options_set_int(o, "max_chain", 5);
    int32_t st;
    if (create) {
        polca__layout l;
        layout(&l);
        st = polca__checkpoints_create(ctx, &l, path, o, &s);
        polca__layout_free(&l);
    } else {
        polca_options_set_int(o, "writable", 1);
        st = polca_checkpoints_open(ctx, path, o, &s);
    }
    if (st) _exit(3);
    int64_t n = 0, step = 0;
    polca_checkpoints_count(s, &n);
    if (n) polca_checkpoints_step(s, n - 1, &step);
    for (int64_t next = n ? step + 10 : 0;; next += 10) {
        theta_at(next, v);
        if (polca_checkpoints_append(s, next, v, P)) _exit(4);
        if (write(wfd, &next, sizeof next) != (ssize_t)sizeof next) _exit(5);
    }
}

/* Runs one child and kills it delay_us after its start, or, with
 * wait_first, delay_us after its first append returned (so every such round
 * adds at least one checkpoint however slow the machine). Returns the steps
 * it reported (count in *n_reported, last in *last), or -1 if it failed by
 * itself. */
static int run_child(const char *path, int create, int sync, int wait_first, long delay_us,
                     int64_t *last, int *n_reported) {
    int fds[2];
    if (pipe(fds)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        child_append(path, fds[1], create, sync);
    }
    close(fds[1]);
    *n_reported = 0;
    int64_t s;
    if (wait_first && read(fds[0], &s, sizeof s) == (ssize_t)sizeof s) {
        *last = s;
        (*n_reported)++;
    }
    struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    while (read(fds[0], &s, sizeof s) == (ssize_t)sizeof s) {
        *last = s;
        (*n_reported)++;
    }
    close(fds[0]);
    if (WIFEXITED(status)) {
        printf("  child exited by itself with status %d\n", WEXITSTATUS(status));
        return -1;
    }
    return 0;
}

/* 1 when the file holds bytes past its committed end: a kill inside an
 * append (the next writer discards them). */
static int torn_tail(const char *path) {
    polca__container *c = NULL;
    struct stat sb;
    if (stat(path, &sb) || polca__ct_open(path, 0, 0, NULL, &c)) return 0;
    int64_t n = polca__ct_count(c);
    const polca__ct_record *r = polca__ct_record_at(c, n - 1);
    uint64_t end = r ? r->offset + r->header_len + r->payload_len : 0;
    polca__ct_close(c);
    return r && (uint64_t)sb.st_size > end;
}

/* Every checkpoint in the file is exact; returns the count, -1 on failure. */
static int64_t verify(polca_context *ctx, const char *path, int64_t from) {
    polca_checkpoints *s = NULL;
    if (polca_checkpoints_open(ctx, path, NULL, &s)) {
        printf("  open failed: %s\n", polca_last_error());
        return -1;
    }
    int64_t n = 0;
    polca_checkpoints_count(s, &n);
    float *got = malloc(P * sizeof *got), *want = malloc(P * sizeof *want);
    int64_t bad = -1;
    for (int64_t i = from < n ? from : 0; i < n && bad < 0; i++) {
        int64_t step = -1;
        polca_checkpoints_step(s, i, &step);
        theta_at(10 * i, want);
        if (step != 10 * i || polca_checkpoints_read(s, i, got, P) ||
            memcmp(got, want, P * sizeof *got))
            bad = i;
    }
    free(got);
    free(want);
    polca_checkpoints_destroy(s);
    if (bad >= 0) {
        printf("  checkpoint %lld is wrong (%s)\n", (long long)bad, polca_last_error());
        return -1;
    }
    return n;
}

TEST(kill_during_appends) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    char path[128];
    snprintf(path, sizeof path, "%s/series.pcs", dir);
    unsigned seed = (unsigned)time(NULL);
    printf("  seed %u\n", seed);
    srand(seed);
    /* the empty series exists before the first child (creation under kills
     * is kill_during_create's subject) */
    polca__layout l;
    layout(&l);
    polca_checkpoints *s0 = NULL;
    CHECK_OK(polca__checkpoints_create(ctx, &l, path, NULL, &s0));
    polca_checkpoints_destroy(s0);
    polca__layout_free(&l);
    int64_t committed = 0, last = -10;
    int mid_kills = 0, torn = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int n_rep = 0;
        int64_t rep_last = last;
        /* odd rounds: killed 0..20 ms after the first append of the round
         * returned; even rounds: 0..40 ms after the start (also inside the
         * open that discards a torn tail) */
        int wait_first = round % 2;
        long delay = rand() % (wait_first ? 20000 : 40000);
        CHECK(run_child(path, 0, round % 3 != 2, wait_first, delay, &rep_last, &n_rep) == 0);
        torn += torn_tail(path);
        int64_t n = verify(ctx, path, 0);
        CHECK(n >= 0);
        if (n_rep) {
            if (n * 10 - 10 < rep_last)
                FAILF("round %d: reported step %lld missing (%lld in file)", round,
                      (long long)rep_last, (long long)n);
            last = rep_last;
        }
        CHECK(n >= committed);
        if (n * 10 - 10 > last) mid_kills++; /* committed but not yet reported */
        if (n * 10 - 10 > last) last = n * 10 - 10;
        committed = n;
    }
    printf("  %lld checkpoints after %d kills; %d kills left a torn append, %d came after an "
           "append's commit but before its report\n",
           (long long)committed, ROUNDS, torn, mid_kills);
    CHECK(committed >= ROUNDS / 2);
    polca_context_destroy(ctx);
}

TEST(kill_during_create) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    for (int round = 0; round < 10; round++) {
        char path[128];
        snprintf(path, sizeof path, "%s/new%d.pcs", dir, round);
        int n_rep = 0;
        int64_t rep_last = -10;
        CHECK(run_child(path, 1, 1, 0, rand() % 3000, &rep_last, &n_rep) == 0);
        if (access(path, F_OK) == 0) {
            int64_t n = verify(ctx, path, 0);
            CHECK(n >= n_rep);
        } else {
            CHECK(n_rep == 0);
        }
    }
    polca_context_destroy(ctx);
}

int main(void) {
    strcpy(dir, "/tmp/polca_crash_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(kill_during_appends);
    RUN(kill_during_create);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
    return harness_done();
}
