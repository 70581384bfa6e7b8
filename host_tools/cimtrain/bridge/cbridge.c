/* cimtrain bridge: a POSIX shared-memory window and the request-ring protocol on it.
 *
 * API: cbridge.h.  Layout and codes: CB_* macros in cb_protocol.h, generated from
 * bridge/protocol.py by bridge/build.py into the build directory.  Protocol:
 * docs/bridge.md.
 *
 * Roles.  The server (model server, RTL server) creates the window, takes records off
 * the ring, executes them and publishes completions.  The firmware side (the launcher,
 * whose MicroPython HAL speaks the same protocol with uctypes, or a host client using
 * cb_fw_* below) attaches, posts records and waits for completions.
 *
 * Memory ordering.  One producer (firmware) and one consumer (server) per index:
 *   producer: write record words, then store HEAD with release;
 *   consumer: load HEAD with acquire, read records, store TAIL with release;
 *   server:   write RDBUF / RSP / ERR_*, then store DONE_SEQ with release;
 *   firmware: load DONE_SEQ with acquire, then read RDBUF / RSP / ERR_*.
 * The MicroPython HAL cannot issue fences: its uctypes loads and stores are separate
 * calls in program order, which x86-64 (TSO) keeps in order; the launcher refuses
 * other architectures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_protocol.h"
#include "cbridge.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 must be a plain word");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free atomics needed in shared memory");
_Static_assert((CB_RING_WORDS & (CB_RING_WORDS - 1)) == 0, "ring length: power of two");
_Static_assert(CB_MAX_BURST + 2 <= CB_RING_WORDS / 2, "a record must fit half the ring");

enum { ROLE_SERVER = 1, ROLE_FIRMWARE = 2 };

struct cb_win {
    uint8_t *base;
    uint32_t size;
    int role;
    int owner;                  /* server: unlink the object at close */
    char shm[256];
    char name[200];
    /* firmware side (host client) */
    uint32_t head, seq, err_ack;
    uint32_t err_info[5];       /* count, seq, op, addr, resp of the last reported error */
    /* server side */
    uint32_t tail, fetch_seq;
    /* watchdog */
    pthread_t thr;
    int thr_running;
    atomic_int stop;
    atomic_int alarm;           /* ALARM_* (firmware side) or 1 (server side: firmware gone) */
    int grace_ms;               /* firmware side: _exit(EXIT_PEER) this long after an alarm */
    dev_t dev;                  /* firmware side: the object mapped (see unlink_orphan) */
    ino_t ino;
    char alarm_msg[512];        /* written before `alarm` is set (release) */
    char msg[1024];             /* message of the last error return */
};

/* ------------------------------------------------------------------ helpers */

static inline _Atomic uint32_t *hw(cb_win *w, uint32_t off) {
    return (_Atomic uint32_t *)(w->base + off);
}
#define LDA(w, off) atomic_load_explicit(hw(w, off), memory_order_acquire)
#define LDX(w, off) atomic_load_explicit(hw(w, off), memory_order_relaxed)
#define STR(w, off, v) atomic_store_explicit(hw(w, off), (uint32_t)(v), memory_order_release)
#define STX(w, off, v) atomic_store_explicit(hw(w, off), (uint32_t)(v), memory_order_relaxed)

static inline uint32_t *ring(cb_win *w) { return (uint32_t *)(w->base + CB_RING_OFF); }

static int fail(cb_win *w, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return code;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Backoff of every polling wait: spin for about 50 us, then sleep 2, 4, ... 50 us.
 * The waiting thread's timer slack is set to 1 us the first time (Linux's default,
 * 50 us, made every sleep at least that long): a wait ends at most one sleep after its
 * answer, and the RTL server and the firmware wait for each other hundreds of times an
 * image (a cap of 200 us with the default slack cost about 100 us a round trip). */
#define BACKOFF_MAX_NS 50000L
static __thread int slack_set;
typedef struct { double t0; long sleep; unsigned spins; } backoff_t;
static void backoff_init(backoff_t *b) {
    b->t0 = 0; b->sleep = 0; b->spins = 0;
#ifdef PR_SET_TIMERSLACK
    if (!slack_set) {
        prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
        slack_set = 1;
    }
#endif
}
static void backoff(backoff_t *b) {
    if (b->sleep == 0) {
        if (++b->spins & 63) { cpu_relax(); return; }
        double t = now_s();
        if (b->t0 == 0) b->t0 = t;
        if (t - b->t0 < 50e-6) return;
        b->sleep = 2000;
    }
    sleep_ns(b->sleep);
    b->sleep *= 2;
    if (b->sleep > BACKOFF_MAX_NS) b->sleep = BACKOFF_MAX_NS;
}

/* 1 if pid runs (a zombie does not), 0 if not. */
static int pid_alive(uint32_t pid) {
    if (pid == 0) return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;               /* no procfs: trust kill() */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');    /* "pid (comm) S ..." */
    if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) return 0;
    return 1;
}

/* Firmware side: a window whose server is gone cannot be served again (a new server
 * replaces it), and its server can no longer remove it: the side that outlives the
 * owner does, so that no window outlives the run (a SIGKILLed server, a crash).  Only
 * while the name still names the object this side mapped: a new server may have
 * replaced it meanwhile. */
static void unlink_orphan(cb_win *w) {
    if (w->role != ROLE_FIRMWARE || !w->base || pid_alive(LDA(w, CB_H_SERVER_PID))) return;
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm%s", w->shm);
    if (stat(path, &st) == 0 && st.st_dev == w->dev && st.st_ino == w->ino)
        shm_unlink(w->shm);
}

static int set_name(cb_win *w, const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof w->name - 1)
        return fail(w, CB_E_ARG, "bad window name '%s' (1..%zu characters)", name,
                    sizeof w->name - 2);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return fail(w, CB_E_ARG, "bad window name '%s': use letters, digits, _ - .", name);
    }
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->shm, sizeof w->shm, "/cimtrain.%s", name);
    return 0;
}

/* ------------------------------------------------------------------ lifecycle */

cb_win *cb_new(void) { return calloc(1, sizeof(cb_win)); }
const char *cb_msg(cb_win *w) { return w->msg; }
const char *cb_alarm_msg(cb_win *w) {
    return atomic_load_explicit(&w->alarm, memory_order_acquire) ? w->alarm_msg : "";
}
int cb_alarm(cb_win *w) { return atomic_load_explicit(&w->alarm, memory_order_acquire); }
uint32_t cb_hdr(cb_win *w, uint32_t off) { return LDA(w, off); }
void cb_hdr_set(cb_win *w, uint32_t off, uint32_t v) { STR(w, off, v); }
uint32_t *cb_rdbuf(cb_win *w) { return (uint32_t *)(w->base + CB_RDBUF_OFF); }
uintptr_t cb_base(cb_win *w) { return (uintptr_t)w->base; }
const uint32_t *cb_err_info(cb_win *w) { return w->err_info; }

static void set_alarm(cb_win *w, int code, const char *fmt, ...) {
    if (atomic_load_explicit(&w->alarm, memory_order_acquire)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->alarm_msg, sizeof w->alarm_msg, fmt, ap);
    va_end(ap);
    atomic_store_explicit(&w->alarm, code, memory_order_release);
}

/* Watchdog thread: beats this side's heartbeat and watches the peer's pid, heartbeat and
 * state.  Firmware side: raises H_FW_ALARM for the HAL and, if the firmware does not stop
 * within grace_ms, ends the process (the HAL may be in a long computation). */
static void *watchdog(void *arg) {
    cb_win *w = arg;
    int fw = w->role == ROLE_FIRMWARE;
    uint32_t my_hb = fw ? CB_H_FW_HEARTBEAT : CB_H_SRV_HEARTBEAT;
    uint32_t last_hb = 0, last_pid = 0;
    double last_change = now_s(), alarm_at = 0;
    while (!atomic_load(&w->stop)) {
        atomic_fetch_add_explicit(hw(w, my_hb), 1, memory_order_release);
        double t = now_s();
        if (fw) {
            uint32_t pid = LDA(w, CB_H_SERVER_PID), st = LDA(w, CB_H_SRV_STATE);
            uint32_t hb = LDA(w, CB_H_SRV_HEARTBEAT);
            if (hb != last_hb) { last_hb = hb; last_change = t; }
            if (st == CB_SRV_FAILED) {
                char m[CB_MSG_BYTES];
                memcpy(m, w->base + CB_H_MSG, sizeof m);
                m[sizeof m - 1] = 0;
                set_alarm(w, CB_ALARM_SERVER_FAILED, "bridge server pid %u failed: %s", pid, m);
            } else if (st == CB_SRV_CLOSED) {
                set_alarm(w, CB_ALARM_SERVER_CLOSED,
                          "bridge server pid %u closed the window under the firmware", pid);
            } else if (!pid_alive(pid)) {
                set_alarm(w, CB_ALARM_SERVER_GONE,
                          "bridge server pid %u is gone (killed or crashed)", pid);
            } else if (t - last_change > CB_STALE_MS / 1000.0) {
                set_alarm(w, CB_ALARM_SERVER_HUNG,
                          "bridge server pid %u stopped its heartbeat %.1f s ago (hung or stopped)",
                          pid, t - last_change);
            }
            int a = atomic_load_explicit(&w->alarm, memory_order_acquire);
            if (a) {
                if (LDX(w, CB_H_FW_ALARM) == 0) STR(w, CB_H_FW_ALARM, a);
                if (alarm_at == 0) alarm_at = t;
                if (w->grace_ms >= 0 && t - alarm_at > w->grace_ms / 1000.0) {
                    char line[700];
                    int n = snprintf(line, sizeof line,
                                     "cimtrain bridge: %s; the firmware did not stop within "
                                     "%d ms, exiting with status %d\n",
                                     w->alarm_msg, w->grace_ms, CB_EXIT_PEER);
                    if (write(2, line, n) < 0) { /* nothing left to do */ }
                    unlink_orphan(w);
                    _exit(CB_EXIT_PEER);
                }
            }
        } else if (LDA(w, CB_H_FW_STATE) == CB_FW_ATTACHED) {
            uint32_t pid = LDA(w, CB_H_FW_PID), hb = LDA(w, CB_H_FW_HEARTBEAT);
            if (pid != last_pid) { last_pid = pid; last_hb = hb; last_change = t; }
            if (hb != last_hb) { last_hb = hb; last_change = t; }
            if (!pid_alive(pid))
                set_alarm(w, 1, "firmware pid %u died without detaching (killed or crashed)",
                          pid);
            else if (t - last_change > CB_STALE_MS / 1000.0)
                set_alarm(w, 1, "firmware pid %u stopped its heartbeat %.1f s ago (hung or "
                          "stopped)", pid, t - last_change);
        } else {
            last_pid = 0;
        }
        for (int i = 0; i < 5 && !atomic_load(&w->stop); i++) sleep_ns(CB_HEARTBEAT_MS * 200000L);
    }
    return NULL;
}

static int start_watchdog(cb_win *w) {
    atomic_store(&w->stop, 0);
    int e = pthread_create(&w->thr, NULL, watchdog, w);
    if (e) return fail(w, CB_E_SYS, "pthread_create: %s", strerror(e));
    w->thr_running = 1;
    return 0;
}

static void stop_watchdog(cb_win *w) {
    if (!w->thr_running) return;
    atomic_store(&w->stop, 1);
    pthread_join(w->thr, NULL);
    w->thr_running = 0;
}

/* Examine an existing object: 1 stale (replace it), or an error code. */
static int inspect_existing(cb_win *w) {
    int fd = shm_open(w->shm, O_RDONLY, 0);
    if (fd < 0) return errno == ENOENT ? 1 : fail(w, CB_E_SYS, "shm_open %s: %s", w->shm,
                                                 strerror(errno));
    struct stat st;
    uint32_t id[3] = {0, 0, 0};
    if (fstat(fd, &st) == 0 && st.st_size >= 16) {
        void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            memcpy(id, p, sizeof id);
            munmap(p, 4096);
        }
    }
    close(fd);
    if (id[0] != CB_MAGIC && id[0] != 0)
        return fail(w, CB_E_MAGIC, "/dev/shm%s exists and is not a cimtrain bridge window "
                    "(magic 0x%08x); remove it", w->shm, id[0]);
    if (id[2] && id[2] != (uint32_t)getpid() && pid_alive(id[2]))
        return fail(w, CB_E_INUSE, "window '%s' is already served by pid %u (protocol %u.%u)",
                    w->name, id[2], id[1] >> 16, id[1] & 0xFFFF);
    snprintf(w->msg, sizeof w->msg, "replaced stale window '%s' left by server pid %u "
             "(crashed run)", w->name, id[2]);
    return 1;
}

/* Server: create the window (replacing a stale one) and start the watchdog. */
int cb_server_create(cb_win *w, const char *name, uint32_t kind, uint32_t macro_base,
                     uint32_t macro_bytes, uint32_t version) {
    int e = set_name(w, name);
    if (e) return e;
    w->msg[0] = 0;
    int fd = -1;
    for (int attempt = 0; attempt < 3 && fd < 0; attempt++) {
        fd = shm_open(w->shm, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd >= 0) break;
        if (errno != EEXIST) return fail(w, CB_E_SYS, "shm_open %s: %s", w->shm, strerror(errno));
        char note[sizeof w->msg];
        e = inspect_existing(w);
        if (e < 0) return e;
        memcpy(note, w->msg, sizeof note);
        if (shm_unlink(w->shm) != 0 && errno != ENOENT)
            return fail(w, CB_E_SYS, "shm_unlink %s: %s", w->shm, strerror(errno));
        memcpy(w->msg, note, sizeof note);
    }
    if (fd < 0) return fail(w, CB_E_INUSE, "window '%s' keeps being recreated by another "
                            "process", w->name);
    char note[sizeof w->msg];
    memcpy(note, w->msg, sizeof note);
    if (ftruncate(fd, CB_WINDOW_BYTES) != 0) {
        e = fail(w, CB_E_SYS, "ftruncate %s: %s", w->shm, strerror(errno));
        close(fd);
        shm_unlink(w->shm);
        return e;
    }
    void *p = mmap(NULL, CB_WINDOW_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        shm_unlink(w->shm);
        return fail(w, CB_E_SYS, "mmap %s: %s", w->shm, strerror(errno));
    }
    w->base = p;
    w->size = CB_WINDOW_BYTES;
    w->role = ROLE_SERVER;
    w->owner = 1;
    STX(w, CB_H_SERVER_PID, getpid());
    STX(w, CB_H_VERSION, version);
    STX(w, CB_H_WINDOW_BYTES, CB_WINDOW_BYTES);
    STX(w, CB_H_RING_OFF, CB_RING_OFF);
    STX(w, CB_H_RING_WORDS, CB_RING_WORDS);
    STX(w, CB_H_RDBUF_OFF, CB_RDBUF_OFF);
    STX(w, CB_H_RDBUF_WORDS, CB_RDBUF_WORDS);
    STX(w, CB_H_MACRO_BASE, macro_base);
    STX(w, CB_H_MACRO_BYTES, macro_bytes);
    STX(w, CB_H_SERVER_KIND, kind);
    STX(w, CB_H_MAX_BURST, CB_MAX_BURST);
    STX(w, CB_H_CLOCK_KHZ, CB_CLOCK_KHZ);
    STX(w, CB_H_SRV_STATE, CB_SRV_READY);
    STR(w, CB_H_MAGIC, CB_MAGIC);          /* last: the window is valid from here on */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    memcpy(w->msg, note, sizeof note);
    return start_watchdog(w);
}

/* Firmware side: open an existing window, mapped at `addr` (MAP_FIXED_NOREPLACE) or
 * anywhere when addr is 0, and check it. */
int cb_open(cb_win *w, const char *name, uintptr_t addr) {
    int e = set_name(w, name);
    if (e) return e;
    int fd = shm_open(w->shm, O_RDWR, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return fail(w, CB_E_NOWINDOW, "no bridge window '%s' (/dev/shm%s): is the server "
                        "running? start one with: python -m cimtrain.bridge.model_server "
                        "--window %s", w->name, w->shm, w->name);
        return fail(w, CB_E_SYS, "shm_open %s: %s", w->shm, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return fail(w, CB_E_SYS, "fstat %s: %s", w->shm, strerror(errno));
    }
    if (st.st_size < CB_HEADER_BYTES) {
        close(fd);
        return fail(w, CB_E_STALE, "window '%s' is %ld bytes, not a complete bridge window "
                    "(a server died while creating it?)", w->name, (long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    w->dev = st.st_dev;
    w->ino = st.st_ino;
    int flags = MAP_SHARED | (addr ? MAP_FIXED_NOREPLACE : 0);
    void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) {
        if (err == EEXIST)
            return fail(w, CB_E_ADDR, "address 0x%lx..0x%lx is already mapped in this process: "
                        "cannot place the bridge window at the macro's base address",
                        (unsigned long)addr, (unsigned long)(addr + size));
        return fail(w, CB_E_SYS, "mmap of window '%s' at 0x%lx: %s", w->name,
                    (unsigned long)addr, strerror(err));
    }
    if (addr && (uintptr_t)p != addr) {    /* kernel older than 4.17 ignores the flag */
        munmap(p, size);
        return fail(w, CB_E_ADDR, "address 0x%lx is taken (the kernel placed the window at %p)",
                    (unsigned long)addr, p);
    }
    w->base = p;
    w->size = (uint32_t)size;
    w->role = ROLE_FIRMWARE;
    uint32_t magic = LDA(w, CB_H_MAGIC), ver = LDA(w, CB_H_VERSION);
    uint32_t pid = LDA(w, CB_H_SERVER_PID), state = LDA(w, CB_H_SRV_STATE);
    if (magic != CB_MAGIC) {
        e = magic ? fail(w, CB_E_MAGIC, "window '%s' is not a cimtrain bridge window (magic "
                         "0x%08x)", w->name, magic)
                  : fail(w, CB_E_STALE, "window '%s' was never initialised (server pid %u died "
                         "while creating it?)", w->name, pid);
    } else if (ver >> CB_VERSION_MAJOR_SHIFT != CB_VERSION >> CB_VERSION_MAJOR_SHIFT) {
        e = fail(w, CB_E_VERSION, "bridge protocol version mismatch: window '%s' speaks %u.%u "
                 "(server pid %u), this side speaks %u.%u", w->name, ver >> 16, ver & 0xFFFF,
                 pid, CB_VERSION >> 16, CB_VERSION & 0xFFFF);
    } else if (size < LDA(w, CB_H_WINDOW_BYTES) || LDA(w, CB_H_RING_WORDS) != CB_RING_WORDS ||
               LDA(w, CB_H_RING_OFF) != CB_RING_OFF || LDA(w, CB_H_RDBUF_OFF) != CB_RDBUF_OFF) {
        e = fail(w, CB_E_VERSION, "window '%s' has an unexpected layout (size %zu, ring %u "
                 "words)", w->name, size, LDA(w, CB_H_RING_WORDS));
    } else if (!pid_alive(pid)) {
        e = fail(w, CB_E_STALE, "window '%s' is stale: its server pid %u is not running "
                 "(left over by a crashed run); start a server, it replaces the window",
                 w->name, pid);
    } else if (state != CB_SRV_READY) {
        e = fail(w, CB_E_STALE, "window '%s': server pid %u is not serving (state %u%s%s)",
                 w->name, pid, state, state == CB_SRV_FAILED ? ": " : "",
                 state == CB_SRV_FAILED ? (char *)w->base + CB_H_MSG : "");
    } else {
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        return 0;
    }
    munmap(w->base, w->size);
    w->base = NULL;
    return e;
}

/* Firmware side: claim the window (one firmware at a time) and start the watchdog.
 * grace_ms < 0: never end the process from the watchdog. */
int cb_fw_attach(cb_win *w, int grace_ms) {
    uint32_t zero = 0, me = (uint32_t)getpid();
    if (!atomic_compare_exchange_strong_explicit(hw(w, CB_H_FW_PID), &zero, me,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        if (zero == me)
            return fail(w, CB_E_INUSE, "this process already holds window '%s'", w->name);
        if (pid_alive(zero))
            return fail(w, CB_E_INUSE, "window '%s' already has a firmware attached (pid %u); "
                        "one firmware per window", w->name, zero);
        return fail(w, CB_E_INUSE, "window '%s' still belongs to firmware pid %u, which died; "
                    "the server has not released it yet", w->name, zero);
    }
    w->head = LDA(w, CB_H_HEAD);
    w->seq = LDA(w, CB_H_FETCH_SEQ);
    if (w->head != LDA(w, CB_H_TAIL) || w->seq != LDA(w, CB_H_DONE_SEQ)) {
        STR(w, CB_H_FW_PID, 0);
        return fail(w, CB_E_PROTO, "window '%s' was not reset by its server (head %u tail %u)",
                    w->name, w->head, LDA(w, CB_H_TAIL));
    }
    w->err_ack = LDA(w, CB_H_ERR_COUNT);
    STX(w, CB_H_ERR_ACK, w->err_ack);
    STX(w, CB_H_FW_ALARM, 0);
    STX(w, CB_H_FW_EXIT, 0);
    STX(w, CB_H_FW_HEARTBEAT, 0);
    atomic_fetch_add_explicit(hw(w, CB_H_SESSION), 1, memory_order_relaxed);
    STR(w, CB_H_FW_STATE, CB_FW_ATTACHED);
    w->grace_ms = grace_ms;
    atomic_store(&w->alarm, 0);
    return start_watchdog(w);
}

static int peer_error(cb_win *w) {
    return fail(w, CB_E_PEER, "%s", w->alarm_msg);
}

/* Firmware side: wait until every record posted so far (by anyone in this process: the
 * HAL included) is complete. */
static int fw_drain(cb_win *w, int timeout_ms) {
    backoff_t b;
    backoff_init(&b);
    double deadline = now_s() + timeout_ms / 1000.0;
    for (;;) {
        uint32_t head = LDA(w, CB_H_HEAD);
        /* TAIL is stored after FETCH_SEQ (release): seeing TAIL == head means FETCH_SEQ
         * counts every posted record */
        if (LDA(w, CB_H_TAIL) == head && LDA(w, CB_H_DONE_SEQ) == LDA(w, CB_H_FETCH_SEQ))
            return 0;
        if (atomic_load_explicit(&w->alarm, memory_order_acquire)) return peer_error(w);
        if (now_s() > deadline)
            return fail(w, CB_E_TIMEOUT, "posted requests not completed within %d ms", timeout_ms);
        backoff(&b);
    }
}

static int take_error(cb_win *w) {
    uint32_t cnt = LDA(w, CB_H_ERR_COUNT);
    uint32_t ack = LDX(w, CB_H_ERR_ACK);
    if (cnt == ack) return 0;
    w->err_info[0] = cnt - ack;
    w->err_info[1] = LDX(w, CB_H_ERR_SEQ);
    w->err_info[2] = LDX(w, CB_H_ERR_OP);
    w->err_info[3] = LDX(w, CB_H_ERR_ADDR);
    w->err_info[4] = LDX(w, CB_H_ERR_RESP);
    w->err_ack = cnt;
    STR(w, CB_H_ERR_ACK, cnt);
    uint32_t op = w->err_info[2], r = w->err_info[4];
    if (op == CB_OP_WAIT)           /* a timed-out wait: ERR_ADDR its timeout, RESP CMD */
        return fail(w, CB_E_DEVTIMEOUT, "command (CMD 0x%x) not done within %u ms (request "
                    "%u%s)", r, w->err_info[3], w->err_info[1],
                    w->err_info[0] > 1 ? ", more errors followed" : "");
    return fail(w, CB_E_BUS, "bus error: %s 0x%04x -> %s (request %u%s)",
                (op == CB_OP_WRITE || op == CB_OP_WRITE_FIXED) ? "write" : "read",
                w->err_info[3], r == 3 ? "DECERR" : r == 2 ? "SLVERR" : "resp?",
                w->err_info[1], w->err_info[0] > 1 ? ", more errors followed" : "");
}

/* Firmware side: finish the session: drain, report a late write error, record the exit
 * status.  Returns 0, CB_E_BUS (a posted write failed; msg), or a drain error. */
int cb_fw_detach(cb_win *w, int exit_code, int timeout_ms) {
    int e = 0;
    if (!atomic_load(&w->alarm)) {
        e = fw_drain(w, timeout_ms);
        if (e == 0) e = take_error(w);
    } else {
        e = peer_error(w);
    }
    stop_watchdog(w);
    STX(w, CB_H_FW_EXIT, (uint32_t)exit_code);
    STR(w, CB_H_FW_STATE, CB_FW_EXITED);
    return e;
}

void cb_close(cb_win *w) {
    stop_watchdog(w);
    if (w->base) {
        if (w->role == ROLE_SERVER) {
            if (LDX(w, CB_H_SRV_STATE) != CB_SRV_FAILED) STR(w, CB_H_SRV_STATE, CB_SRV_CLOSED);
            if (w->owner) shm_unlink(w->shm);
        } else {
            unlink_orphan(w);
        }
        munmap(w->base, w->size);
        w->base = NULL;
    }
}

void cb_free(cb_win *w) {
    if (!w) return;
    cb_close(w);
    free(w);
}

/* ------------------------------------------------------------------ firmware side (host) */

/* Make room for an n-word record at head: pad the lap if needed, wait for space. */
static int fw_room(cb_win *w, uint32_t n, int timeout_ms) {
    const uint32_t rw = CB_RING_WORDS;
    backoff_t b;
    backoff_init(&b);
    double deadline = 0;
    for (;;) {
        uint32_t idx = w->head & (rw - 1);
        uint32_t need = idx + n > rw ? rw - idx : n;
        uint32_t used = w->head - LDA(w, CB_H_TAIL);
        if (rw - used >= need) {
            if (need == n) return 0;
            ring(w)[idx] = 0;                          /* PAD to the end of the lap */
            w->head += need;
            STR(w, CB_H_HEAD, w->head);
            continue;
        }
        if (atomic_load_explicit(&w->alarm, memory_order_acquire)) return peer_error(w);
        if (deadline == 0) deadline = now_s() + timeout_ms / 1000.0;
        else if (now_s() > deadline)
            return fail(w, CB_E_TIMEOUT, "no room in the request ring for %d ms (server stuck?)",
                        timeout_ms);
        backoff(&b);
    }
}

static int fw_post(cb_win *w, uint32_t op, uint32_t addr, const uint32_t *data, uint32_t n,
                   uint32_t payload, int timeout_ms) {
    int e = fw_room(w, 2 + payload, timeout_ms);
    if (e) return e;
    uint32_t *r = ring(w) + (w->head & (CB_RING_WORDS - 1));
    w->seq++;
    r[0] = w->seq << CB_REC_SEQ_SHIFT | op << CB_REC_OP_SHIFT | n;
    r[1] = addr;
    if (payload) memcpy(r + 2, data, 4 * payload);
    w->head += 2 + payload;
    STR(w, CB_H_HEAD, w->head);
    return 0;
}

static int fw_complete(cb_win *w, int timeout_ms) {
    backoff_t b;
    backoff_init(&b);
    double deadline = 0;
    while (LDA(w, CB_H_DONE_SEQ) != w->seq) {
        if (atomic_load_explicit(&w->alarm, memory_order_acquire)) return peer_error(w);
        if (deadline == 0) deadline = now_s() + timeout_ms / 1000.0;
        else if (now_s() > deadline)
            return fail(w, CB_E_TIMEOUT, "no response to request %u within %d ms", w->seq,
                        timeout_ms);
        backoff(&b);
    }
    return take_error(w);
}

/* Posted write of n words (n <= MAX_BURST): returns without waiting. */
int cb_fw_write(cb_win *w, uint32_t addr, const uint32_t *data, uint32_t n, int fixed,
                int timeout_ms) {
    if (n == 0 || n > CB_MAX_BURST) return fail(w, CB_E_ARG, "burst of %u words", n);
    return fw_post(w, fixed ? CB_OP_WRITE_FIXED : CB_OP_WRITE, addr, data, n, n, timeout_ms);
}

/* Blocking read of n words into out.  A bus error (in it or in an earlier posted write)
 * returns CB_E_BUS; cb_err_info() has the details. */
int cb_fw_read(cb_win *w, uint32_t addr, uint32_t *out, uint32_t n, int fixed, int timeout_ms) {
    if (n == 0 || n > CB_MAX_BURST) return fail(w, CB_E_ARG, "burst of %u words", n);
    int e = fw_post(w, fixed ? CB_OP_READ_FIXED : CB_OP_READ, addr, NULL, n, 0, timeout_ms);
    if (e) return e;
    e = fw_complete(w, timeout_ms);
    memcpy(out, cb_rdbuf(w), 4 * n);
    return e;
}

/* Wait until the macro's running command is done: dev_timeout_ms of device time (the
 * server's clock), timeout_ms of wall-clock time for the response. */
int cb_fw_wait_done(cb_win *w, uint32_t dev_timeout_ms, int timeout_ms) {
    int e = fw_post(w, CB_OP_WAIT, dev_timeout_ms, NULL, 0, 0, timeout_ms);
    if (e) return e;
    e = fw_complete(w, timeout_ms);
    if (e) return e;
    if (LDA(w, CB_H_RSP_STATUS) == CB_RSP_TIMEOUT)
        return fail(w, CB_E_DEVTIMEOUT, "command not done within %u ms", dev_timeout_ms);
    return 0;
}

/* Wait until every posted write is done; report a bus error of any of them. */
int cb_fw_flush(cb_win *w, int timeout_ms) { return fw_complete(w, timeout_ms); }

/* Raw record (tests: corrupt or foreign traffic).  Publishes nothing else. */
int cb_fw_post_raw(cb_win *w, const uint32_t *words, uint32_t n) {
    int e = fw_room(w, n, 1000);
    if (e) return e;
    memcpy(ring(w) + (w->head & (CB_RING_WORDS - 1)), words, 4 * n);
    w->head += n;
    STR(w, CB_H_HEAD, w->head);
    return 0;
}

/* ------------------------------------------------------------------ server side */

/* Wait for the firmware to attach. 0, or CB_E_TIMEOUT. */
int cb_srv_wait_attach(cb_win *w, int timeout_ms) {
    backoff_t b;
    backoff_init(&b);
    double deadline = now_s() + timeout_ms / 1000.0;
    while (LDA(w, CB_H_FW_STATE) != CB_FW_ATTACHED) {
        if (now_s() > deadline)
            return fail(w, CB_E_TIMEOUT, "no firmware attached to window '%s' within %d ms",
                        w->name, timeout_ms);
        backoff(&b);
    }
    atomic_store(&w->alarm, 0);
    w->tail = LDA(w, CB_H_TAIL);
    w->fetch_seq = LDA(w, CB_H_FETCH_SEQ);
    return 0;
}

/* Take the pending records off the ring into out[] (at most max_words), stopping after a
 * blocking record.  Each record comes out as [seq, op << 12 | count, addr, payload...].
 * Returns the number of words (> 0), 0 when nothing arrived within timeout_ms, or
 * CB_E_EXITED (the firmware detached and every record was taken), CB_E_PEER (the
 * firmware died), CB_E_PROTO (a malformed record; the window is unusable). */
int cb_srv_fetch(cb_win *w, uint32_t *out, uint32_t max_words, int timeout_ms) {
    const uint32_t rw = CB_RING_WORDS, *r = ring(w);
    if (max_words < 3 + CB_MAX_BURST) return fail(w, CB_E_ARG, "fetch buffer too small");
    backoff_t b;
    backoff_init(&b);
    double deadline = 0;
    uint32_t head;
    for (;;) {
        head = LDA(w, CB_H_HEAD);
        if (head != w->tail) break;
        if (LDA(w, CB_H_FW_STATE) == CB_FW_EXITED) {
            head = LDA(w, CB_H_HEAD);
            if (head == w->tail) return CB_E_EXITED;
            break;
        }
        if (atomic_load_explicit(&w->alarm, memory_order_acquire)) return peer_error(w);
        if (timeout_ms <= 0) return 0;
        if (deadline == 0) deadline = now_s() + timeout_ms / 1000.0;
        else if (now_s() > deadline) return 0;
        backoff(&b);
    }
    uint32_t n = 0, tail = w->tail, seq = w->fetch_seq;
    int err = 0;
    while (tail != head) {
        uint32_t idx = tail & (rw - 1), avail = head - tail;
        uint32_t w0 = r[idx];
        uint32_t op = (w0 >> CB_REC_OP_SHIFT) & 0xF, cnt = w0 & CB_REC_COUNT_MASK;
        if (w0 == 0) {                          /* PAD: skip to the end of the lap */
            if (avail < rw - idx) {
                err = fail(w, CB_E_PROTO, "bad PAD at word %u: the lap ends past the published "
                           "head %u", tail, head);
                break;
            }
            tail += rw - idx;
            continue;
        }
        uint32_t tag = w0 >> CB_REC_SEQ_SHIFT, want = (seq + 1) & 0xFFFF;
        uint32_t payload = 0;
        int blocking = 0;
        if (tag != want) {
            err = fail(w, CB_E_PROTO, "ring desync at word %u: record tag %u, expected %u "
                       "(w0 0x%08x): two writers on one window, or a stale ring?", tail, tag,
                       want, w0);
            break;
        }
        if (op == CB_OP_WRITE || op == CB_OP_WRITE_FIXED) {
            payload = cnt;
        } else if (op == CB_OP_READ || op == CB_OP_READ_FIXED) {
            blocking = 1;
        } else if (op == CB_OP_WAIT) {
            blocking = 1;
        } else {
            err = fail(w, CB_E_PROTO, "bad record at word %u: op %u (w0 0x%08x)", tail, op, w0);
            break;
        }
        if (op == CB_OP_WAIT ? cnt != 0 : (cnt == 0 || cnt > CB_MAX_BURST)) {
            err = fail(w, CB_E_PROTO, "bad record at word %u: op %u with count %u (w0 0x%08x)",
                       tail, op, cnt, w0);
            break;
        }
        uint32_t len = 2 + payload;
        if (idx + len > rw || avail < len) {
            err = fail(w, CB_E_PROTO, "bad record at word %u: runs past the published head "
                       "or the end of the ring (w0 0x%08x, head %u)", tail, w0, head);
            break;
        }
        if (n + 3 + payload > max_words) break;
        out[n] = ++seq;
        out[n + 1] = w0 & 0xFFFF;
        out[n + 2] = r[idx + 1];
        if (payload) memcpy(out + n + 3, r + idx + 2, 4 * payload);
        n += 3 + payload;
        tail += len;
        if (blocking) break;
    }
    /* a malformed record: hand out the good ones before it first, fail on the next call */
    if (err && n == 0) return err;
    w->tail = tail;
    w->fetch_seq = seq;
    STX(w, CB_H_FETCH_SEQ, seq);
    STR(w, CB_H_TAIL, tail);        /* release: our reads of the records are done */
    return (int)n;
}

/* Record a bus error of the access to `addr` in record `seq` (first one since the
 * firmware's last acknowledgement keeps its details; all are counted). */
void cb_srv_error(cb_win *w, uint32_t seq, uint32_t op, uint32_t addr, uint32_t resp) {
    uint32_t cnt = LDX(w, CB_H_ERR_COUNT);
    if (cnt == LDA(w, CB_H_ERR_ACK)) {
        STX(w, CB_H_ERR_SEQ, seq);
        STX(w, CB_H_ERR_OP, op);
        STX(w, CB_H_ERR_ADDR, addr);
        STX(w, CB_H_ERR_RESP, resp);
    }
    STR(w, CB_H_ERR_COUNT, cnt + 1);
}

/* Complete every record up to `seq`; `status` answers the blocking one (RSP_*). */
void cb_srv_complete(cb_win *w, uint32_t seq, uint32_t status) {
    STX(w, CB_H_RSP_STATUS, status);
    STR(w, CB_H_DONE_SEQ, seq);     /* release: RDBUF, RSP and ERR_* are visible first */
}

/* After a session: make the window ready for the next firmware. */
void cb_srv_reset_session(cb_win *w) {
    STX(w, CB_H_HEAD, 0);
    STX(w, CB_H_TAIL, 0);
    STX(w, CB_H_FETCH_SEQ, 0);
    STX(w, CB_H_DONE_SEQ, 0);
    STX(w, CB_H_RSP_STATUS, 0);
    STX(w, CB_H_FW_ALARM, 0);
    STX(w, CB_H_FW_STATE, CB_FW_NONE);
    w->tail = w->fetch_seq = 0;
    atomic_store(&w->alarm, 0);
    STR(w, CB_H_FW_PID, 0);         /* last: open for the next attach */
}

/* Fatal server error: the firmware's watchdog reports `msg`. */
void cb_srv_fail(cb_win *w, const char *msg) {
    char *m = (char *)w->base + CB_H_MSG;
    snprintf(m, CB_MSG_BYTES, "%s", msg);
    STR(w, CB_H_SRV_STATE, CB_SRV_FAILED);
}
