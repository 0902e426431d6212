/*
 * blas_loader.c - loads OpenBLAS at run time with kernels that fit this CPU.
 * See knowlm_blas.h for why the library is not linked.
 */
#define _GNU_SOURCE
#include "knowlm_blas.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* CBLAS's enum values (cblas.h): the library takes them as ints. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                         const float *, int, float, float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int,
                         float, float *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*corename_fn)(void);

static const char *const library_names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0", NULL};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_status = -1;
static char g_error[512];
static char g_origin[96] = "library";
static sgemm_fn g_sgemm;
static sgemv_fn g_sgemv;
static set_threads_fn g_set_threads;
static corename_fn g_corename;

/* Pre-AVX2 kernel sets of OpenBLAS's x86-64 DYNAMIC_ARCH build (names as
 * openblas_get_corename() prints them, compared case-insensitively). */
static const char *const generic_cores[] = {
    "prescott", "katmai", "coppermine", "northwood", "banias", "atom", "core2", "penryn",
    "dunnington", "nehalem", "opteron", "opteron_sse3", "barcelona", "bobcat", "sandybridge",
    "bulldozer", "piledriver", "steamroller", "excavator", "generic", "unknown", NULL};

int kl_blas_core_is_generic(const char *core) {
    if (!core) return 1;
    for (int i = 0; generic_cores[i]; i++)
        if (!strcasecmp(core, generic_cores[i])) return 1;
    return 0;
}

const char *kl_blas_best_core_for_cpu(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

static void *open_library(void) {
    for (int i = 0; library_names[i]; i++) {
        void *h = dlopen(library_names[i], RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
    }
    return NULL;
}

/* The probe: this executable re-run with KNOWLM_BLAS_PROBE=1 prints the core OpenBLAS picks
 * by itself and exits before main. Runs as a constructor so it works in any executable that
 * links these kernels (the CLI, the test runner, an embedding application). */
__attribute__((constructor)) static void kl_blas_probe_entry(void) {
    const char *probe = getenv("KNOWLM_BLAS_PROBE");
    if (!probe || strcmp(probe, "1") != 0) return;
    /* Tests stand in for an OpenBLAS that does not know this CPU (the Intel case) with
     * KNOWLM_BLAS_PROBE_SIMULATE=Prescott: the probe reports that core instead of loading. */
    const char *simulated = getenv("KNOWLM_BLAS_PROBE_SIMULATE");
    if (simulated && *simulated) {
        ssize_t unused = write(STDOUT_FILENO, simulated, strlen(simulated));
        (void)unused;
        _exit(0);
    }
    void *h = open_library();
    corename_fn name = h ? (corename_fn)dlsym(h, "openblas_get_corename") : NULL;
    const char *core = name ? name() : "";
    ssize_t unused = write(STDOUT_FILENO, core, strlen(core));
    (void)unused;
    _exit(h ? 0 : 3);
}

/* Runs the probe with a deadline; fills `core` (empty when the probe failed). */
static void run_probe(char *core, size_t capacity) {
    core[0] = 0;
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);

    /* The child's environment: ours plus the probe switch. */
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 2, sizeof(char *));
    if (!env) { close(fds[0]); close(fds[1]); posix_spawn_file_actions_destroy(&actions); return; }
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "KNOWLM_BLAS_PROBE=", 18) != 0) env[j++] = environ[i];
    env[j++] = "KNOWLM_BLAS_PROBE=1";
    env[j] = NULL;

    char *argv[] = {"knowlm-blas-probe", NULL};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, "/proc/self/exe", &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    close(fds[1]);
    if (rc != 0) { close(fds[0]); return; }

    size_t used = 0;
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    for (;;) {
        int ready = poll(&p, 1, 10000);  /* loading the executable and OpenBLAS: well under 10 s */
        if (ready <= 0) { if (ready < 0 && errno == EINTR) continue; kill(pid, SIGKILL); used = 0; break; }
        ssize_t got = read(fds[0], core + used, capacity - 1 - used);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        used += (size_t)got;
        if (used >= capacity - 1) break;
    }
    core[used] = 0;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) core[0] = 0;
}

static void load_once(void) {
    const char *preset = getenv("OPENBLAS_CORETYPE");
    if (preset && *preset) {
        snprintf(g_origin, sizeof g_origin, "environment");
    } else {
        const char *best = kl_blas_best_core_for_cpu();
        if (best) {
            char probed[64];
            run_probe(probed, sizeof probed);
            if (probed[0] && kl_blas_core_is_generic(probed)) {
                setenv("OPENBLAS_CORETYPE", best, 0);
                snprintf(g_origin, sizeof g_origin, "corrected from %s", probed);
            }
        }
    }
    void *h = open_library();
    if (!h) {
        snprintf(g_error, sizeof g_error,
                 "cannot load OpenBLAS (libopenblas.so.0): %s; install it with `apt-get install libopenblas0`",
                 dlerror());
        g_status = 1;
        return;
    }
    g_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    g_sgemv = (sgemv_fn)dlsym(h, "cblas_sgemv");
    g_set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    g_corename = (corename_fn)dlsym(h, "openblas_get_corename");
    if (!g_sgemm || !g_sgemv) {
        snprintf(g_error, sizeof g_error, "the loaded OpenBLAS lacks cblas_sgemm/cblas_sgemv");
        g_status = 2;
        return;
    }
    g_status = 0;
}

int kl_blas_load(void) {
    pthread_once(&g_once, load_once);
    return g_status;
}

const char *kl_blas_error(void) { kl_blas_load(); return g_error; }

const char *kl_blas_core_name(void) {
    if (kl_blas_load() != 0 || !g_corename) return "unknown";
    const char *name = g_corename();
    return name ? name : "unknown";
}

const char *kl_blas_core_origin(void) { kl_blas_load(); return g_origin; }

static void require_loaded(void) {
    if (kl_blas_load() == 0) return;
    /* Callers check kl_blas_load() before the first product; reaching this is a bug. */
    fprintf(stderr, "knowlm: %s\n", g_error);
    abort();
}

void kl_blas_set_threads(int n) {
    if (kl_blas_load() == 0 && g_set_threads) g_set_threads(n);
}

void kl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    require_loaded();
    g_sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void kl_sgemv(int trans, int m, int n, float alpha, const float *a, int lda,
              const float *x, int incx, float beta, float *y, int incy) {
    require_loaded();
    g_sgemv(CBLAS_ROW_MAJOR, trans ? CBLAS_TRANS : CBLAS_NO_TRANS, m, n, alpha, a, lda, x, incx, beta, y, incy);
}
