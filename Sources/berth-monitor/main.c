/*
 * berth-monitor: holds one container (or `exec`) process on behalf of berthd.
 *
 * berthd starts it; it forks once and the parent exits as soon as the process is created (or
 * creation failed), relaying the result on --sync-fd. The child (the monitor proper) is a session
 * leader and child subreaper that owns the container's stdio, writes the json-file log, serves
 * attach/resize, and writes the exit file when the process exits. See docs/monitor.md.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MON_VERSION "0.1.0"

static struct monitor M;
static int msg_fd = -1;           /* where sync messages go: --sync-fd, else the pipe to the parent */
static int status_fd = -1;        /* with --sync-fd: the pipe to the parent, for the 1-byte outcome */
static struct timespec t0;        /* main() entry, for the timing lines in --monitor-log */
static bool exec_dir_created, log_created, runtime_created, owns_files, netns_created;
static char pid_file_buf[PATH_MAX], exit_file_buf[PATH_MAX], mpid_file_buf[PATH_MAX];

static void usage(FILE *f) {
    fputs("Usage: berth-monitor --id ID --runtime PATH --exec-dir DIR (--bundle DIR | --exec --process FILE) [options]\n"
          "\n"
          "  --id ID                 container id (as known to the runtime)\n"
          "  --bundle DIR            OCI bundle (create mode)\n"
          "  --runtime PATH          OCI runtime binary (runc-compatible CLI)\n"
          "  --runtime-root DIR      passed to the runtime as --root\n"
          "  --runtime-arg ARG       extra global runtime argument (repeatable)\n"
          "  --exec-dir DIR          monitor's directory: attach, ctl, default pid/exit files\n"
          "  --log-path FILE         json-file log (omit, or --log-driver none: no log)\n"
          "  --log-driver NAME       json-file (default) or none\n"
          "  --log-max-size SIZE     rotate at SIZE (Docker units: 10m, 1k = 1000 bytes); default unlimited\n"
          "  --log-max-file N        keep at most N files (default 1)\n"
          "  --log-attrs JSON        an object written as \"attrs\" in each entry (Docker's labels/env log opts)\n"
          "  --terminal              the process has a TTY (console socket)\n"
          "  --stdin                 keep the process' stdin open (attach clients write to it)\n"
          "  --stdin-once            close the process' stdin when an attach client closes its stdin\n"
          "  --exit-file FILE        default EXECDIR/exit\n"
          "  --pid-file FILE         the process' pid (written by the runtime); default EXECDIR/pid\n"
          "  --monitor-pid-file FILE default EXECDIR/monitor.pid\n"
          "  --sync-fd N             report {\"pid\":N} or {\"error\":\"...\"} on this fd (default: stdout)\n"
          "  --exec                  exec mode: RUNTIME exec --process FILE --detach ... ID\n"
          "  --process FILE          process.json for --exec\n"
          "  --start                 run RUNTIME start ID after create (default: the caller starts it)\n"
          "  --attach-wait           with --exec/--start: start the process only once an attach client is connected\n"
          "  --start-gate            with --sync-fd: set everything up, then run the runtime only after reading\n"
          "                          'g' from the sync fd (EOF or anything else: clean up and fail)\n"
          "  --lo-up                 after create: bring lo up in the container's network namespace\n"
          "  --netns PATH            first make a network namespace (lo up) pinned at PATH; the bundle joins it\n"
          "  --monitor-log FILE      the monitor's own diagnostics (default: none)\n"
          "  --version, --help\n",
          f);
}

/* ---------------------------------------------------------------- messages, failure */
static void send_line(const char *s, size_t n) {
    if (msg_fd >= 0) write_all(msg_fd, s, n);
}

/* The final message was sent: tell the parent the outcome and close both channels. */
static void sync_done(bool ok) {
    if (status_fd >= 0) {
        write_all(status_fd, ok ? "0" : "1", 1);
        close(status_fd);
        status_fd = -1;
    }
    if (msg_fd >= 0) close(msg_fd);
    msg_fd = -1;
}

static long elapsed_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000);
}

static void mlog(const char *fmt, ...) {
    if (!M.o.monitor_log) return;
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof b - 2) n = (int)sizeof b - 2;
    b[n++] = '\n';
    (void)!write(2, b, (size_t)n);
}

static void cleanup_files(void) {
    if (!owns_files) return; /* e.g. the exec dir belongs to a live monitor */
    if (M.attach_path[0]) unlink(M.attach_path);
    if (M.ctl_path[0]) unlink(M.ctl_path);
    if (M.console_path[0]) unlink(M.console_path);
    if (M.o.monitor_pid_file) unlink(M.o.monitor_pid_file);
    if (runtime_created && M.o.pid_file) unlink(M.o.pid_file);
    if (log_created && M.o.log_path) unlink(M.o.log_path);
    if (exec_dir_created) rmdir(M.o.exec_dir);
}

/* Report an error on the sync channel, undo what was made, exit 1. */
static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
    char text[2048];
    static char line[2048 * 6 + 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mlog("berth-monitor: %s", text);
    if (runtime_created && !M.o.exec_mode) {
        char out[512];
        const char *del[] = {"delete", "--force", M.o.id, NULL};
        run_runtime_capture(&M.o, del, out, sizeof out);
    } else if (runtime_created && M.pid > 0) {
        kill(M.pid, SIGKILL);
    }
    jsonlog_close(&M.log);
    if (netns_created) netns_remove(M.o.netns);
    cleanup_files();
    size_t n = 0;
    memcpy(line, "{\"error\":", 9);
    n = 9;
    n += json_quote(line + n, text, strlen(text));
    memcpy(line + n, "}\n", 2);
    send_line(line, n + 2);
    sync_done(false);
    _exit(1);
}

/* ---------------------------------------------------------------- options */
enum {
    O_ID = 256, O_BUNDLE, O_RUNTIME, O_RUNTIME_ROOT, O_RUNTIME_ARG, O_EXEC_DIR, O_LOG_PATH, O_LOG_DRIVER,
    O_LOG_MAX_SIZE, O_LOG_MAX_FILE, O_TERMINAL, O_STDIN, O_STDIN_ONCE, O_EXIT_FILE, O_PID_FILE,
    O_MONITOR_PID_FILE, O_SYNC_FD, O_EXEC, O_PROCESS, O_START, O_ATTACH_WAIT, O_START_GATE, O_LO_UP, O_NETNS, O_MONITOR_LOG, O_LOG_ATTRS, O_VERSION, O_HELP,
};

static const struct option longopts[] = {
    {"id", required_argument, 0, O_ID},
    {"bundle", required_argument, 0, O_BUNDLE},
    {"runtime", required_argument, 0, O_RUNTIME},
    {"runtime-root", required_argument, 0, O_RUNTIME_ROOT},
    {"runtime-arg", required_argument, 0, O_RUNTIME_ARG},
    {"exec-dir", required_argument, 0, O_EXEC_DIR},
    {"log-path", required_argument, 0, O_LOG_PATH},
    {"log-driver", required_argument, 0, O_LOG_DRIVER},
    {"log-max-size", required_argument, 0, O_LOG_MAX_SIZE},
    {"log-max-file", required_argument, 0, O_LOG_MAX_FILE},
    {"log-attrs", required_argument, 0, O_LOG_ATTRS},
    {"terminal", no_argument, 0, O_TERMINAL},
    {"stdin", no_argument, 0, O_STDIN},
    {"stdin-once", no_argument, 0, O_STDIN_ONCE},
    {"exit-file", required_argument, 0, O_EXIT_FILE},
    {"pid-file", required_argument, 0, O_PID_FILE},
    {"monitor-pid-file", required_argument, 0, O_MONITOR_PID_FILE},
    {"sync-fd", required_argument, 0, O_SYNC_FD},
    {"exec", no_argument, 0, O_EXEC},
    {"process", required_argument, 0, O_PROCESS},
    {"start", no_argument, 0, O_START},
    {"attach-wait", no_argument, 0, O_ATTACH_WAIT},
    {"start-gate", no_argument, 0, O_START_GATE},
    {"lo-up", no_argument, 0, O_LO_UP},
    {"netns", required_argument, 0, O_NETNS},
    {"monitor-log", required_argument, 0, O_MONITOR_LOG},
    {"version", no_argument, 0, O_VERSION},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

/* Make p absolute (the monitor chdirs to /). Returns a static/heap string. */
static const char *absolute(const char *p) {
    if (!p || p[0] == '/') return p;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return p;
    size_t n = strlen(cwd) + strlen(p) + 2;
    char *r = malloc(n);
    if (!r) return p;
    snprintf(r, n, "%s/%s", cwd, p);
    return r;
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "berth-monitor: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

static int parse_options(int argc, char **argv, struct options *o) {
    memset(o, 0, sizeof *o);
    o->log_max_size = -1;
    o->log_max_file = 1;
    o->sync_fd = -1;
    bool log_none = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_ID: o->id = optarg; break;
        case O_BUNDLE: o->bundle = optarg; break;
        case O_RUNTIME: o->runtime = optarg; break;
        case O_RUNTIME_ROOT: o->runtime_root = optarg; break;
        case O_RUNTIME_ARG:
            if (o->n_runtime_args >= MON_MAX_RUNTIME_ARGS) return usage_error("too many --runtime-arg%s", "");
            o->runtime_args[o->n_runtime_args++] = optarg;
            break;
        case O_EXEC_DIR: o->exec_dir = optarg; break;
        case O_LOG_PATH: o->log_path = optarg; break;
        case O_LOG_DRIVER:
            if (strcmp(optarg, "none") == 0) log_none = true;
            else if (strcmp(optarg, "json-file") != 0) return usage_error("unsupported log driver: %s", optarg);
            break;
        case O_LOG_MAX_SIZE:
            if ((o->log_max_size = parse_size(optarg)) < 0) return usage_error("invalid --log-max-size: %s", optarg);
            if (o->log_max_size == 0) o->log_max_size = -1;
            break;
        case O_LOG_MAX_FILE: {
            char *e;
            long v = strtol(optarg, &e, 10);
            if (*e || v < 1 || v > 1000) return usage_error("invalid --log-max-file: %s", optarg);
            o->log_max_file = (int)v;
            break;
        }
        case O_LOG_ATTRS: {
            size_t n = strlen(optarg);
            if (n < 2 || n > MON_ATTRS_MAX || optarg[0] != '{' || optarg[n - 1] != '}' || strchr(optarg, '\n'))
                return usage_error("invalid --log-attrs: %s", optarg);
            o->log_attrs = n == 2 ? NULL : optarg;
            break;
        }
        case O_TERMINAL: o->terminal = true; break;
        case O_STDIN: o->stdin_open = true; break;
        case O_STDIN_ONCE: o->stdin_once = true; break;
        case O_EXIT_FILE: o->exit_file = optarg; break;
        case O_PID_FILE: o->pid_file = optarg; break;
        case O_MONITOR_PID_FILE: o->monitor_pid_file = optarg; break;
        case O_SYNC_FD: {
            char *e;
            long v = strtol(optarg, &e, 10);
            if (*e || v < 0 || v > INT_MAX || fcntl((int)v, F_GETFD) < 0)
                return usage_error("invalid --sync-fd: %s", optarg);
            o->sync_fd = (int)v;
            break;
        }
        case O_EXEC: o->exec_mode = true; break;
        case O_PROCESS: o->process_file = optarg; break;
        case O_START: o->start = true; break;
        case O_ATTACH_WAIT: o->attach_wait = true; break;
        case O_START_GATE: o->start_gate = true; break;
        case O_LO_UP: o->lo_up = true; break;
        case O_NETNS: o->netns = optarg; break;
        case O_MONITOR_LOG: o->monitor_log = optarg; break;
        case O_VERSION: printf("berth-monitor %s\n", MON_VERSION); exit(0);
        case O_HELP: usage(stdout); exit(0);
        default:
            return usage_error("unknown or incomplete option: %s", argv[optind - 1]);
        }
    }
    if (optind < argc) return usage_error("unexpected argument: %s", argv[optind]);
    if (!o->id || !o->id[0]) return usage_error("--id is required%s", "");
    if (strchr(o->id, '/') || strcmp(o->id, ".") == 0 || strcmp(o->id, "..") == 0 || o->id[0] == '-')
        return usage_error("invalid --id: %s", o->id);
    if (!o->runtime) return usage_error("--runtime is required%s", "");
    if (!o->exec_dir) return usage_error("--exec-dir is required%s", "");
    if (o->exec_mode && !o->process_file) return usage_error("--exec needs --process%s", "");
    if (!o->exec_mode && !o->bundle) return usage_error("--bundle is required%s", "");
    if (o->exec_mode && o->start) return usage_error("--start does not apply to --exec%s", "");
    if (o->exec_mode && o->lo_up) return usage_error("--lo-up does not apply to --exec%s", "");
    if (o->exec_mode && o->netns) return usage_error("--netns does not apply to --exec%s", "");
    if (o->start_gate && o->sync_fd < 0) return usage_error("--start-gate needs --sync-fd%s", "");
    if (log_none) o->log_path = NULL;
    o->bundle = absolute(o->bundle);
    if (strchr(o->runtime, '/')) o->runtime = absolute(o->runtime); /* else: looked up in PATH */
    o->runtime_root = absolute(o->runtime_root);
    o->exec_dir = absolute(o->exec_dir);
    o->log_path = absolute(o->log_path);
    o->process_file = absolute(o->process_file);
    o->monitor_log = absolute(o->monitor_log);
    o->netns = absolute(o->netns);
    o->exit_file = absolute(o->exit_file);
    o->pid_file = absolute(o->pid_file);
    o->monitor_pid_file = absolute(o->monitor_pid_file);
    if (!o->exit_file) snprintf(exit_file_buf, sizeof exit_file_buf, "%s/exit", o->exec_dir), o->exit_file = exit_file_buf;
    if (!o->pid_file) snprintf(pid_file_buf, sizeof pid_file_buf, "%s/pid", o->exec_dir), o->pid_file = pid_file_buf;
    if (!o->monitor_pid_file)
        snprintf(mpid_file_buf, sizeof mpid_file_buf, "%s/monitor.pid", o->exec_dir), o->monitor_pid_file = mpid_file_buf;
    if (strlen(o->exec_dir) + sizeof "/console.sock" > sizeof(((struct sockaddr_un *)0)->sun_path))
        return usage_error("--exec-dir too long for unix socket paths: %s", o->exec_dir);
    return 0;
}

/* ---------------------------------------------------------------- parent: relay the result */
static int relay(int in, int sync_fd) {
    char buf[4096];
    if (sync_fd >= 0) {
        /* The monitor writes the messages to --sync-fd itself (no relay hop on the start path);
         * here only the outcome byte. */
        ssize_t r;
        do r = read(in, buf, 1);
        while (r < 0 && errno == EINTR);
        if (r == 1) return buf[0] == '0' ? 0 : 1;
        const char *e = "{\"error\":\"berth-monitor exited before reporting\"}\n";
        write_all(sync_fd, e, strlen(e));
        return 1;
    }
    bool pid = false, err = false, any = false;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        /* {"attach":...} may come first; then exactly one of {"pid":N,...} or {"error":"..."} */
        if (memmem(buf, (size_t)r, "{\"pid\":", 7)) pid = true;
        if (memmem(buf, (size_t)r, "{\"error\":", 9)) err = true;
        any = true;
        write_all(1, buf, (size_t)r);
    }
    if (!pid && !err) {
        const char *e = "{\"error\":\"berth-monitor exited before reporting\"}\n";
        if (any) write_all(1, "\n", 1);
        write_all(1, e, strlen(e));
    }
    return pid && !err ? 0 : 1;
}

/* ---------------------------------------------------------------- monitor setup */
static int listen_unix(const char *path, int type) {
    int s = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    unlink(path);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || chmod(path, 0600) < 0 || listen(s, 16) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

static void setup_fds(int keep_a, int keep_b) {
    int nul = open("/dev/null", O_RDWR | O_NOCTTY);
    int err = nul;
    if (M.o.monitor_log) {
        err = open(M.o.monitor_log, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY, 0600);
        if (err < 0) err = nul;
    }
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(err, 2);
    /* Nothing inherited from berthd survives (all our own fds are CLOEXEC from here on). */
    int lo = keep_a < keep_b ? keep_a : keep_b, hi = keep_a < keep_b ? keep_b : keep_a;
    if (lo < 3) lo = hi; /* only one to keep */
    if (lo > 3) close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1) close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0U, 0);
    fcntl(hi, F_SETFD, FD_CLOEXEC);
    fcntl(lo, F_SETFD, FD_CLOEXEC);
}

/* Tells the caller where attach clients connect ({"attach":PATH}); once per monitor. */
static void announce_attach(void) {
    static bool announced;
    if (announced) return;
    announced = true;
    /* the path fits a sun_path (< 108 bytes), so these stay small (stack pages count as RSS) */
    char line[768], q[108 * 6 + 2];
    size_t qn = json_quote(q, M.attach_path, strlen(M.attach_path));
    int n = snprintf(line, sizeof line, "{\"attach\":%.*s}\n", (int)qn, q);
    send_line(line, (size_t)n);
}

/* --start-gate: the caller started us before its bundle was complete (our set-up, the network
 * namespace above all, overlaps its own work); 'g' on the sync fd says the bundle is ready. */
static void wait_gate(void) {
    char c = 0;
    ssize_t r;
    do r = read(msg_fd, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1 || c != 'g') fail("start cancelled");
}

static void wait_attach(void) {
    announce_attach();
    struct pollfd p = {.fd = M.attach_fd, .events = POLLIN};
    int r;
    do r = poll(&p, 1, MON_ATTACH_WAIT_MS);
    while (r < 0 && errno == EINTR);
    if (r <= 0 || attach_accept_one(&M) < 0) fail("no attach client connected within %d s", MON_ATTACH_WAIT_MS / 1000);
}

/* The runtime failed: its message from what it printed. */
static void runtime_failed(const char *what, int status, const char *raw, size_t n) {
    char msg[2048];
    runtime_error_text(raw, n, msg, sizeof msg);
    if (!msg[0]) {
        if (WIFEXITED(status)) snprintf(msg, sizeof msg, "%s %s exited with status %d", M.o.runtime, what, WEXITSTATUS(status));
        else snprintf(msg, sizeof msg, "%s %s killed by signal %d", M.o.runtime, what, WTERMSIG(status));
    }
    fail("%s", msg);
}

static size_t read_avail(int fd, char *buf, size_t cap) {
    size_t n = 0;
    if (fd < 0) return 0;
    set_nonblock(fd);
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    return n;
}

static void run_monitor(void) {
    struct options *o = &M.o;
    M.log.fd = M.attach_fd = M.ctl_fd = M.sig_fd = -1;
    (void)!chdir("/");
    umask(022);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    M.sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (M.sig_fd < 0) fail("signalfd: %s", strerror(errno));

    if (mkdir(o->exec_dir, 0700) == 0) exec_dir_created = true;
    else if (errno != EEXIST) fail("mkdir %s: %s", o->exec_dir, strerror(errno));

    /* Refuse an exec dir that a live monitor is using (its sockets must not be replaced). */
    char buf[64], exe[PATH_MAX];
    if (read_file(o->monitor_pid_file, buf, sizeof buf) > 0) {
        int other = atoi(buf);
        char link[64];
        snprintf(link, sizeof link, "/proc/%d/exe", other);
        ssize_t l = readlink(link, exe, sizeof exe - 1);
        if (other > 0 && other != getpid() && l > 0) {
            exe[l] = 0;
            const char *base = strrchr(exe, '/');
            if (base && strncmp(base + 1, "berth-monitor", 13) == 0)
                fail("exec dir %s is in use by monitor %d", o->exec_dir, other);
        }
    }
    owns_files = true;
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (write_file_atomic(o->monitor_pid_file, buf, (size_t)n, 0644) < 0)
        fail("write %s: %s", o->monitor_pid_file, strerror(errno));
    unlink(o->exit_file);
    unlink(o->pid_file);

    snprintf(M.ctl_path, sizeof M.ctl_path, "%s/ctl", o->exec_dir);
    unlink(M.ctl_path);
    if (mkfifo(M.ctl_path, 0600) < 0) fail("mkfifo %s: %s", M.ctl_path, strerror(errno));
    M.ctl_fd = open(M.ctl_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (M.ctl_fd < 0) fail("open %s: %s", M.ctl_path, strerror(errno));

    snprintf(M.attach_path, sizeof M.attach_path, "%s/attach", o->exec_dir);
    M.attach_fd = listen_unix(M.attach_path, SOCK_SEQPACKET);
    if (M.attach_fd < 0) fail("attach socket %s: %s", M.attach_path, strerror(errno));

    if (jsonlog_open(&M.log, o->log_path, o->log_max_size, o->log_max_file, &log_created) < 0)
        fail("open log %s: %s", o->log_path, strerror(errno));
    M.log.attrs = o->log_attrs;

    /* stdio for the runtime (and, passed through, the process) */
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
    int rt_in = nul, rt_out = -1, rt_err = -1, cap_a = -1, cap_b = -1, console = -1;
    M.stdin_fd = M.master_fd = -1;
    /* field by field: a compound literal would touch both 16 KiB buffers (RSS) */
    M.out[0].fd = M.out[1].fd = -1;
    M.out[0].id = 1, M.out[0].name = "stdout";
    M.out[1].id = 2, M.out[1].name = "stderr";
    int p[2];
    if (o->terminal) {
        snprintf(M.console_path, sizeof M.console_path, "%s/console.sock", o->exec_dir);
        console = listen_unix(M.console_path, SOCK_STREAM);
        if (console < 0) fail("console socket %s: %s", M.console_path, strerror(errno));
        if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
        cap_a = p[0];
        rt_out = rt_err = p[1];
    } else {
        if (o->stdin_open) {
            if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
            rt_in = p[0];
            M.stdin_fd = p[1];
            set_nonblock(M.stdin_fd);
        }
        if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
        M.out[0].fd = cap_a = p[0];
        rt_out = p[1];
        if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
        M.out[1].fd = cap_b = p[0];
        rt_err = p[1];
        set_nonblock(cap_a);
        set_nonblock(cap_b);
    }

    if (o->netns) {
        char err[512];
        if (netns_create(o->netns, err, sizeof err) < 0) fail("%s", err);
        netns_created = true;
    }

    /* --start without --lo-up: one `RUNTIME run --detach` (create and start in one process, one
     * spawn less on the start path); attach clients are connected before it, as for exec. */
    bool run_detached = o->start && !o->lo_up;
    if (o->start_gate) {
        if (o->attach_wait) announce_attach(); /* clients connect while the caller finishes */
        wait_gate();
    }
    if ((o->exec_mode || run_detached) && o->attach_wait) wait_attach();

    const char *args[16];
    int a = 0;
    if (o->exec_mode) {
        args[a++] = "exec";
        args[a++] = "--process";
        args[a++] = o->process_file;
        args[a++] = "--detach";
    } else {
        args[a++] = run_detached ? "run" : "create";
        if (run_detached) args[a++] = "--detach";
        args[a++] = "--bundle";
        args[a++] = o->bundle;
    }
    args[a++] = "--pid-file";
    args[a++] = o->pid_file;
    if (o->terminal) {
        args[a++] = "--console-socket";
        args[a++] = M.console_path;
    }
    args[a++] = o->id;
    args[a] = NULL;

    long t_create = elapsed_us();
    pid_t rt = spawn_runtime(o, args, rt_in, rt_out, rt_err);
    int spawn_errno = errno;
    if (rt_in != nul) close(rt_in);
    close(rt_out);
    if (rt_err != rt_out) close(rt_err);
    close(nul);
    if (rt < 0) fail("exec %s: %s", o->runtime, strerror(spawn_errno));
    int st = wait_pid(rt);
    mlog("timing: runtime %s from %ld us to %ld us", args[0], t_create, elapsed_us());
    if (st != 0) {
        static char raw[8192];
        size_t rn = read_avail(cap_b, raw, sizeof raw / 2);
        rn += read_avail(cap_a, raw + rn, sizeof raw - rn);
        /* A `run` may fail after its create step: delete whatever it left (no-op otherwise). */
        if (run_detached) runtime_created = true;
        runtime_failed(o->exec_mode ? "exec" : "create", st, raw, rn);
    }
    runtime_created = true;

    ssize_t pn = read_file(o->pid_file, buf, sizeof buf);
    M.pid = pn > 0 ? (pid_t)atoi(buf) : 0;
    if (M.pid <= 0) fail("%s did not write the pid file %s", o->runtime, o->pid_file);

    if (o->terminal) {
        M.master_fd = recv_console(console);
        close(console);
        unlink(M.console_path);
        M.console_path[0] = 0;
        close(cap_a);
        if (M.master_fd < 0) fail("receiving the console from %s: %s", o->runtime, strerror(errno));
        set_nonblock(M.master_fd);
        M.out[0].fd = M.master_fd;
        if (o->stdin_open) M.stdin_fd = M.master_fd;
    }

    if (o->lo_up) {
        char err[256];
        long t_lo = elapsed_us();
        /* Not fatal (as runc's own attempt is not): the process still runs, without loopback. */
        if (netns_lo_up(M.pid, err, sizeof err) < 0) mlog("warning: %s", err);
        mlog("timing: lo up from %ld us to %ld us", t_lo, elapsed_us());
    }

    if (o->start && !run_detached) {
        if (o->attach_wait) wait_attach();
        static char raw[8192];
        const char *sargs[] = {"start", o->id, NULL};
        long t_start = elapsed_us();
        int s = run_runtime_capture(o, sargs, raw, sizeof raw);
        mlog("timing: runtime start from %ld us to %ld us", t_start, elapsed_us());
        if (s < 0) fail("exec %s: %s", o->runtime, strerror(errno));
        if (s != 0) runtime_failed("start", s, raw, strlen(raw));
    }

    n = snprintf(buf, sizeof buf, "{\"pid\":%d,\"monitorPid\":%d}\n", (int)M.pid, (int)getpid());
    long t_ready = elapsed_us();
    send_line(buf, (size_t)n);
    mlog("timing: ready at %ld us", t_ready); /* before the parent may exit */
    sync_done(true);

    oom_prepare(&M);
    loop_run(&M);
}

int main(int argc, char **argv) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* 0, 1 and 2 must be open so that no pipe or socket of ours ever lands on them. */
    for (;;) {
        int fd = open("/dev/null", O_RDWR | O_NOCTTY);
        if (fd < 0) return 1;
        if (fd > 2) {
            close(fd);
            break;
        }
    }
    int rc = parse_options(argc, argv, &M.o);
    if (rc != 0) {
        if (M.o.sync_fd >= 0) {
            const char *e = "{\"error\":\"berth-monitor: invalid arguments\"}\n";
            write_all(M.o.sync_fd, e, strlen(e));
        }
        usage(stderr);
        return rc;
    }
    if (M.o.sync_fd >= 0 && M.o.sync_fd <= 2) /* 0-2 become /dev/null in the monitor */
        M.o.sync_fd = fcntl(M.o.sync_fd, F_DUPFD_CLOEXEC, 3);
    int ip[2];
    if (pipe2(ip, O_CLOEXEC) < 0) {
        perror("berth-monitor: pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("berth-monitor: fork");
        return 1;
    }
    if (child > 0) {
        close(ip[1]);
        return relay(ip[0], M.o.sync_fd);
    }
    long t_fork = elapsed_us();
    close(ip[0]);
    setsid();
    setup_fds(ip[1], M.o.sync_fd);
    mlog("timing: monitor forked at %ld us, fds set up at %ld us", t_fork, elapsed_us());
    if (M.o.sync_fd >= 0) {
        msg_fd = M.o.sync_fd;
        status_fd = ip[1];
    } else {
        msg_fd = ip[1];
    }
    run_monitor();
    return 0;
}
