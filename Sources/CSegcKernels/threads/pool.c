// Fixed-size thread pool: workers are created once; `segc_pool_run` publishes a job
// (function pointer + context + task count) through a generation counter, every
// thread (the caller included) takes task numbers from its own contiguous share of the
// job and then steals from the back of the others' shares, and the caller waits until
// the workers that joined the job are done. Nothing is allocated per call.
//
// Shares, not one shared counter: consecutive ops split their outputs the same way (pixel
// tiles in order), so thread i keeps producing and consuming the same part of each tensor
// and finds it in its own L2. With one counter the tiles alternated between the threads
// and every op fetched half of its input from the other core (ENet's 1x1 convs at 64x128:
// 4 MiB tensors, 2 MiB of L2 per core).
//
// A worker joins a job through `state` (generation << 32 | CLOSED | workers inside): it
// enters only while the job is open, and the caller closes the job once it has drained
// the tasks and no worker is inside. So a worker that was descheduled when the job was
// published (`segc stream`'s decoder on the other core, a stolen vCPU) costs nothing:
// the caller runs its share instead of waiting for it to wake up just to find no work.
//
// Which thread runs which task varies from run to run, but tasks are independent and
// every kernel computes each output the same way whatever task holds it (task boundaries
// depend on shapes and, through segc_balanced_chunk, on the thread count), so results do
// not depend on scheduling or on the number of threads.
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

/// A thread's share of the current job: task numbers [begin, end) as begin << 32 | end. The
/// owner takes from the front, other threads steal from the back, both by CAS on the word.
typedef struct {
    _Atomic uint64_t range;
    char pad[64 - sizeof(uint64_t)];   // one cache line each: the owner's CAS stays local
} share;

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
    share *shares;   // one per thread
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

/// The next task from the front (own share) or the back (a steal) of share v, or -1.
static int64_t take(share *v, int front) {
    uint64_t r = atomic_load_explicit(&v->range, memory_order_relaxed);
    for (;;) {
        uint64_t b = r >> 32, e = r & 0xffffffffu;
        if (b >= e) return -1;
        uint64_t next = front ? ((b + 1) << 32 | e) : (b << 32 | (e - 1));
        if (atomic_compare_exchange_weak_explicit(&v->range, &r, next, memory_order_relaxed, memory_order_relaxed))
            return (int64_t)(front ? b : e - 1);
    }
}

static void drain(segc_pool *p, int thread) {
    segc_task_fn fn = p->fn;
    void *ctx = p->ctx;
    int64_t t;
    while ((t = take(&p->shares[thread], 1)) >= 0) fn(ctx, t, thread);
    for (int k = 1; k < p->threads; k++) {
        share *v = &p->shares[(thread + k) % p->threads];
        while ((t = take(v, 0)) >= 0) fn(ctx, t, thread);
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
    if (threads > 1) {
        p->tids = calloc((size_t)threads, sizeof(pthread_t));
        p->args = calloc((size_t)threads, sizeof(worker_arg));
        p->shares = aligned_alloc(64, (size_t)threads * sizeof(share));
        if (!p->tids || !p->args || !p->shares) { free(p->tids); free(p->args); free(p->shares); free(p); return NULL; }
        for (int i = 0; i < threads; i++) atomic_init(&p->shares[i].range, 0);
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
    free(p->shares);
    free(p);
}

int segc_pool_threads(const segc_pool *p) { return p ? p->threads : 1; }

void segc_pool_run(segc_pool *p, segc_task_fn fn, void *ctx, int64_t ntasks) {
    if (ntasks <= 0) return;
    // Shares hold 32-bit task numbers; no op comes near 2^32 tasks, but stay correct if one did.
    if (!p || p->threads == 1 || ntasks == 1 || ntasks > (int64_t)UINT32_MAX) {
        for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    // The previous job is closed with nobody inside, so no worker reads these while they change.
    p->fn = fn;
    p->ctx = ctx;
    for (int i = 0; i < p->threads; i++)
        atomic_store_explicit(&p->shares[i].range,
                              (uint64_t)(ntasks * i / p->threads) << 32 | (uint64_t)(ntasks * (i + 1) / p->threads),
                              memory_order_relaxed);
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
