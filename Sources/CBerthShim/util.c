// Parent-side helpers: messages over the sync socket, SCM_RIGHTS, waiting with signal forwarding.
#define _GNU_SOURCE
#include "berth_shim.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int berth_send(int fd, int type, int err, int pid, const char *text) {
    struct berth_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.err = err;
    m.pid = pid;
    if (text) {
        size_t n = strlen(text);
        if (n >= sizeof m.text) n = sizeof m.text - 1;
        memcpy(m.text, text, n);
    }
    for (;;) {
        ssize_t r = send(fd, &m, sizeof m, MSG_NOSIGNAL);
        if (r >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int berth_recv(int fd, struct berth_msg *msg) {
    memset(msg, 0, sizeof *msg);
    for (;;) {
        ssize_t r = recv(fd, msg, sizeof *msg, 0);
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int berth_recv_timeout(int fd, struct berth_msg *msg, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    memset(msg, 0, sizeof *msg);
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return 0;
        return berth_recv(fd, msg);
    }
}

int berth_send_fd(int sock, int fd, const char *name) {
    char buf[CMSG_SPACE(sizeof(int))];
    memset(buf, 0, sizeof buf);
    struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    for (;;) {
        ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (r >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int berth_recv_fd(int sock) {
    char name[4096];
    char buf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = name, .iov_len = sizeof name };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf };
    ssize_t r;
    do { r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC); } while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
            return fd;
        }
    }
    return -EBADMSG;
}

int berth_exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

int berth_wait_forward(pid_t pid) {
    sigset_t set, old;
    sigemptyset(&set);
    int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
    for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) sigaddset(&set, fwd[i]);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) { status = 255 << 8; break; }
        struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &ts);
        if (sig > 0 && sig != SIGCHLD) kill(pid, sig);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return berth_exit_code(status);
}

int berth_pidfd_open(pid_t pid) {
    long r = syscall(SYS_pidfd_open, pid, 0);
    return r < 0 ? -errno : (int)r;
}

void berth_proxy_pty(int master) {
    struct termios saved, raw;
    int tty = isatty(0) && tcgetattr(0, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, TCSANOW, &raw);
    }
    char buf[8192];
    struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = master, .events = POLLIN } };
    int stdin_open = 1;
    for (;;) {
        int r = poll(p, 2, -1);
        if (r < 0) { if (errno == EINTR) continue; break; }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n <= 0) break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(1, buf + off, (size_t)(n - off));
                if (w <= 0) { if (errno == EINTR) continue; break; }
                off += w;
            }
        }
        if (stdin_open && (p[0].revents & (POLLIN | POLLHUP))) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0) { stdin_open = 0; p[0].fd = -1; continue; }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(master, buf + off, (size_t)(n - off));
                if (w <= 0) { if (errno == EINTR) continue; break; }
                off += w;
            }
        }
    }
    if (tty) tcsetattr(0, TCSANOW, &saved);
}

int berth_memfd(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

long berth_fs_type(const char *path) {
    struct statfs s;
    if (statfs(path, &s) != 0) return -errno;
    return (long)s.f_type;
}

int berth_set_subreaper(int on) {
    return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) == 0 ? 0 : -errno;
}
