// The two child stages of container creation (see berth_shim.h).
#include "internal.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

void berth_die(const struct berth_config *cfg, int err, const char *what) {
    berth_send(cfg->sync_fd, BERTH_MSG_ERROR, err, 0, what);
    _exit(1);
}

void berth_die2(const struct berth_config *cfg, int err, const char *a, const char *b) {
    struct berth_sb s = { .n = 0 };
    s.buf[0] = 0;
    sb_add(&s, a);
    sb_add(&s, b);
    berth_die(cfg, err, s.buf);
}

// Go-style error text ("exec format error"): glibc's description with a lower-case first letter.
static void sb_err(struct berth_sb *s, int e) {
    const char *d = strerrordesc_np(e);
    if (!d) { sb_add(s, "errno "); sb_int(s, e); return; }
    size_t start = s->n;
    sb_add(s, d);
    if (s->buf[start] >= 'A' && s->buf[start] <= 'Z' && !(s->buf[start + 1] >= 'A' && s->buf[start + 1] <= 'Z'))
        s->buf[start] = (char)(s->buf[start] + 32);
}

// glibc's setuid family broadcasts the change to every thread it knows of and waits for them; in a
// child forked from a multithreaded process those threads do not exist, so use the raw syscalls
// (which act on the calling thread, the only one here).
static int sys_setresuid(uid_t u) { return (int)syscall(SYS_setresuid, u, u, u); }
static int sys_setresgid(gid_t g) { return (int)syscall(SYS_setresgid, g, g, g); }
static int sys_setgroups(size_t n, const gid_t *g) { return (int)syscall(SYS_setgroups, n, g); }

static pid_t raw_fork(unsigned long flags) {
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

static void reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        sigaction(s, &sa, NULL);
    }
}

// Closes every fd except stdio and the ones the config needs (CVE-2024-21626: nothing of the
// runtime's may leak into the container).
static void close_stray_fds(const struct berth_config *cfg) {
    int keep[96];
    int n = 0;
    keep[n++] = 0; keep[n++] = 1; keep[n++] = 2;
    keep[n++] = cfg->sync_fd;
    if (cfg->exec_fifo_fd >= 0) keep[n++] = cfg->exec_fifo_fd;
    if (cfg->console_socket >= 0) keep[n++] = cfg->console_socket;
    for (int i = 0; i < cfg->njoins && n < 80; i++) keep[n++] = cfg->joins[i].fd;
    for (int i = 0; i < cfg->nkeep && n < 95; i++) keep[n++] = cfg->keep_fds[i];
    // insertion sort
    for (int i = 1; i < n; i++) {
        int v = keep[i], j = i - 1;
        while (j >= 0 && keep[j] > v) { keep[j + 1] = keep[j]; j--; }
        keep[j + 1] = v;
    }
    int next = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i] < next) continue;
        if (keep[i] > next) syscall(SYS_close_range, (unsigned)next, (unsigned)(keep[i] - 1), 0);
        next = keep[i] + 1;
    }
    syscall(SYS_close_range, (unsigned)next, ~0U, 0);
}

static void wait_continue(const struct berth_config *cfg) {
    struct berth_msg m;
    int r = berth_recv(cfg->sync_fd, &m);
    if (r != 1 || m.type != BERTH_MSG_CONTINUE) _exit(1);
}

static const char *env_get(const struct berth_config *cfg, const char *key) {
    size_t kl = strlen(key);
    for (const char *const *e = cfg->envp; e && *e; e++)
        if (strncmp(*e, key, kl) == 0 && (*e)[kl] == '=') return *e + kl + 1;
    return NULL;
}

// Go's exec.LookPath, with the same messages (runc reports them this way, Docker maps them to 126/127).
static void look_path(const struct berth_config *cfg, char *out, size_t outlen) {
    const char *name = cfg->argv[0];
    struct stat st;
    struct berth_sb s = { .n = 0 };
    s.buf[0] = 0;
    if (strchr(name, '/')) {
        if (stat(name, &st) != 0) {
            int e = errno;
            sb_add(&s, "exec: \""); sb_add(&s, name); sb_add(&s, "\": stat "); sb_add(&s, name);
            berth_die(cfg, e, s.buf);
        }
        if (S_ISDIR(st.st_mode) || (st.st_mode & 0111) == 0) {
            sb_add(&s, "exec: \""); sb_add(&s, name); sb_add(&s, "\"");
            berth_die(cfg, EACCES, s.buf);
        }
        size_t n = strlen(name);
        if (n >= outlen) n = outlen - 1;
        memcpy(out, name, n);
        out[n] = 0;
        return;
    }
    const char *path = env_get(cfg, "PATH");
    if (path && *name) {
        const char *p = path;
        for (;;) {
            const char *end = strchr(p, ':');
            size_t dl = end ? (size_t)(end - p) : strlen(p);
            char cand[4096];
            size_t nl = strlen(name);
            if (dl + nl + 2 < sizeof cand) {
                if (dl == 0) { cand[0] = '.'; dl = 1; } else memcpy(cand, p, dl);
                cand[dl] = '/';
                memcpy(cand + dl + 1, name, nl + 1);
                if (stat(cand, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) {
                    size_t n = strlen(cand);
                    if (n >= outlen) n = outlen - 1;
                    memcpy(out, cand, n);
                    out[n] = 0;
                    return;
                }
            }
            if (!end) break;
            p = end + 1;
        }
    }
    sb_add(&s, "exec: \""); sb_add(&s, name); sb_add(&s, "\": executable file not found in $PATH");
    berth_die(cfg, 0, s.buf);
}

static void load_seccomp(const struct berth_config *cfg) {
    if (!cfg->seccomp_bpf) return;
    struct sock_fprog prog = { .len = (unsigned short)cfg->seccomp_len, .filter = (struct sock_filter *)cfg->seccomp_bpf };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, cfg->seccomp_flags, &prog) != 0) {
        if (errno == EINVAL && cfg->seccomp_flags == 0) berth_die(cfg, errno, "load seccomp filter");
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) berth_die(cfg, errno, "load seccomp filter");
    }
}

static void apply_user_and_caps(const struct berth_config *cfg) {
    if (cfg->caps_set) {
        for (int c = 0; c <= cfg->cap_last && c < 64; c++)
            if (!(cfg->cap_bounding & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
                berth_die(cfg, errno, "drop bounding capability");
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) berth_die(cfg, errno, "keep capabilities");
    }
    if (cfg->set_groups && sys_setgroups((size_t)cfg->ngroups, (const gid_t *)cfg->groups) != 0)
        berth_die(cfg, errno, "setgroups");
    if (sys_setresgid(cfg->gid) != 0) berth_die(cfg, errno, "setgid");
    if (sys_setresuid(cfg->uid) != 0) berth_die(cfg, errno, "setuid");
    if (cfg->caps_set) {
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[2];
        d[0].effective = (uint32_t)cfg->cap_effective;
        d[1].effective = (uint32_t)(cfg->cap_effective >> 32);
        d[0].permitted = (uint32_t)cfg->cap_permitted;
        d[1].permitted = (uint32_t)(cfg->cap_permitted >> 32);
        d[0].inheritable = (uint32_t)cfg->cap_inheritable;
        d[1].inheritable = (uint32_t)(cfg->cap_inheritable >> 32);
        if (syscall(SYS_capset, &h, d) != 0) berth_die(cfg, errno, "capset");
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        for (int c = 0; c <= cfg->cap_last && c < 64; c++)
            if (cfg->cap_ambient & (1ULL << c)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
    }
}

// tini-like PID 1: runs the process as its child, forwards signals to it, reaps every zombie and
// exits with the child's status (128+N when it was killed by signal N).
__attribute__((noreturn)) static void run_init(const struct berth_config *cfg, const char *path, int fifo_w) {
    pid_t child = raw_fork(0);
    if (child < 0) berth_die(cfg, errno, "fork init child");
    if (child == 0) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, (char *const *)cfg->argv, (char *const *)cfg->envp);
        int e = errno;
        struct berth_sb s = { .n = 0 };
        s.buf[0] = 0;
        sb_add(&s, "exec "); sb_add(&s, path); sb_add(&s, ": "); sb_err(&s, e);
        if (fifo_w >= 0) { ssize_t w = write(fifo_w, s.buf, s.n); (void)w; }
        berth_send(cfg->sync_fd, BERTH_MSG_ERROR, e, 0, s.buf);
        _exit(255);
    }
    // Our copies of the exec FIFO and the sync socket go; the child's close when it execs.
    if (fifo_w >= 0) close(fifo_w);
    close(cfg->sync_fd);
    syscall(SYS_close_range, 3U, ~0U, 0);
    sigset_t all;
    sigfillset(&all);
    int code = 0;
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            kill(child, sig);
            continue;
        }
        for (;;) {
            int st;
            pid_t p = waitpid(-1, &st, WNOHANG);
            if (p <= 0) break;
            if (p == child) {
                code = berth_exit_code(st);
                child = -1;
            }
        }
        if (child == -1) {
            while (waitpid(-1, NULL, WNOHANG) > 0) {}
            _exit(code);
        }
    }
}

__attribute__((noreturn)) static void stage2(const struct berth_config *cfg) {
    if (setsid() < 0 && !cfg->is_exec) berth_die(cfg, errno, "setsid");
    if (!cfg->is_exec) berth_run_ops(cfg);
    if (cfg->want_terminal) berth_setup_console(cfg);
    if (cfg->oom_score_adj_set) {
        struct berth_sb s = { .n = 0 };
        s.buf[0] = 0;
        sb_int(&s, cfg->oom_score_adj);
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) berth_die(cfg, errno, "open oom_score_adj");
        // Only ever write to procfs (a mount over /proc/self/... must not redirect the write).
        struct statfs sfs;
        if (fstatfs(fd, &sfs) != 0 || sfs.f_type != PROC_SUPER_MAGIC)
            berth_die(cfg, EINVAL, "refusing to write oom_score_adj: not on procfs");
        if (write(fd, s.buf, s.n) < 0) berth_die(cfg, errno, "write oom_score_adj");
        close(fd);
    }
    for (int i = 0; i < cfg->nrlimits; i++) {
        struct rlimit rl = { .rlim_cur = cfg->rlimits[i].soft, .rlim_max = cfg->rlimits[i].hard };
        if (setrlimit(cfg->rlimits[i].resource, &rl) != 0) berth_die(cfg, errno, "setrlimit");
    }
    umask(cfg->umask >= 0 ? (mode_t)cfg->umask : 022);
    // Everything but stdio and the preserved fds is closed at exec.
    syscall(SYS_close_range, (unsigned)(3 + cfg->preserve_fds), ~0U, CLOSE_RANGE_CLOEXEC);
    for (int fd = 3; fd < 3 + cfg->preserve_fds; fd++) fcntl(fd, F_SETFD, 0);
    if (cfg->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) berth_die(cfg, errno, "set no_new_privs");
    if (!cfg->no_new_privs) load_seccomp(cfg);
    apply_user_and_caps(cfg);
    if (cfg->cwd && chdir(cfg->cwd) != 0) {
        struct berth_sb s = { .n = 0 };
        s.buf[0] = 0;
        sb_add(&s, "chdir to cwd (\""); sb_add(&s, cfg->cwd); sb_add(&s, "\") set in config.json failed");
        berth_die(cfg, errno, s.buf);
    }
    char path[4096];
    look_path(cfg, path, sizeof path);
    int fifo_w = -1;
    if (cfg->exec_fifo_fd >= 0) {
        berth_send(cfg->sync_fd, BERTH_MSG_READY, 0, 0, NULL);
        char p[64];
        // Blocks until `start` opens the FIFO for reading.
        fifo_w = open(berth_fdpath(p, sizeof p, cfg->exec_fifo_fd), O_WRONLY | O_CLOEXEC);
        if (fifo_w < 0) berth_die(cfg, errno, "open exec fifo");
        close(cfg->exec_fifo_fd);
        if (write(fifo_w, "0", 1) != 1) berth_die(cfg, errno, "write exec fifo");
    } else {
        berth_send(cfg->sync_fd, BERTH_MSG_READY, 0, 0, NULL);
    }
    if (cfg->no_new_privs) load_seccomp(cfg);
    if (cfg->init) run_init(cfg, path, fifo_w);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, (char *const *)cfg->argv, (char *const *)cfg->envp);
    int e = errno;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct berth_sb s = { .n = 0 };
    s.buf[0] = 0;
    sb_add(&s, "exec "); sb_add(&s, path);
    if (fifo_w >= 0) {
        // `start` is reading the FIFO until it closes (that is, until the exec succeeds).
        struct berth_sb f = s;
        sb_add(&f, ": "); sb_err(&f, e);
        ssize_t w = write(fifo_w, f.buf, f.n);
        (void)w;
    }
    berth_die(cfg, e, s.buf);
}

__attribute__((noreturn)) static void stage1(const struct berth_config *cfg) {
    reset_signals();
    if (cfg->has_stdio) {
        for (int i = 0; i < 3; i++) {
            int fd = cfg->stdio_fds[i];
            if (fd < 0) fd = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (fd < 0 || dup3(fd, i, 0) < 0) berth_die(cfg, errno, "set up stdio");
        }
    }
    close_stray_fds(cfg);
    if (cfg->is_exec) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    wait_continue(cfg);
    int in_userns = 0;
    for (int i = 0; i < cfg->njoins; i++) {
        if (cfg->joins[i].nstype != CLONE_NEWUSER) continue;
        if (setns(cfg->joins[i].fd, CLONE_NEWUSER) != 0) berth_die(cfg, errno, "join user namespace");
        in_userns = 1;
    }
    if (cfg->unshare_flags & CLONE_NEWUSER) {
        if (unshare(CLONE_NEWUSER) != 0) berth_die(cfg, errno, "create user namespace");
        berth_send(cfg->sync_fd, BERTH_MSG_MAPS, 0, getpid(), NULL);
        wait_continue(cfg);
        in_userns = 1;
    }
    if (in_userns) {
        if (sys_setresgid(0) != 0) berth_die(cfg, errno, "setgid in user namespace");
        if (sys_setresuid(0) != 0) berth_die(cfg, errno, "setuid in user namespace");
    }
    // Join the others; the mount namespace last (it changes our root and cwd).
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < cfg->njoins; i++) {
            int t = cfg->joins[i].nstype;
            if (t == CLONE_NEWUSER || (pass == 0) == (t == CLONE_NEWNS)) continue;
            if (setns(cfg->joins[i].fd, t) != 0) berth_die(cfg, errno, "join namespace");
            close(cfg->joins[i].fd);
        }
    }
    int flags = cfg->unshare_flags & ~CLONE_NEWUSER;
    if (flags && unshare(flags) != 0) berth_die(cfg, errno, "create namespaces");
    // stage2 waits on this pipe until its pid has been reported, so the parent always hears
    // about it before anything stage2 says.
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) != 0) berth_die(cfg, errno, "pipe");
    pid_t child = raw_fork(CLONE_PARENT);
    if (child < 0) berth_die(cfg, errno, "clone container init");
    if (child == 0) {
        char c;
        close(gate[1]);
        while (read(gate[0], &c, 1) < 0 && errno == EINTR) {}
        close(gate[0]);
        stage2(cfg);
    }
    berth_send(cfg->sync_fd, BERTH_MSG_PID, 0, child, NULL);
    _exit(0);
}

pid_t berth_spawn(const struct berth_config *cfg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = raw_fork(0);
    if (pid == 0) stage1(cfg);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid < 0 ? -e : pid;
}
