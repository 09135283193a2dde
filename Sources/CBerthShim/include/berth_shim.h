#ifndef BERTH_SHIM_H
#define BERTH_SHIM_H

// berth's only C: the fork/clone/exec path of the OCI runtime.
//
// The Swift side turns an OCI spec into a `berth_config` (a flat list of setup operations plus the
// process to run) and calls `berth_spawn`. The child processes created here run C only — raw
// syscalls on memory prepared by the parent, no malloc, no stdio, no Swift — so it is safe to
// fork from a multithreaded process (same rules as posix_spawn's child).
//
//   parent (Swift) --fork--> stage1: close stray fds, setns() joins, unshare(user)+maps, unshare(rest)
//                  stage1 --clone(CLONE_PARENT)--> stage2 (PID 1 of the new pid namespace):
//                  setup ops (mounts, /dev, pivot_root, masks, sysctl, hostname, console),
//                  rlimits, seccomp, user/groups, capabilities, exec FIFO wait, execve.
//
// Parent and children talk over a SOCK_SEQPACKET socketpair with `berth_msg` messages.

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum berth_op_kind {
    BERTH_OP_MOUNT = 1,       // a=source (host path or fs name) b=target (in root) c=fstype d=data; flags; n1: 1=source is in root, n2: 1=target is a file
    BERTH_OP_REMOUNT = 2,     // b=target (in root); flags (ORed with the mount's locked flags)
    BERTH_OP_PROPAGATE = 3,   // b=target (in root, or of the process when n1=1); flags = MS_SHARED... (|MS_REC)
    BERTH_OP_MKDIR = 4,       // b=path (in root) n1=mode
    BERTH_OP_MKNOD = 5,       // b=path (in root) n1=mode (incl. S_IFCHR/S_IFBLK) n2=dev n3=uid n4=gid; a=host path to bind when mknod is refused
    BERTH_OP_SYMLINK = 6,     // a=link target b=link path (in root)
    BERTH_OP_PIVOT = 7,       // pivot_root into the root (n1=1: chroot instead)
    BERTH_OP_MASK = 8,        // b=path (after pivot): /dev/null over files, read-only tmpfs over dirs
    BERTH_OP_READONLY = 9,    // b=path (after pivot): read-only bind over itself
    BERTH_OP_WRITE = 10,      // b=path a=data (after pivot); n1=1 requires procfs
    BERTH_OP_HOSTNAME = 11,   // a=name
    BERTH_OP_DOMAINNAME = 12, // a=name
    BERTH_OP_SYNC_HOOKS = 13, // tell the parent to run hooks and wait for it
    BERTH_OP_ROOT_RO = 14,    // remount / read-only (after pivot)
    BERTH_OP_MOUNT_OR_BIND = 15, // like MOUNT, but if the kernel refuses (EPERM/EBUSY/EINVAL) binds e instead
    BERTH_OP_BIND_ROOTFS = 16,  // bind the rootfs onto itself (it must be a mount point for pivot_root)
};

struct berth_op {
    int kind;
    const char *a;
    const char *b;
    const char *c;
    const char *d;
    const char *e;
    unsigned long flags;
    long n1, n2, n3, n4;
};

struct berth_rlimit {
    int resource;
    uint64_t soft, hard;
};

struct berth_nsjoin {
    int fd;      // open fd of /proc/<pid>/ns/<type> or a bind-mounted ns file
    int nstype;  // CLONE_NEW*
};

struct berth_config {
    // stage1
    int sync_fd;                 // child end of the socketpair
    const int *keep_fds;         // fds that must survive the "close everything else" sweep
    int nkeep;
    struct berth_nsjoin *joins;  // namespaces to join (user first)
    int njoins;
    int unshare_flags;           // CLONE_NEW* to create (CLONE_NEWUSER is handled first, with maps from the parent)
    int join_pidns;              // 1 when a pid namespace is joined (the clone then lands in it)
    int is_exec;                 // 1 for `exec` into a running container (no rootfs setup)
    int has_stdio;               // 1: make stdio_fds the process's 0, 1, 2 (each >= 3 or -1 for /dev/null)
    int stdio_fds[3];

    // stage2 setup
    const char *rootfs;          // host path of the rootfs (NULL for exec)
    const struct berth_op *ops;
    int nops;
    int console_socket;          // fd of a unix socket to send the pty master to, or -1
    int want_terminal;
    unsigned short cols, rows;
    int oom_score_adj_set;
    int oom_score_adj;

    // process
    const char *const *argv;
    const char *const *envp;
    const char *cwd;
    int mkdir_cwd;
    uint32_t uid, gid;
    const uint32_t *groups;
    int ngroups;
    int set_groups;              // call setgroups (0 in a user namespace with setgroups denied)
    int umask;                   // -1 to leave alone
    const struct berth_rlimit *rlimits;
    int nrlimits;
    int no_new_privs;
    int caps_set;                // 0: leave capabilities as they are
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int cap_last;
    const void *seccomp_bpf;     // struct sock_filter[], NULL for none
    size_t seccomp_len;          // number of sock_filter entries
    unsigned int seccomp_flags;
    int exec_fifo_fd;            // O_PATH fd of exec.fifo, or -1 to exec right away
    int preserve_fds;            // keep 3 .. 3+preserve_fds-1 open across exec
    int init;                    // run a tini-like init as PID 1 that forwards signals and reaps
};

enum berth_msg_type {
    BERTH_MSG_CONTINUE = 1,   // parent -> child
    BERTH_MSG_MAPS = 2,       // stage1 -> parent: write uid/gid maps for `pid`
    BERTH_MSG_PID = 3,        // stage1 -> parent: stage2's host pid
    BERTH_MSG_READY = 4,      // stage2 -> parent: set up, waiting for start (or about to exec)
    BERTH_MSG_ERROR = 5,      // any -> parent: `text` says what failed, `err` is the errno
    BERTH_MSG_HOOKS = 6,      // stage2 -> parent: run createRuntime/createContainer hooks now
};

struct berth_msg {
    int32_t type;
    int32_t err;
    int32_t pid;
    int32_t code;     // exit code Docker would report for this error (126/127), else 0
    char text[1024];
};

/// Forks stage1 with `cfg`; returns its pid, or -errno. All signals are blocked around the fork.
pid_t berth_spawn(const struct berth_config *cfg);

/// Sends a message (no SIGPIPE). Returns 0 or -errno.
int berth_send(int fd, int type, int err, int pid, const char *text);
/// Receives a message; returns 1 on a message, 0 on EOF, -errno on error.
int berth_recv(int fd, struct berth_msg *msg);
/// Receives a message with a timeout in milliseconds (-1: forever); 0 on EOF or timeout (msg->type=0).
int berth_recv_timeout(int fd, struct berth_msg *msg, int timeout_ms);

/// Waits for `pid` while forwarding SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2/SIGWINCH to it.
/// Returns the Docker-style exit code (status, or 128+signal).
int berth_wait_forward(pid_t pid);

/// Receives a file descriptor sent with SCM_RIGHTS on a unix socket; returns it or -errno.
int berth_recv_fd(int sock);
/// Sends `fd` with SCM_RIGHTS and `name` as payload.
int berth_send_fd(int sock, int fd, const char *name);

/// Proxies stdin -> master and master -> stdout until the master hangs up (for `run -t`).
void berth_proxy_pty(int master);

/// wait4 status -> Docker exit code.
int berth_exit_code(int status);

/// memfd_create(name, MFD_CLOEXEC); -errno on failure.
int berth_memfd(const char *name);
/// statfs(2) f_type of `path`, or -errno.
long berth_fs_type(const char *path);

/// prctl(PR_SET_CHILD_SUBREAPER, on).
int berth_set_subreaper(int on);

/// pidfd_open(2); -errno on failure.
int berth_pidfd_open(pid_t pid);

/// Loads `count` eBPF instructions (8 bytes each) as a BPF_PROG_TYPE_CGROUP_DEVICE program; returns
/// its fd (close-on-exec) or -errno. The verifier's log goes to `log` (may be NULL).
int berth_bpf_load_device_filter(const void *insns, int count, char *log, unsigned log_size);
/// Attaches a device program to the cgroup v2 directory (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
/// 0 or -errno. The attachment keeps the program alive until the cgroup goes.
int berth_bpf_attach_device_filter(const char *cgroup_dir, int prog_fd);

#ifdef __cplusplus
}
#endif
#endif
