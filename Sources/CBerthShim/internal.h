// Helpers shared by the child-side code. Everything here is async-signal-safe: no malloc, no stdio.
#ifndef BERTH_INTERNAL_H
#define BERTH_INTERNAL_H
#define _GNU_SOURCE
#include "berth_shim.h"
#include <errno.h>
#include <string.h>

struct berth_sb {
    char buf[1024];
    size_t n;
};

static inline void sb_add(struct berth_sb *s, const char *t) {
    if (!t) t = "(null)";
    while (*t && s->n + 1 < sizeof s->buf) s->buf[s->n++] = *t++;
    s->buf[s->n] = 0;
}

static inline void sb_int(struct berth_sb *s, long v) {
    char tmp[24];
    int i = 0, neg = v < 0;
    unsigned long u = neg ? (unsigned long)(-v) : (unsigned long)v;
    do { tmp[i++] = (char)('0' + u % 10); u /= 10; } while (u && i < 22);
    if (neg) tmp[i++] = '-';
    char out[24];
    int j = 0;
    while (i) out[j++] = tmp[--i];
    out[j] = 0;
    sb_add(s, out);
}

/// "/proc/self/fd/<fd>" into buf.
static inline const char *berth_fdpath(char *buf, size_t len, int fd) {
    struct berth_sb s;
    s.n = 0; s.buf[0] = 0;
    sb_add(&s, "/proc/self/fd/");
    sb_int(&s, fd);
    size_t n = s.n < len - 1 ? s.n : len - 1;
    memcpy(buf, s.buf, n);
    buf[n] = 0;
    return buf;
}

// Reports an error to the parent and exits. `err` is an errno (0 when `what` says it all).
__attribute__((noreturn)) void berth_die(const struct berth_config *cfg, int err, const char *what);
__attribute__((noreturn)) void berth_die2(const struct berth_config *cfg, int err, const char *a, const char *b);

// Runs the setup operations (mounts, /dev, pivot_root, ...). Dies on failure.
void berth_run_ops(const struct berth_config *cfg);
// Sets up the terminal: pty from the container's devpts, master sent to the console socket.
void berth_setup_console(const struct berth_config *cfg);

#endif
