// Fixed-size thread pool: workers are created once; `segc_pool_run` publishes a job
// (function pointer + context + task count) through a generation counter, every
// thread (the caller included) takes task numbers from an atomic counter, and the
// caller waits until the workers that joined the job are done. Nothing is allocated
// per call.
//
// A worker joins a job through `state` (generation << 32 | CLOSED | workers inside): it
// enters only while the job is open, and the caller closes the job once it has drained
// the tasks and no worker is inside. So a worker that was descheduled when the job was
// published (`segc stream`'s decoder on the other core, a stolen vCPU) costs nothing:
// the caller runs its share instead of waiting for it to wake up just to find no work.
//
// Which thread runs which task varies from run to run, but tasks are independent and
// their boundaries depend only on shapes, so results do not depend on scheduling.
#define _GNU_SOURCE
#include <sys/mman.h>
#include "../internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define SEGC_PAUSE() _mm_pause()
#else
#define SEGC_PAUSE() ((void)0)
#endif

/// Spin iterations before sleeping (a few microseconds: ops are dispatched back to back).
#define SEGC_SPIN 4000
#define STATE_CLOSED ((uint64_t)1 << 31)
#define STATE_INSIDE ((uint64_t)0x7fffffff)

typedef struct {
    segc_pool *pool;
    int index;
} worker_arg;

struct segc_pool {
    int threads;
    pthread_t *tids;
    worker_arg *args;
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    _Atomic uint64_t generation;
    _Atomic uint64_t state;  // generation (low 32 bits) << 32 | STATE_CLOSED | workers inside the job
    _Atomic int waiting;     // the caller sleeps on done_cv until the last worker leaves
    _Atomic int stop;
    segc_task_fn fn;
    void *ctx;
    int64_t ntasks;
    _Atomic int64_t next;
};

/// Enters the job of generation g if it is still open (1), else 0.
static int enter_job(segc_pool *p, uint64_t g) {
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    for (;;) {
        if ((s >> 32) != (g & 0xffffffffu) || (s & STATE_CLOSED)) return 0;
        if (atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acq_rel, memory_order_acquire))
            return 1;
    }
}

/// Leaves the job; the last worker out wakes a caller that went to sleep waiting for it.
static void leave_job(segc_pool *p) {
    // seq_cst pairs with the caller's store of `waiting` then load of `state` (no lost wakeup).
    uint64_t before = atomic_fetch_sub_explicit(&p->state, 1, memory_order_seq_cst);
    if ((before & STATE_INSIDE) == 1 && atomic_load_explicit(&p->waiting, memory_order_seq_cst)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void drain(segc_pool *p, int thread) {
    segc_task_fn fn = p->fn;
    void *ctx = p->ctx;
    int64_t n = p->ntasks;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= n) break;
        fn(ctx, t, thread);
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    segc_pool *p = wa->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int i = 0; g == seen && i < SEGC_SPIN; i++) {
            SEGC_PAUSE();
            g = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !atomic_load(&p->stop))
                pthread_cond_wait(&p->start_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        if (!enter_job(p, g)) continue;   // closed already: the caller ran every task
        drain(p, wa->index);
        leave_job(p);
    }
}

segc_pool *segc_pool_create(int threads) {
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    segc_kernels_init();
    segc_pool *p = calloc(1, sizeof(segc_pool));
    if (!p) return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->state, STATE_CLOSED);
    atomic_init(&p->waiting, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->next, 0);
    if (threads > 1) {
        p->tids = calloc((size_t)threads, sizeof(pthread_t));
        p->args = calloc((size_t)threads, sizeof(worker_arg));
        if (!p->tids || !p->args) { free(p->tids); free(p->args); free(p); return NULL; }
        for (int i = 1; i < threads; i++) {
            p->args[i].pool = p;
            p->args[i].index = i;
            if (pthread_create(&p->tids[i], NULL, worker_main, &p->args[i]) != 0) {
                p->threads = i;   // shut down the ones already started
                segc_pool_destroy(p);
                return NULL;
            }
        }
    }
    return p;
}

void segc_pool_destroy(segc_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->threads; i++) pthread_join(p->tids[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->tids);
    free(p->args);
    free(p);
}

int segc_pool_threads(const segc_pool *p) { return p ? p->threads : 1; }

void segc_pool_run(segc_pool *p, segc_task_fn fn, void *ctx, int64_t ntasks) {
    if (ntasks <= 0) return;
    if (!p || p->threads == 1 || ntasks == 1) {
        for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    // The previous job is closed with nobody inside, so no worker reads these while they change.
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    uint64_t g = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->state, (g & 0xffffffffu) << 32, memory_order_release);   // open, nobody inside
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->generation, g, memory_order_release);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    // Every task is claimed; close the job as soon as no worker is inside (one may still be
    // running its last task). Workers that arrive later find it closed.
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    for (int i = 0;; i++) {
        if ((s & STATE_INSIDE) == 0 &&
            atomic_compare_exchange_weak_explicit(&p->state, &s, s | STATE_CLOSED, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
        if ((s & STATE_INSIDE) == 0) continue;   // the CAS failed spuriously or a worker just entered: retry
        if (i < SEGC_SPIN) {
            SEGC_PAUSE();
            s = atomic_load_explicit(&p->state, memory_order_acquire);
            continue;
        }
        pthread_mutex_lock(&p->mu);
        atomic_store_explicit(&p->waiting, 1, memory_order_seq_cst);
        while ((atomic_load_explicit(&p->state, memory_order_seq_cst) & STATE_INSIDE) != 0)
            pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store_explicit(&p->waiting, 0, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        s = atomic_load_explicit(&p->state, memory_order_acquire);
    }
}

void segc_advise_huge_pages(void *p, uint64_t bytes) {
#ifdef MADV_HUGEPAGE
    // SEGC_HUGE_PAGES=0 opts out: the kernel zeroes (and at times compacts memory for) each
    // 2 MiB page at first touch, so session creation usually gets faster but now and then
    // stalls for 0.1-1 s; a one-shot `segc run` may prefer the steady 4 KiB start.
    const char *env = getenv("SEGC_HUGE_PAGES");
    if (env && env[0] == '0') return;
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + (uintptr_t)bytes) & ~(huge - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p; (void)bytes;
#endif
}

int segc_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
