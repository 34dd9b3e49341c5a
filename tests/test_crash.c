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
 *
 * Concurrency (docs/format.md 1.5): processes racing to create one new
 * series (exactly one wins, the others get POLCA_ERR_IO "exists" and no
 * append of anyone is lost), a writer and a replacer (libpolca refuses to
 * replace a file a writer holds; a replacement by another program makes
 * the writer's next append fail), and readers opening a series while it is
 * appended to (each sees a consistent commit, never "truncated").
 */
#include <errno.h>
#include <fcntl.h>
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
#include "safetensors.h"

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

/* ---- concurrency ---- */

/* What a child reports through its pipe: (tag, value) pairs of int64. */
enum {
    MSG_CREATE = 1,       /* status of the create */
    MSG_CREATE_NAMED,     /* 1: a failed create's message names the path and "exists" */
    MSG_APPENDED,         /* a step whose append returned POLCA_OK */
    MSG_APPEND_FAILED,    /* status of the first failed append (the child stops) */
    MSG_FAIL_NAMED,       /* 1: that message names the path and "replaced" */
    MSG_OK_AFTER_REPLACE, /* an append that began after the replacement returned OK */
};

static void send_msg(int fd, int64_t tag, int64_t value) {
    int64_t m[2] = {tag, value};
    if (write(fd, m, sizeof m) != (ssize_t)sizeof m) _exit(5);
}

typedef struct child_log {
    int64_t create_status; /* 1 when not reported */
    int create_named;
    int64_t steps[8192];
    int n_steps;
    int64_t fail_status; /* 0 when no append failed */
    int fail_named;
    int ok_after_replace;
} child_log;

/* Reads one message into lg; 0 at the end of the stream. */
static int read_msg(int fd, child_log *lg) {
    int64_t m[2];
    size_t got = 0;
    while (got < sizeof m) {
        ssize_t r = read(fd, (char *)m + got, sizeof m - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        got += (size_t)r;
    }
    switch (m[0]) {
    case MSG_CREATE: lg->create_status = m[1]; break;
    case MSG_CREATE_NAMED: lg->create_named = (int)m[1]; break;
    case MSG_APPENDED:
        if (lg->n_steps < 8192) lg->steps[lg->n_steps++] = m[1];
        break;
    case MSG_APPEND_FAILED: lg->fail_status = m[1]; break;
    case MSG_FAIL_NAMED: lg->fail_named = (int)m[1]; break;
    case MSG_OK_AFTER_REPLACE: lg->ok_after_replace++; break;
    }
    return 1;
}

static int error_mentions(const char *a, const char *b) {
    const char *e = polca_last_error();
    return strstr(e, a) && strstr(e, b);
}

/* Every checkpoint in the file reads back as theta_at(its step), and every
 * step of want[n_want] is there. Returns the count, -1 on failure. */
static int64_t verify_holds(polca_context *ctx, const char *path, const int64_t *want,
                            int n_want) {
    polca_checkpoints *s = NULL;
    if (polca_checkpoints_open(ctx, path, NULL, &s)) {
        printf("  %s: open failed: %s\n", path, polca_last_error());
        return -1;
    }
    int64_t n = 0;
    polca_checkpoints_count(s, &n);
    float *got = malloc(P * sizeof *got), *exp = malloc(P * sizeof *exp);
    int ok = got && exp;
    for (int64_t i = 0; i < n && ok; i++) {
        int64_t step = -1;
        polca_checkpoints_step(s, i, &step);
        theta_at(step, exp);
        if (polca_checkpoints_read(s, i, got, P) || memcmp(got, exp, P * sizeof *got)) {
            printf("  %s: checkpoint %lld (step %lld) is wrong (%s)\n", path, (long long)i,
                   (long long)step, polca_last_error());
            ok = 0;
        }
    }
    for (int k = 0; k < n_want && ok; k++) {
        int64_t idx = -1;
        polca_checkpoints_find_step(s, want[k], &idx);
        if (idx < 0) {
            printf("  %s: step %lld was reported committed and is not there\n", path,
                   (long long)want[k]);
            ok = 0;
        }
    }
    free(got);
    free(exp);
    polca_checkpoints_destroy(s);
    return ok ? n : -1;
}

/* Child: waits for the start signal (EOF on go), creates path, and appends
 * steps 10 k + id, k = 0, 1, 2. */
static void child_create(const char *path, int go, int wfd, int id) {
    polca_context *ctx = cpu_context();
    float *v = malloc(P * sizeof *v);
    if (!ctx || !v) _exit(2);
    polca__layout l;
    layout(&l);
    char b;
    while (read(go, &b, 1) < 0 && errno == EINTR) {
    }
    polca_checkpoints *s = NULL;
    int32_t st = polca__checkpoints_create(ctx, &l, path, NULL, &s);
    send_msg(wfd, MSG_CREATE, st);
    if (st) {
        send_msg(wfd, MSG_CREATE_NAMED, error_mentions(path, "exists"));
        _exit(0);
    }
    for (int k = 0; k < 3; k++) {
        int64_t step = 10 * k + id;
        theta_at(step, v);
        if ((st = polca_checkpoints_append(s, step, v, P))) {
            send_msg(wfd, MSG_APPEND_FAILED, st);
            _exit(0);
        }
        send_msg(wfd, MSG_APPENDED, step);
    }
    polca_checkpoints_destroy(s);
    _exit(0);
}

/* Processes racing to create one new series: exactly one succeeds, the
 * others get POLCA_ERR_IO naming the path ("exists"), and the file holds
 * every append any of them was told had committed. */
TEST(two_creators) {
    enum { KIDS = 3, RACES = 15 };
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    child_log *lg = calloc(KIDS, sizeof *lg);
    CHECK(lg);
    int bad_rounds = 0;
    for (int round = 0; round < RACES; round++) {
        char path[128];
        snprintf(path, sizeof path, "%s/race%d.pcs", dir, round);
        int go[2];
        CHECK(pipe(go) == 0);
        int rfd[KIDS];
        pid_t pid[KIDS];
        for (int k = 0; k < KIDS; k++) {
            int fds[2];
            CHECK(pipe(fds) == 0);
            pid[k] = fork();
            CHECK(pid[k] >= 0);
            if (pid[k] == 0) {
                close(go[1]);
                close(fds[0]);
                child_create(path, go[0], fds[1], k);
            }
            close(fds[1]);
            rfd[k] = fds[0];
        }
        close(go[0]);
        close(go[1]); /* every child starts now */
        int wins = 0, n_all = 0, good_losers = 1;
        int64_t all[3 * KIDS];
        for (int k = 0; k < KIDS; k++) {
            memset(&lg[k], 0, sizeof lg[k]);
            lg[k].create_status = 1;
            while (read_msg(rfd[k], &lg[k])) {
            }
            close(rfd[k]);
            waitpid(pid[k], NULL, 0);
            if (lg[k].create_status == 0) wins++;
            else if (lg[k].create_status != POLCA_ERR_IO || !lg[k].create_named)
                good_losers = 0;
            for (int i = 0; i < lg[k].n_steps; i++) all[n_all++] = lg[k].steps[i];
            if (lg[k].fail_status) good_losers = 0;
        }
        int64_t n = verify_holds(ctx, path, all, n_all);
        if (wins != 1 || !good_losers || n != n_all) {
            printf("  round %d: %d creates succeeded; %d appends reported, %lld in the file\n",
                   round, wins, n_all, (long long)n);
            bad_rounds++;
        }
    }
    free(lg);
    CHECK(bad_rounds == 0);
    polca_context_destroy(ctx);
}

/* Child: opens path for appending and appends until an append fails; a
 * byte on sig says that the file has been replaced, after which every
 * append must fail. */
static void child_appender(const char *path, int sig, int wfd) {
    polca_context *ctx = cpu_context();
    polca_options *o = NULL;
    polca_checkpoints *s = NULL;
    float *v = malloc(P * sizeof *v);
    if (!ctx || !v || polca_options_create(&o)) _exit(2);
    polca_options_set_int(o, "writable", 1);
    polca_options_set_int(o, "sync", 0);
    polca_options_set_int(o, "max_chain", 5);
    if (polca_checkpoints_open(ctx, path, o, &s)) _exit(3);
    if (fcntl(sig, F_SETFL, O_NONBLOCK) != 0) _exit(2);
    int told = 0;
    for (int64_t next = 0; next < 200000; next += 10) {
        char b;
        if (!told && read(sig, &b, 1) == 1) told = 1;
        theta_at(next, v);
        int32_t st = polca_checkpoints_append(s, next, v, P);
        if (st) {
            printf("  the writer: %s\n", polca_last_error());
            fflush(stdout);
            /* the parent stops reading at MSG_APPEND_FAILED: send it last */
            send_msg(wfd, MSG_FAIL_NAMED, error_mentions(path, "replaced"));
            send_msg(wfd, MSG_APPEND_FAILED, st);
            _exit(0);
        }
        send_msg(wfd, MSG_APPENDED, next);
        if (told) send_msg(wfd, MSG_OK_AFTER_REPLACE, next);
    }
    _exit(6);
}

/* A writer appends while the series is replaced: libpolca's replacers
 * (create with "overwrite", import with "overwrite", save) are refused with
 * POLCA_ERR_STATE while the writer holds the file; a replacement by another
 * program (a rename over the path, as mv does) makes the writer's next
 * append fail with POLCA_ERR_IO naming the path, and every append it was
 * told had committed is in the file it wrote. */
TEST(writer_and_replacer) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    char path[128], keep[128], other[128], stf[128];
    snprintf(path, sizeof path, "%s/replaced.pcs", dir);
    snprintf(keep, sizeof keep, "%s/replaced.keep", dir);
    snprintf(other, sizeof other, "%s/other.pcs", dir);
    snprintf(stf, sizeof stf, "%s/ckpt_5.safetensors", dir);
    polca__layout l;
    layout(&l);
    float *v = malloc(P * sizeof *v);
    child_log *lg = calloc(1, sizeof *lg);
    CHECK(v && lg);
    polca_checkpoints *s = NULL, *mem = NULL, *x = NULL;
    CHECK_OK(polca__checkpoints_create(ctx, &l, path, NULL, &s));
    polca_checkpoints_destroy(s);
    /* what the replacers would write */
    theta_at(5, v);
    CHECK_OK(polca__checkpoints_create(ctx, &l, NULL, NULL, &mem));
    CHECK_OK(polca_checkpoints_append(mem, 5, v, P));
    int64_t wshape[2] = {200, 250}, bshape[1] = {10000};
    polca__st_out_tensor ts[2] = {{"w", 2, wshape, v}, {"b", 1, bshape, v + 50000}};
    CHECK_OK(polca__st_write_f32(stf, 2, ts, 0, NULL, NULL));
    polca_options *ov = NULL;
    CHECK_OK(polca_options_create(&ov));
    CHECK_OK(polca_options_set_int(ov, "overwrite", 1));

    int sig[2], fds[2];
    CHECK(pipe(sig) == 0 && pipe(fds) == 0);
    fflush(stdout); /* the child prints: nothing of ours twice */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(sig[1]);
        close(fds[0]);
        child_appender(path, sig[0], fds[1]);
    }
    close(sig[0]);
    close(fds[1]);
    while (lg->n_steps < 3 && read_msg(fds[0], lg)) {
    }
    EXPECT(lg->n_steps >= 3);
    /* 1. libpolca does not replace a file a writer holds */
    const char *files[1] = {stf};
    int32_t st = polca__checkpoints_create(ctx, &l, path, ov, &x);
    EXPECT(st == POLCA_ERR_STATE && error_mentions(path, "writer"));
    if (!st) polca_checkpoints_destroy(x);
    x = NULL;
    st = polca__checkpoints_import_safetensors(ctx, &l, 1, files, path, ov, &x);
    EXPECT(st == POLCA_ERR_STATE && error_mentions(path, "writer"));
    if (!st) polca_checkpoints_destroy(x);
    st = polca_checkpoints_save(mem, path, NULL);
    EXPECT(st == POLCA_ERR_STATE && error_mentions(path, "writer"));
    int n_before = lg->n_steps;
    EXPECT(verify_holds(ctx, path, lg->steps, n_before) >= n_before);
    /* 2. another program renames a file over it; then the writer is told */
    EXPECT(link(path, keep) == 0);
    CHECK_OK(polca_checkpoints_save(mem, other, NULL));
    EXPECT(rename(other, path) == 0);
    EXPECT(write(sig[1], "r", 1) == 1);
    while (!lg->fail_status && lg->ok_after_replace < 3 && read_msg(fds[0], lg)) {
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (read_msg(fds[0], lg)) {
    }
    close(fds[0]);
    close(sig[1]);
    printf("  %d appends committed (%d before the replacement attempts), then %s\n", lg->n_steps,
           n_before, lg->fail_status ? polca_status_string((int32_t)lg->fail_status) : "no error");
    EXPECT(lg->ok_after_replace == 0);
    EXPECT(lg->fail_status == POLCA_ERR_IO && lg->fail_named);
    /* nothing the writer was told had committed is missing from its file */
    EXPECT(verify_holds(ctx, keep, lg->steps, lg->n_steps) >= lg->n_steps);
    /* the replacement is intact */
    EXPECT(verify_holds(ctx, path, NULL, 0) == 1);
    polca_options_destroy(ov);
    polca_checkpoints_destroy(mem);
    polca__layout_free(&l);
    free(v);
    free(lg);
    polca_context_destroy(ctx);
}

/* A small series appended to as fast as possible, for readers_during_appends. */
#define PS 64
static void small_layout(polca__layout *l) {
    polca__layout_init(l);
    int64_t n[1] = {PS};
    polca__layout_add(l, "v", 1, n);
}
static void small_theta(int64_t s, float *v) {
    for (int i = 0; i < PS; i++) v[i] = (float)(s * 131 + i) * 0.25f;
}

static void child_fast_appender(const char *path) {
    polca_context *ctx = cpu_context();
    polca_options *o = NULL;
    polca_checkpoints *s = NULL;
    if (!ctx || polca_options_create(&o)) _exit(2);
    polca_options_set_int(o, "writable", 1);
    polca_options_set_int(o, "sync", 0);
    polca_options_set_int(o, "max_chain", 3);
    if (polca_checkpoints_open(ctx, path, o, &s)) _exit(3);
    polca_options_unset(o, "writable");
    polca_options_set_int(o, "overwrite", 1);
    polca__layout l;
    small_layout(&l);
    float v[PS];
    for (int round = 0; round < 100000; round++) {
        for (int64_t step = 0; step < 200; step++) {
            small_theta(step, v);
            if (polca_checkpoints_append(s, step, v, PS)) _exit(4);
        }
        /* a fresh series now and then keeps the readers' opens quick */
        polca_checkpoints_destroy(s);
        if (polca__checkpoints_create(ctx, &l, path, o, &s)) _exit(5);
    }
    _exit(0);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Reader: opens the series over and over for `seconds`; reports the number
 * of opens, of failed opens and of inconsistent ones (the last checkpoint
 * not reading back exact) through wfd. */
static void child_reader(const char *path, double seconds, int wfd) {
    polca_context *ctx = cpu_context();
    if (!ctx) _exit(2);
    int64_t opens = 0, failed = 0, wrong = 0;
    double t0 = now_s();
    while (now_s() - t0 < seconds) {
        polca_checkpoints *s = NULL;
        int32_t st = polca_checkpoints_open(ctx, path, NULL, &s);
        opens++;
        if (st) {
            if (failed++ < 2) printf("  open %lld: %s\n", (long long)opens, polca_last_error());
            continue;
        }
        int64_t n = 0, step = -1;
        polca_checkpoints_count(s, &n);
        if (n > 0) {
            float got[PS], want[PS];
            polca_checkpoints_step(s, n - 1, &step);
            small_theta(step, want);
            if (step != n - 1 || polca_checkpoints_read(s, n - 1, got, PS) ||
                memcmp(got, want, sizeof got))
                wrong++;
        }
        polca_checkpoints_destroy(s);
    }
    fflush(stdout);
    int64_t r[3] = {opens, failed, wrong};
    _exit(write(wfd, r, sizeof r) == (ssize_t)sizeof r ? 0 : 5);
}

/* Readers open a series over and over while a writer appends to it (and
 * starts it afresh every 200 checkpoints, with "overwrite", so that opens
 * stay quick): every open succeeds (never a spurious "file truncated") and
 * the last checkpoint each sees reads back exact. */
TEST(readers_during_appends) {
    enum { READERS = 4 };
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    char path[128];
    snprintf(path, sizeof path, "%s/busy.pcs", dir);
    polca__layout l;
    small_layout(&l);
    polca_checkpoints *s = NULL;
    CHECK_OK(polca__checkpoints_create(ctx, &l, path, NULL, &s));
    polca_checkpoints_destroy(s);
    polca__layout_free(&l);
    fflush(stdout);
    pid_t writer = fork();
    CHECK(writer >= 0);
    if (writer == 0) child_fast_appender(path);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t readers[READERS];
    for (int k = 0; k < READERS; k++) {
        readers[k] = fork();
        CHECK(readers[k] >= 0);
        if (readers[k] == 0) {
            close(fds[0]);
            child_reader(path, 2.5, fds[1]);
        }
    }
    close(fds[1]);
    int64_t opens = 0, failed = 0, wrong = 0, r[3];
    int reported = 0;
    while (read(fds[0], r, sizeof r) == (ssize_t)sizeof r) {
        opens += r[0];
        failed += r[1];
        wrong += r[2];
        reported++;
    }
    close(fds[0]);
    for (int k = 0; k < READERS; k++) waitpid(readers[k], NULL, 0);
    kill(writer, SIGKILL);
    int status = 0;
    waitpid(writer, &status, 0);
    printf("  %d readers, %lld opens while a writer appended: %lld failed, %lld inconsistent\n",
           reported, (long long)opens, (long long)failed, (long long)wrong);
    CHECK(WIFSIGNALED(status)); /* the writer was still appending */
    CHECK(reported == READERS);
    CHECK(failed == 0 && wrong == 0);
    polca_context_destroy(ctx);
}

int main(void) {
    strcpy(dir, "/tmp/polca_crash_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(kill_during_appends);
    RUN(kill_during_create);
    RUN(two_creators);
    RUN(writer_and_replacer);
    RUN(readers_during_appends);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
    return harness_done();
}
