/* Small helpers: Docker-compatible JSON escaping, time formatting, files, sizes, runtime errors. */
#include "monitor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char hexd[] = "0123456789abcdef";

/* Length of a valid UTF-8 sequence at s (Go's utf8.DecodeRune rules), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp) {
    unsigned c = s[0];
    if (c < 0xC2 || c > 0xF4) return 0;
    size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n < len) return 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;      /* no surrogates */
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;      /* <= U+10FFFF */
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    unsigned v = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < len; i++) v = (v << 6) | (s[i] & 0x3F);
    *cp = v;
    return len;
}

size_t json_quote(char *dst, const char *src, size_t len) {
    const unsigned char *s = (const unsigned char *)src;
    char *d = dst;
    *d++ = '"';
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        if (b < 0x80) {
            if (b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&') {
                *d++ = (char)b;
            } else if (b == '\\' || b == '"') {
                *d++ = '\\';
                *d++ = (char)b;
            } else if (b == '\n') {
                *d++ = '\\';
                *d++ = 'n';
            } else if (b == '\r') {
                *d++ = '\\';
                *d++ = 'r';
            } else {
                memcpy(d, "\\u00", 4);
                d[4] = hexd[b >> 4];
                d[5] = hexd[b & 0xF];
                d += 6;
            }
            i++;
            continue;
        }
        unsigned cp = 0;
        size_t l = utf8_len(s + i, len - i, &cp);
        if (l == 0) {
            memcpy(d, "\\ufffd", 6);
            d += 6;
            i++;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029) {
            memcpy(d, "\\u202", 5);
            d[5] = hexd[cp & 0xF];
            d += 6;
        } else {
            memcpy(d, s + i, l);
            d += l;
        }
        i += l;
    }
    *d++ = '"';
    return (size_t)(d - dst);
}

void fmt_time(char *out, const struct timespec *ts) {
    /* UTC civil date from days since the epoch (H. Hinnant's algorithm): no tz database, no
     * /etc/localtime read by glibc's gmtime. */
    long long secs = ts->tv_sec;
    long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    long long sod = secs - days * 86400;
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = yoe + era * 400;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1;
    long long m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    snprintf(out, 32, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%09ldZ", y, m, d, sod / 3600, sod / 60 % 60,
             sod % 60, (long)ts->tv_nsec);
}

int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) return -1;
    if (write_all(fd, data, len) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

ssize_t read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

long long parse_size(const char *s) {
    /* ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$, decimal multipliers (units.FromHumanSize) */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isdigit((unsigned char)s[0])) return -1;
    if (*end == ' ') end++;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1e3; end++; break;
    case 'm': case 'M': mul = 1e6; end++; break;
    case 'g': case 'G': mul = 1e9; end++; break;
    case 't': case 'T': mul = 1e12; end++; break;
    case 'p': case 'P': mul = 1e15; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return -1;
    return (long long)(v * mul);
}

/* Unquote a Go-quoted ("..." with \" \\ \n \t) or JSON string starting at p (after the opening quote). */
static void unquote(const char *p, const char *end, char *out, size_t cap) {
    size_t o = 0;
    while (p < end && *p != '"' && o + 1 < cap) {
        if (*p == '\\' && p + 1 < end) {
            p++;
            char c = *p++;
            switch (c) {
            case 'n': out[o++] = '\n'; break;
            case 't': out[o++] = '\t'; break;
            case 'r': out[o++] = '\r'; break;
            case 'u':
                if (end - p >= 4) {
                    unsigned v = (unsigned)strtoul((char[]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
                    p += 4;
                    if (v < 0x80) out[o++] = (char)v;
                    else if (v < 0x800 && o + 2 < cap) {
                        out[o++] = (char)(0xC0 | (v >> 6));
                        out[o++] = (char)(0x80 | (v & 0x3F));
                    } else if (o + 3 < cap) {
                        out[o++] = (char)(0xE0 | (v >> 12));
                        out[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
                        out[o++] = (char)(0x80 | (v & 0x3F));
                    }
                }
                break;
            default: out[o++] = c; break;
            }
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
}

void runtime_error_text(const char *raw, size_t n, char *out, size_t cap) {
    /* Prefer the last error-level logrus line (text: level=error msg="..."; JSON: "msg":"..."),
     * else the last non-empty line. */
    const char *best = NULL, *best_end = NULL, *last = NULL, *last_end = NULL;
    bool best_json = false;
    const char *p = raw, *end = raw + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        while (q < le && isspace((unsigned char)*q)) q++;
        if (q < le) {
            last = q;
            last_end = le;
            bool lvl_err = memmem(q, (size_t)(le - q), "level=error", 11) || memmem(q, (size_t)(le - q), "level=fatal", 11);
            bool json_err = memmem(q, (size_t)(le - q), "\"level\":\"error\"", 15) || memmem(q, (size_t)(le - q), "\"level\":\"fatal\"", 15);
            if (lvl_err || json_err) {
                best = q;
                best_end = le;
                best_json = json_err;
            }
        }
        p = le + 1;
    }
    if (best) {
        const char *m = best_json ? memmem(best, (size_t)(best_end - best), "\"msg\":\"", 7)
                                  : memmem(best, (size_t)(best_end - best), "msg=\"", 5);
        if (m) {
            unquote(m + (best_json ? 7 : 5), best_end, out, cap);
            return;
        }
        last = best;
        last_end = best_end;
    }
    if (!last) {
        snprintf(out, cap, "%s", "");
        return;
    }
    while (last_end > last && isspace((unsigned char)last_end[-1])) last_end--;
    size_t l = (size_t)(last_end - last);
    if (l >= cap) l = cap - 1;
    memcpy(out, last, l);
    out[l] = 0;
}

void set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}
