/* Running the OCI runtime; receiving the console (pty master) over the console socket. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

pid_t spawn_runtime(const struct options *o, const char *const *args, int in, int out, int err) {
    const char *argv[MON_MAX_RUNTIME_ARGS + 24];
    int n = 0;
    argv[n++] = o->runtime;
    for (int i = 0; i < o->n_runtime_args; i++) argv[n++] = o->runtime_args[i];
    if (o->runtime_root) {
        argv[n++] = "--root";
        argv[n++] = o->runtime_root;
    }
    for (int i = 0; args[i] && n < (int)(sizeof argv / sizeof argv[0]) - 1; i++) argv[n++] = args[i];
    argv[n] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    /* in/out/err are >= 3 (0-2 are /dev/null in the monitor) and CLOEXEC: dup2 makes 0-2 inheritable;
     * nothing else the monitor holds reaches the runtime (CVE-2024-21626 class). */
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, err, 2);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = strchr(o->runtime, '/') ? posix_spawn(&pid, o->runtime, &fa, &at, (char *const *)argv, environ)
                                     : posix_spawnp(&pid, o->runtime, &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

int wait_pid(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return st;
}

int run_runtime_capture(const struct options *o, const char *const *args, char *cap, size_t capsz) {
    int p[2];
    cap[0] = 0;
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = spawn_runtime(o, args, nul, p[1], p[1]);
    int e = errno;
    close(p[1]);
    if (nul >= 0) close(nul);
    if (pid < 0) {
        close(p[0]);
        errno = e;
        return -1;
    }
    size_t n = 0;
    for (;;) {
        char tmp[512];
        ssize_t r = read(p[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t k = (size_t)r;
        if (n + k >= capsz) k = capsz - 1 - n;
        memcpy(cap + n, tmp, k);
        n += k;
    }
    cap[n] = 0;
    close(p[0]);
    return wait_pid(pid);
}

int recv_console(int listen_fd) {
    int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return -1;
    char b[1];
    struct iovec iov = {.iov_base = b, .iov_len = sizeof b};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t r;
    do r = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    close(c);
    if (r < 0) return -1;
    int fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        size_t cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[4];
        memcpy(fds, CMSG_DATA(cm), cnt * sizeof(int));
        for (size_t i = 0; i < cnt; i++) {
            if (fd < 0) fd = fds[i];
            else close(fds[i]);
        }
    }
    if (fd < 0) errno = EPROTO;
    return fd;
}
