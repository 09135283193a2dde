/* Docker json-file log driver: one JSON object per line, rotation like moby's loggerutils.LogFile. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Worst case: every byte escaped as \u00XX plus the newline, the quotes and the other fields. */
static char entry[MON_LINE_MAX * 6 + MON_ATTRS_MAX + 256];

static int open_log(const char *path, bool trunc) {
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | (trunc ? O_TRUNC : 0), 0640);
}

int jsonlog_open(struct jsonlog *l, const char *path, long long max_size, int max_file, bool *created) {
    l->fd = -1;
    l->path = path;
    l->max_size = max_size;
    l->max_file = max_file < 1 ? 1 : max_file;
    l->size = 0;
    l->attrs = NULL;
    if (!path) return 0;
    struct stat st;
    *created = stat(path, &st) < 0;
    l->fd = open_log(path, false);
    if (l->fd < 0) return -1;
    if (fstat(l->fd, &st) == 0) l->size = st.st_size;
    return 0;
}

/* moby: rotate() keeps max_file files: log.(n-1) dropped, log.i -> log.(i+1), log -> log.1. */
static void rotate(struct jsonlog *l) {
    char from[PATH_MAX], to[PATH_MAX];
    close(l->fd);
    l->fd = -1;
    if (l->max_file >= 2) {
        snprintf(to, sizeof to, "%s.%d", l->path, l->max_file - 1);
        unlink(to);
        for (int i = l->max_file - 1; i > 1; i--) {
            snprintf(to, sizeof to, "%s.%d", l->path, i);
            snprintf(from, sizeof from, "%s.%d", l->path, i - 1);
            rename(from, to);
        }
        snprintf(to, sizeof to, "%s.1", l->path);
        rename(l->path, to);
    }
    l->fd = open_log(l->path, true);
    l->size = 0;
}

void jsonlog_entry(struct jsonlog *l, const char *stream, const char *data, size_t len, bool newline,
                   const struct timespec *ts) {
    if (l->fd < 0 && !l->path) return;
    if (len > MON_LINE_MAX) len = MON_LINE_MAX;
    char *p = entry;
    memcpy(p, "{\"log\":", 7);
    p += 7;
    /* Quote data (+ the '\n' Docker appends to complete lines) in one go. */
    p += json_quote(p, data, len);
    if (newline) {
        p[-1] = '\\';
        *p++ = 'n';
        *p++ = '"';
    }
    /* moby's order: log, stream, attrs (json.Marshal of a map: sorted keys), time */
    p += sprintf(p, ",\"stream\":\"%s\"", stream);
    if (l->attrs) p += sprintf(p, ",\"attrs\":%s", l->attrs);
    memcpy(p, ",\"time\":\"", 9);
    p += 9;
    fmt_time(p, ts);
    p += strlen(p);
    memcpy(p, "\"}\n", 3);
    p += 3;
    size_t n = (size_t)(p - entry);

    if (l->fd >= 0 && l->max_size > 0 && l->size >= l->max_size) rotate(l);
    if (l->fd < 0) l->fd = open_log(l->path, false); /* rotation failed earlier: retry */
    if (l->fd >= 0 && write_all(l->fd, entry, n) == 0) l->size += (long long)n;

    /* Give back the pages a huge (escaped) line touched: keep RSS small. */
    const size_t keep = 32768;
    if (n > keep + 4096) {
        uintptr_t a = ((uintptr_t)entry + keep + 4095) & ~(uintptr_t)4095;
        uintptr_t e = ((uintptr_t)entry + n) & ~(uintptr_t)4095;
        if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
    }
}

void jsonlog_close(struct jsonlog *l) {
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}
