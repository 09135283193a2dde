/* The event loop: container output -> json-file log + attach clients; attach stdin -> container;
 * ctl fifo (resize, kill); SIGCHLD -> exit status; then drain, exit file, goodbye. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static char stdin_buf[MON_PKT_MAX];
static size_t stdin_len, stdin_off;
static bool stdin_close_pending;
static char ctl_buf[256];
static size_t ctl_len;

/* ---------------------------------------------------------------- attach clients */
int attach_accept_one(struct monitor *m) {
    int c = accept4(m->attach_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return -1;
    if (m->n_clients >= MON_MAX_CLIENTS) {
        close(c);
        return -1;
    }
    /* A generous kernel-side buffer so a briefly busy client is not dropped; costs nothing idle. */
    int sz = 512 * 1024;
    if (setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
        setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    m->clients[m->n_clients].fd = c;
    m->clients[m->n_clients].stdin_done = false;
    m->n_clients++;
    return c;
}

static void drop_client(struct monitor *m, int i) {
    close(m->clients[i].fd);
    m->clients[i] = m->clients[m->n_clients - 1];
    m->n_clients--;
}

/* One packet per chunk: [stream id][payload]. A client that cannot take it now is disconnected:
 * a slow reader never blocks the container or the log. */
static void send_clients(struct monitor *m, unsigned char id, const char *data, size_t len) {
    for (int i = m->n_clients - 1; i >= 0; i--) {
        struct iovec iov[2] = {{.iov_base = &id, .iov_len = 1}, {.iov_base = (void *)data, .iov_len = len}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t r;
        do r = sendmsg(m->clients[i].fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        if (r < 0) drop_client(m, i);
    }
}

/* ---------------------------------------------------------------- stdin */
static void close_stdin(struct monitor *m) {
    stdin_close_pending = false;
    if (m->stdin_fd < 0) return;
    if (m->master_fd >= 0 && m->stdin_fd == m->master_fd) {
        /* A pty has no half-close: send the EOF character (^D) like a terminal user would. */
        struct termios t;
        char eof = 4;
        if (tcgetattr(m->master_fd, &t) == 0 && t.c_cc[VEOF]) eof = (char)t.c_cc[VEOF];
        (void)!write(m->master_fd, &eof, 1);
    } else {
        close(m->stdin_fd);
    }
    m->stdin_fd = -1;
}

static void flush_stdin(struct monitor *m) {
    while (stdin_off < stdin_len && m->stdin_fd >= 0) {
        ssize_t w = write(m->stdin_fd, stdin_buf + stdin_off, stdin_len - stdin_off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            /* EPIPE: the process closed its stdin; drop what is pending. */
            stdin_off = stdin_len = 0;
            if (m->master_fd < 0 || m->stdin_fd != m->master_fd) close(m->stdin_fd);
            m->stdin_fd = -1;
            return;
        }
        stdin_off += (size_t)w;
    }
    stdin_off = stdin_len = 0;
    if (stdin_close_pending) close_stdin(m);
}

static void client_input(struct monitor *m, int i) {
    struct client *c = &m->clients[i];
    ssize_t r;
    if (stdin_len > stdin_off) return; /* another client's packet is still pending: read later */
    if (m->stdin_fd >= 0 && !stdin_close_pending) {
        do r = recv(c->fd, stdin_buf, sizeof stdin_buf, MSG_DONTWAIT);
        while (r < 0 && errno == EINTR);
    } else {
        char trash[1];
        do r = recv(c->fd, trash, sizeof trash, MSG_DONTWAIT | MSG_TRUNC);
        while (r < 0 && errno == EINTR);
        if (r > 0) return; /* stdin not open: discarded */
    }
    if (r < 0) {
        if (errno != EAGAIN) drop_client(m, i);
        return;
    }
    if (r == 0) { /* zero-length packet or shutdown(SHUT_WR): this client's stdin EOF */
        c->stdin_done = true;
        if (m->o.stdin_once) {
            if (stdin_len > stdin_off) stdin_close_pending = true;
            else close_stdin(m);
        }
        return;
    }
    stdin_len = (size_t)r;
    stdin_off = 0;
    flush_stdin(m);
}

/* ---------------------------------------------------------------- ctl fifo */
static void ctl_line(struct monitor *m, char *line) {
    int a, b;
    if (sscanf(line, "resize %d %d", &a, &b) == 2) {
        if (m->master_fd >= 0 && a >= 0 && b >= 0 && a <= 0xFFFF && b <= 0xFFFF) {
            struct winsize ws = {.ws_row = (unsigned short)a, .ws_col = (unsigned short)b};
            ioctl(m->master_fd, TIOCSWINSZ, &ws);
        }
    } else if (sscanf(line, "kill %d", &a) == 1) {
        /* Safe from pid reuse: the process is our child (subreaper) until we reap it. */
        if (!m->exited && a > 0 && a < 65) kill(m->pid, a);
    } else if (strncmp(line, "close-stdin", 11) == 0) {
        if (stdin_len > stdin_off) stdin_close_pending = true;
        else close_stdin(m);
    }
}

static void ctl_input(struct monitor *m) {
    for (;;) {
        if (ctl_len == sizeof ctl_buf) ctl_len = 0; /* garbage without newline: drop */
        ssize_t r = read(m->ctl_fd, ctl_buf + ctl_len, sizeof ctl_buf - ctl_len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return;
        ctl_len += (size_t)r;
        char *p = ctl_buf, *end = ctl_buf + ctl_len, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
            *nl = 0;
            ctl_line(m, p);
            p = nl + 1;
        }
        ctl_len = (size_t)(end - p);
        memmove(ctl_buf, p, ctl_len);
    }
}

/* ---------------------------------------------------------------- output streams */
/* Docker's copier: log complete lines (with "\n"); a 16 KiB buffer without a newline, and whatever
 * is left at EOF, go out as partial entries without "\n". */
static void stream_lines(struct monitor *m, struct stream *s, bool eof, const struct timespec *ts) {
    size_t p = 0;
    char *nl;
    while (p < s->n && (nl = memchr(s->buf + p, '\n', s->n - p))) {
        size_t q = (size_t)(nl - (s->buf + p));
        jsonlog_entry(&m->log, s->name, s->buf + p, q, true, ts);
        p += q + 1;
    }
    if (eof || (p == 0 && s->n == sizeof s->buf)) {
        if (p < s->n) jsonlog_entry(&m->log, s->name, s->buf + p, s->n - p, false, ts);
        p = s->n = 0;
    }
    if (p > 0) {
        memmove(s->buf, s->buf + p, s->n - p);
        s->n -= p;
    }
}

static void stream_eof(struct monitor *m, struct stream *s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    stream_lines(m, s, true, &ts);
    if (s->fd == m->master_fd) {
        if (m->stdin_fd == m->master_fd) m->stdin_fd = -1;
        m->master_fd = -1;
    }
    close(s->fd);
    s->fd = -1;
}

/* Returns false at EOF. */
static bool stream_read(struct monitor *m, struct stream *s) {
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t r = read(s->fd, s->buf + s->n, sizeof s->buf - s->n);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return true;
            stream_eof(m, s); /* EIO: the pty's last slave fd closed */
            return false;
        }
        if (r == 0) {
            stream_eof(m, s);
            return false;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        send_clients(m, s->id, s->buf + s->n, (size_t)r);
        s->n += (size_t)r;
        stream_lines(m, s, false, &ts);
    }
    return true;
}

/* ---------------------------------------------------------------- exit */
static void reap(struct monitor *m) {
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p <= 0) return;
        if (p == m->pid && !m->exited) {
            m->exited = true;
            m->status = st;
            clock_gettime(CLOCK_REALTIME, &m->exited_at);
        }
    }
}

static long long read_counter(const char *file, const char *key) {
    char buf[1024];
    if (!file[0] || read_file(file, buf, sizeof buf) < 0) return -1;
    size_t kl = strlen(key);
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') return atoll(p + kl + 1);
    }
    return -1;
}

void oom_prepare(struct monitor *m) {
    char path[64], buf[4096];
    m->oom_start = -1;
    m->cgroup_oom_file[0] = 0;
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)m->pid);
    if (read_file(path, buf, sizeof buf) < 0) return;
    char *v2 = NULL;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = 0;
        const char *ctrls = c1 + 1;
        if (strcmp(line, "0") == 0 && ctrls[0] == 0) v2 = c2 + 1;
        /* v1: a hierarchy whose controller list contains "memory" */
        for (const char *p = ctrls; (p = strstr(p, "memory"));) {
            if ((p == ctrls || p[-1] == ',') && (p[6] == 0 || p[6] == ',')) {
                snprintf(m->cgroup_oom_file, sizeof m->cgroup_oom_file, "/sys/fs/cgroup/memory%s/memory.oom_control",
                         c2 + 1);
                m->oom_key = "oom_kill";
                m->oom_start = read_counter(m->cgroup_oom_file, m->oom_key);
                return;
            }
            p += 6;
        }
    }
    if (v2) {
        snprintf(m->cgroup_oom_file, sizeof m->cgroup_oom_file, "/sys/fs/cgroup%s/memory.events", v2);
        m->oom_key = "oom_kill";
        m->oom_start = read_counter(m->cgroup_oom_file, m->oom_key);
    }
}

bool oom_check(struct monitor *m) {
    if (m->oom_start < 0) return false;
    long long now = read_counter(m->cgroup_oom_file, m->oom_key);
    return now > m->oom_start;
}

static void finish(struct monitor *m) {
    for (int i = 0; i < 2; i++)
        if (m->out[i].fd >= 0) {
            stream_read(m, &m->out[i]);
            if (m->out[i].fd >= 0) stream_eof(m, &m->out[i]);
        }
    int code = 0, sig = 0;
    if (WIFEXITED(m->status)) code = WEXITSTATUS(m->status);
    else if (WIFSIGNALED(m->status)) {
        sig = WTERMSIG(m->status);
        code = 128 + sig;
    }
    /* The network namespace made for the process (--netns) goes with it, before the exit is
     * announced: whoever sees the exit file finds it gone. */
    netns_remove(m->o.netns);
    char ts[32], json[256];
    fmt_time(ts, &m->exited_at);
    int n = snprintf(json, sizeof json, "{\"pid\":%d,\"exitCode\":%d,\"signal\":%d,\"exitedAt\":\"%s\",\"oomKilled\":%s}\n",
                     (int)m->pid, code, sig, ts, oom_check(m) ? "true" : "false");
    write_file_atomic(m->o.exit_file, json, (size_t)n, 0644);
    /* Attach clients see EOF once the exit file is in place. */
    for (int i = m->n_clients - 1; i >= 0; i--) drop_client(m, i);
    unlink(m->attach_path);
    unlink(m->ctl_path);
    unlink(m->o.monitor_pid_file);
    jsonlog_close(&m->log);
    _exit(0);
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- loop */
void loop_run(struct monitor *m) {
    struct pollfd pfd[8 + MON_MAX_CLIENTS];
    long long deadline = 0;
    reap(m);
    for (;;) {
        if (m->exited) {
            if (!deadline) deadline = now_ms() + MON_DRAIN_MS;
            if ((m->out[0].fd < 0 && m->out[1].fd < 0) || now_ms() >= deadline) finish(m);
        }
        int n = 0;
        int i_sig = n;
        pfd[n++] = (struct pollfd){.fd = m->sig_fd, .events = POLLIN};
        int i_att = n;
        pfd[n++] = (struct pollfd){.fd = m->attach_fd, .events = POLLIN};
        int i_ctl = n;
        pfd[n++] = (struct pollfd){.fd = m->ctl_fd, .events = POLLIN};
        int i_out = n;
        for (int k = 0; k < 2; k++) pfd[n++] = (struct pollfd){.fd = m->out[k].fd, .events = POLLIN};
        int i_in = n;
        bool pending = stdin_len > stdin_off;
        pfd[n++] = (struct pollfd){.fd = pending ? m->stdin_fd : -1, .events = POLLOUT};
        int i_cl = n;
        for (int k = 0; k < m->n_clients; k++) {
            bool want = !m->clients[k].stdin_done && !pending;
            pfd[n++] = (struct pollfd){.fd = m->clients[k].fd, .events = want ? POLLIN : 0};
        }
        int timeout = -1;
        if (m->exited) {
            long long left = deadline - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r < 0) {
            if (errno == EINTR) continue;
            _exit(1);
        }
        /* ctl before stdin: a resize sent before input applies before the input. */
        if (pfd[i_ctl].revents) ctl_input(m);
        /* Clients before output (pfd indexes stay valid: only client handling reorders clients
         * until here); iterate backwards, drop_client moves the last one into the hole. */
        int nc = m->n_clients;
        for (int k = nc - 1; k >= 0; k--) {
            short re = pfd[i_cl + k].revents;
            if (!re) continue;
            if (re & POLLIN) client_input(m, k);
            else if (re & (POLLHUP | POLLERR | POLLNVAL)) drop_client(m, k);
        }
        if (pfd[i_in].revents) flush_stdin(m);
        /* Output before reaping, so nothing is lost between the process' last write and its exit. */
        for (int k = 0; k < 2; k++)
            if (m->out[k].fd >= 0 && pfd[i_out + k].revents) stream_read(m, &m->out[k]);
        if (pfd[i_sig].revents) {
            struct signalfd_siginfo si[8];
            while (read(m->sig_fd, si, sizeof si) > 0) {
            }
            reap(m);
        }
        if (pfd[i_att].revents) attach_accept_one(m);
    }
}
