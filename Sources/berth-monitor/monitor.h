/*
 * berth-monitor: the per-container supervisor (conmon / containerd-shim role).
 * Protocol and CLI: docs/monitor.md. One process, no threads, one poll(2) loop, static buffers.
 */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define MON_ATTRS_MAX 4096       /* --log-attrs: the raw JSON object written as "attrs" */
#define MON_LINE_MAX 16384      /* Docker's copier buffer: a longer line is logged as 16 KiB partial entries */
#define MON_PKT_MAX 32768       /* max attach packet payload, both directions */
#define MON_MAX_RUNTIME_ARGS 32
#define MON_MAX_CLIENTS 64
#define MON_DRAIN_MS 2000       /* after the process exits: wait at most this long for output EOF */
#define MON_ATTACH_WAIT_MS 60000 /* --attach-wait: give up if nobody connects in time */

struct options {
    const char *id;
    const char *bundle;
    const char *runtime;
    const char *runtime_root;
    const char *runtime_args[MON_MAX_RUNTIME_ARGS];
    int n_runtime_args;
    const char *exec_dir;
    const char *log_path;       /* NULL: no log (log driver none) */
    long long log_max_size;     /* bytes; -1: unlimited */
    int log_max_file;           /* >= 1 */
    const char *log_attrs;      /* JSON object for each entry's "attrs" (labels/env log opts), or NULL */
    const char *exit_file;
    const char *pid_file;       /* the process' pid, written by the runtime */
    const char *monitor_pid_file;
    const char *process_file;   /* --exec mode */
    const char *monitor_log;
    int sync_fd;
    bool terminal, stdin_open, stdin_once, exec_mode, start, attach_wait, start_gate, lo_up;
    const char *netns;          /* --netns PATH: create this pinned network namespace first */
};

/* ---- util.c */
/* Docker json-file string escaping (Go's encoding/json rules): writes a quoted JSON string to dst
 * (needs 6*len+2 bytes); returns the number of bytes written. */
size_t json_quote(char *dst, const char *src, size_t len);
/* "2006-01-02T15:04:05.000000000Z" (UTC, always 9 fraction digits); out needs 32 bytes. */
void fmt_time(char *out, const struct timespec *ts);
int write_all(int fd, const void *buf, size_t len);
/* Write path via path.tmp + rename. 0 or -1 (errno set). */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);
/* Reads up to cap-1 bytes, NUL-terminates; bytes read or -1. */
ssize_t read_file(const char *path, char *buf, size_t cap);
/* Docker's units.FromHumanSize (decimal: 1k = 1000). -1 if invalid. */
long long parse_size(const char *s);
/* Extract the runtime's error message from its (logrus text or JSON) stderr into out. */
void runtime_error_text(const char *raw, size_t n, char *out, size_t cap);
void set_nonblock(int fd);

/* ---- jsonlog.c */
struct jsonlog {
    int fd;                     /* -1: logging off */
    const char *path;
    long long max_size;
    int max_file;
    long long size;
    const char *attrs;          /* raw JSON object or NULL */
};
int jsonlog_open(struct jsonlog *l, const char *path, long long max_size, int max_file, bool *created);
void jsonlog_entry(struct jsonlog *l, const char *stream, const char *data, size_t len, bool newline,
                   const struct timespec *ts);
void jsonlog_close(struct jsonlog *l);

/* ---- spawn.c */
/* Runs RUNTIME [runtime args] [--root R] ARGS... with fds in/out/err as its 0/1/2, an empty signal
 * mask and default dispositions. Returns the pid, or -1 with errno set. */
pid_t spawn_runtime(const struct options *o, const char *const *args, int in, int out, int err);
/* waitpid(pid) retrying EINTR: the status, or -1. */
int wait_pid(pid_t pid);
/* Runs the runtime and waits for it; its output captured into cap (NUL-terminated). Exit status
 * (waitpid form) or -1 with errno set when it could not be started. */
int run_runtime_capture(const struct options *o, const char *const *args, char *cap, size_t capsz);
/* Receives the pty master sent by the runtime over the console socket (already connected or queued).
 * Returns the fd or -1. */
int recv_console(int listen_fd);

/* ---- netns.c */
/* Sets `lo` up in pid's network namespace (nothing if it is ours). 0, or -1 with a message in err. */
int netns_lo_up(pid_t pid, char *err, size_t errsz);
/* A new network namespace with lo up, bind-mounted at path. 0, or -1 with a message in err. */
int netns_create(const char *path, char *err, size_t errsz);
/* Unmounts and removes a namespace made by netns_create (no-op if it is not there). */
void netns_remove(const char *path);

/* ---- loop.c */
struct client {
    int fd;
    bool stdin_done;            /* this client sent stdin EOF */
};

struct stream {
    int fd;                     /* -1 once at EOF */
    unsigned char id;           /* 1 stdout, 2 stderr */
    const char *name;
    size_t n;                   /* buffered bytes of an unfinished line */
    char buf[MON_LINE_MAX];
};

struct monitor {
    struct options o;
    pid_t pid;                  /* the container's (or exec'd) process */
    int sig_fd;
    int attach_fd;              /* listening SOCK_SEQPACKET */
    int ctl_fd;                 /* fifo, opened O_RDWR */
    int stdin_fd;               /* write end of the stdin pipe, the pty master (dup) in TTY mode, or -1 */
    int master_fd;              /* pty master or -1 */
    struct stream out[2];
    struct client clients[MON_MAX_CLIENTS];
    int n_clients;
    struct jsonlog log;
    bool exited;
    int status;                 /* waitpid status */
    struct timespec exited_at;
    long long oom_start;        /* oom_kill counter of the memory cgroup at start; -1 unknown */
    char cgroup_oom_file[PATH_MAX];
    const char *oom_key;
    char attach_path[PATH_MAX], ctl_path[PATH_MAX], console_path[PATH_MAX];
};

void loop_run(struct monitor *m);
int attach_accept_one(struct monitor *m);
void oom_prepare(struct monitor *m);
bool oom_check(struct monitor *m);

#endif
