// Container filesystem setup, run in stage2 (the future PID 1) before pivot_root and right after it.
// Paths before pivot_root are resolved inside the rootfs with openat2(RESOLVE_IN_ROOT), so symlinks
// in the image cannot point a mount outside of it; mounts go through /proc/self/fd/N of that fd.
#include "internal.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

static int rootfd = -1;
static int pivoted = 0;

static int open_in_root(const char *path, int flags) {
    if (pivoted || rootfd < 0) {
        int fd = open(path, flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    while (*path == '/') path++;
    if (!*path) path = ".";
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

// Splits "a/b/c" into parent "a/b" (in `parent`) and returns the last component.
static const char *split_parent(const char *path, char *parent, size_t len) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t i = n;
    while (i > 0 && path[i - 1] != '/') i--;
    size_t plen = i;
    if (plen >= len) plen = len - 1;
    memcpy(parent, path, plen);
    parent[plen] = 0;
    if (plen == 0) { parent[0] = '/'; parent[1] = 0; }
    return path + i;
}

// mkdir -p inside the root. Returns 0 or -errno.
static int mkdir_all(const char *path, mode_t mode) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return -ENAMETOOLONG;
    // Fast paths (one or two openat2 instead of one per component): the directory exists, or only
    // its last component is missing. Resolving the whole path resolves every prefix the same way.
    int fd = open_in_root(path, O_PATH | O_DIRECTORY);
    if (fd >= 0) { close(fd); return 0; }
    if (fd == -ENOENT) {
        char parent[4096];
        const char *name = split_parent(path, parent, sizeof parent);
        int pfd = *name ? open_in_root(parent, O_PATH | O_DIRECTORY) : -ENOENT;
        if (pfd >= 0) {
            int r = mkdirat(pfd, name, mode);
            int e = errno;
            close(pfd);
            if (r == 0 || e == EEXIST) {
                fd = open_in_root(path, O_PATH | O_DIRECTORY);
                if (fd < 0) return fd;
                close(fd);
                return 0;
            }
            return -e;
        }
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char saved = buf[i];
        buf[i] = 0;
        fd = open_in_root(buf, O_PATH | O_DIRECTORY);
        if (fd == -ENOENT) {
            char parent[4096];
            const char *name = split_parent(buf, parent, sizeof parent);
            int pfd = open_in_root(parent, O_PATH | O_DIRECTORY);
            if (pfd < 0) return pfd;
            int r = mkdirat(pfd, name, mode);
            int e = errno;
            close(pfd);
            if (r < 0 && e != EEXIST) return -e;
            fd = open_in_root(buf, O_PATH | O_DIRECTORY);
        }
        if (fd < 0) return fd;
        close(fd);
        buf[i] = saved;
    }
    return 0;
}

// Creates an empty file (and its parents) inside the root if nothing is there yet.
static int make_file(const char *path) {
    char parent[4096];
    const char *name = split_parent(path, parent, sizeof parent);
    int r = mkdir_all(parent, 0755);
    if (r < 0) return r;
    int pfd = open_in_root(parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) return pfd;
    int fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    int e = errno;
    close(pfd);
    if (fd >= 0) { close(fd); return 0; }
    return e == EEXIST ? 0 : -e;
}

static unsigned long locked_flags(const char *path) {
    // statfs, not statvfs: glibc's statvfs may fall back to parsing /proc/mounts (malloc, stdio).
    struct statfs st;
    if (statfs(path, &st) != 0) return 0;
    unsigned long f = 0;
    if (st.f_flags & ST_NOSUID) f |= MS_NOSUID;
    if (st.f_flags & ST_NODEV) f |= MS_NODEV;
    if (st.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
    if (st.f_flags & ST_NOATIME) f |= MS_NOATIME;
    if (st.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (st.f_flags & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

// Opens the mount target (creating it as a dir or a file) and returns its fd, dying on failure.
static int open_target(const struct berth_config *cfg, const char *target, int is_file) {
    int r = is_file ? make_file(target) : mkdir_all(target, 0755);
    if (r < 0) berth_die2(cfg, -r, "create mount destination ", target);
    int fd = open_in_root(target, O_PATH);
    if (fd < 0) berth_die2(cfg, -fd, "open mount destination ", target);
    return fd;
}

static void remount(const struct berth_config *cfg, const char *target, unsigned long flags) {
    char p[64];
    int fd = open_in_root(target, O_PATH);
    if (fd < 0) berth_die2(cfg, -fd, "open for remount ", target);
    berth_fdpath(p, sizeof p, fd);
    unsigned long f = MS_BIND | MS_REMOUNT | (flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT));
    if (mount(NULL, p, NULL, f, NULL) != 0) {
        int e = errno;
        // In a user namespace, flags of the source mount are locked: keep them and retry.
        if (e != EPERM || mount(NULL, p, NULL, f | locked_flags(p), NULL) != 0)
            berth_die2(cfg, e, "remount ", target);
    }
    close(fd);
}

static void do_mount(const struct berth_config *cfg, const struct berth_op *op, int fallback_bind) {
    char tp[64], sp[64];
    int tfd = open_target(cfg, op->b, op->n2 == 1);
    const char *src = op->a;
    int sfd = -1;
    if (op->n1 == 1) {
        sfd = open_in_root(op->a, O_PATH);
        if (sfd < 0) berth_die2(cfg, -sfd, "open mount source ", op->a);
        src = berth_fdpath(sp, sizeof sp, sfd);
    }
    berth_fdpath(tp, sizeof tp, tfd);
    unsigned long flags = op->flags;
    if (flags & MS_BIND) {
        if (mount(src, tp, NULL, MS_BIND | (flags & MS_REC), NULL) != 0)
            berth_die2(cfg, errno, "bind mount onto ", op->b);
        close(tfd);
        unsigned long rest = flags & ~(unsigned long)(MS_BIND | MS_REC);
        if (rest) remount(cfg, op->b, rest);
    } else {
        if (mount(src, tp, op->c, flags, op->d) != 0) {
            int e = errno;
            if (fallback_bind && op->e && (e == EPERM || e == EBUSY || e == EINVAL)) {
                // e.g. sysfs without a network namespace of our own: bind the host's instead.
                if (mount(op->e, tp, NULL, MS_BIND | MS_REC, NULL) != 0)
                    berth_die2(cfg, errno, "bind mount onto ", op->b);
                close(tfd);
                if (flags & MS_RDONLY) remount(cfg, op->b, flags);
                if (sfd >= 0) close(sfd);
                return;
            }
            berth_die2(cfg, e, "mount onto ", op->b);
        }
        close(tfd);
    }
    if (sfd >= 0) close(sfd);
}

static void do_mknod(const struct berth_config *cfg, const struct berth_op *op) {
    char parent[4096];
    const char *name = split_parent(op->b, parent, sizeof parent);
    int r = mkdir_all(parent, 0755);
    if (r < 0) berth_die2(cfg, -r, "create device directory ", parent);
    int pfd = open_in_root(parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) berth_die2(cfg, -pfd, "open ", parent);
    if (mknodat(pfd, name, (mode_t)op->n1, (dev_t)op->n2) != 0) {
        int e = errno;
        if (e == EEXIST) { close(pfd); return; }
        if (e == EPERM && op->a) {
            // No mknod in a user namespace: bind the host's device node instead.
            close(pfd);
            struct berth_op b = *op;
            b.flags = MS_BIND;
            b.n1 = 0;
            b.n2 = 1;
            do_mount(cfg, &b, 0);
            return;
        }
        berth_die2(cfg, e, "mknod ", op->b);
    }
    if (fchmodat(pfd, name, (mode_t)(op->n1 & 07777), 0) != 0) berth_die2(cfg, errno, "chmod ", op->b);
    if (fchownat(pfd, name, (uid_t)op->n3, (gid_t)op->n4, AT_SYMLINK_NOFOLLOW) != 0)
        berth_die2(cfg, errno, "chown ", op->b);
    close(pfd);
}

static void do_symlink(const struct berth_config *cfg, const struct berth_op *op) {
    char parent[4096];
    const char *name = split_parent(op->b, parent, sizeof parent);
    int r = mkdir_all(parent, 0755);
    if (r < 0) berth_die2(cfg, -r, "create directory ", parent);
    int pfd = open_in_root(parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) berth_die2(cfg, -pfd, "open ", parent);
    if (symlinkat(op->a, pfd, name) != 0 && errno != EEXIST) berth_die2(cfg, errno, "symlink ", op->b);
    close(pfd);
}

static void do_pivot(const struct berth_config *cfg, const struct berth_op *op) {
    if (op->n1 == 1) {
        if (fchdir(rootfd) != 0) berth_die(cfg, errno, "chdir to rootfs");
        if (mount(".", "/", NULL, MS_MOVE, NULL) != 0) berth_die(cfg, errno, "move rootfs");
        if (chroot(".") != 0) berth_die(cfg, errno, "chroot");
    } else {
        int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (oldroot < 0) berth_die(cfg, errno, "open /");
        if (fchdir(rootfd) != 0) berth_die(cfg, errno, "chdir to rootfs");
        if (syscall(SYS_pivot_root, ".", ".") != 0) berth_die(cfg, errno, "pivot_root");
        if (fchdir(oldroot) != 0) berth_die(cfg, errno, "chdir to old root");
        // Keep the unmount of the old root from propagating to the host.
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) != 0) berth_die(cfg, errno, "make old root rslave");
        if (umount2(".", MNT_DETACH) != 0) berth_die(cfg, errno, "unmount old root");
        close(oldroot);
    }
    if (chdir("/") != 0) berth_die(cfg, errno, "chdir /");
    close(rootfd);
    rootfd = -1;
    pivoted = 1;
}

static void do_mask(const struct berth_config *cfg, const struct berth_op *op) {
    int fd = open(op->b, O_PATH | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return;
        berth_die2(cfg, errno, "open masked path ", op->b);
    }
    struct stat st;
    int isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    char p[64];
    berth_fdpath(p, sizeof p, fd);
    int r = isdir ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) : mount("/dev/null", p, NULL, MS_BIND, NULL);
    if (r != 0) berth_die2(cfg, errno, "mask ", op->b);
    close(fd);
}

static void do_readonly(const struct berth_config *cfg, const struct berth_op *op) {
    if (mount(op->b, op->b, NULL, MS_BIND | MS_REC, NULL) != 0) {
        if (errno == ENOENT) return;
        berth_die2(cfg, errno, "bind readonly path ", op->b);
    }
    // Keep the flags the mount already has (nosuid, nodev, noexec), as runc does.
    unsigned long f = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked_flags(op->b);
    if (mount(op->b, op->b, NULL, f, NULL) != 0)
        berth_die2(cfg, errno, "remount readonly ", op->b);
}

static void do_write(const struct berth_config *cfg, const struct berth_op *op) {
    int fd = open(op->b, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) berth_die2(cfg, errno, "open ", op->b);
    if (op->n1 == 1) {
        // Only ever write to a real procfs file (a bind mount over /proc/... must not redirect it).
        struct statfs sfs;
        if (fstatfs(fd, &sfs) != 0 || sfs.f_type != PROC_SUPER_MAGIC)
            berth_die2(cfg, EINVAL, "refusing to write to a non-procfs file ", op->b);
    }
    size_t n = strlen(op->a);
    if (write(fd, op->a, n) != (ssize_t)n) berth_die2(cfg, errno, "write ", op->b);
    close(fd);
}

void berth_run_ops(const struct berth_config *cfg) {
    if (cfg->rootfs) {
        rootfd = open(cfg->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) berth_die2(cfg, errno, "open rootfs ", cfg->rootfs);
    }
    for (int i = 0; i < cfg->nops; i++) {
        const struct berth_op *op = &cfg->ops[i];
        switch (op->kind) {
        case BERTH_OP_MOUNT: do_mount(cfg, op, 0); break;
        case BERTH_OP_MOUNT_OR_BIND: do_mount(cfg, op, 1); break;
        case BERTH_OP_BIND_ROOTFS:
            if (mount(cfg->rootfs, cfg->rootfs, NULL, MS_BIND | MS_REC, NULL) != 0)
                berth_die2(cfg, errno, "bind rootfs ", cfg->rootfs);
            close(rootfd);
            rootfd = open(cfg->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (rootfd < 0) berth_die2(cfg, errno, "open rootfs ", cfg->rootfs);
            break;
        case BERTH_OP_REMOUNT: remount(cfg, op->b, op->flags); break;
        case BERTH_OP_PROPAGATE: {
            if (op->n1 == 1) {
                if (mount(NULL, op->b, NULL, op->flags, NULL) != 0) berth_die2(cfg, errno, "set propagation of ", op->b);
                break;
            }
            char p[64];
            int fd = open_in_root(op->b, O_PATH);
            if (fd < 0) berth_die2(cfg, -fd, "open ", op->b);
            if (mount(NULL, berth_fdpath(p, sizeof p, fd), NULL, op->flags, NULL) != 0)
                berth_die2(cfg, errno, "set propagation of ", op->b);
            close(fd);
            break;
        }
        case BERTH_OP_MKDIR: {
            int r = mkdir_all(op->b, (mode_t)op->n1);
            if (r < 0) berth_die2(cfg, -r, "mkdir ", op->b);
            break;
        }
        case BERTH_OP_MKNOD: do_mknod(cfg, op); break;
        case BERTH_OP_SYMLINK: do_symlink(cfg, op); break;
        case BERTH_OP_PIVOT: do_pivot(cfg, op); break;
        case BERTH_OP_MASK: do_mask(cfg, op); break;
        case BERTH_OP_READONLY: do_readonly(cfg, op); break;
        case BERTH_OP_WRITE: do_write(cfg, op); break;
        case BERTH_OP_HOSTNAME:
            if (sethostname(op->a, strlen(op->a)) != 0) berth_die(cfg, errno, "sethostname");
            break;
        case BERTH_OP_DOMAINNAME:
            if (setdomainname(op->a, strlen(op->a)) != 0) berth_die(cfg, errno, "setdomainname");
            break;
        case BERTH_OP_ROOT_RO: {
            unsigned long f = MS_BIND | MS_REMOUNT | MS_RDONLY;
            if (mount(NULL, "/", NULL, f, NULL) != 0 && mount(NULL, "/", NULL, f | locked_flags("/"), NULL) != 0)
                berth_die(cfg, errno, "remount rootfs read-only");
            break;
        }
        case BERTH_OP_SYNC_HOOKS: {
            struct berth_msg m;
            berth_send(cfg->sync_fd, BERTH_MSG_HOOKS, 0, 0, NULL);
            if (berth_recv(cfg->sync_fd, &m) != 1 || m.type != BERTH_MSG_CONTINUE) _exit(1);
            break;
        }
        default:
            berth_die(cfg, EINVAL, "unknown setup operation");
        }
    }
    if (rootfd >= 0) { close(rootfd); rootfd = -1; }
}

void berth_setup_console(const struct berth_config *cfg) {
    int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) berth_die(cfg, errno, "open /dev/ptmx");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0) berth_die(cfg, errno, "unlock pty");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) berth_die(cfg, errno, "open pty peer");
    unsigned int n = 0;
    if (ioctl(master, TIOCGPTN, &n) != 0) berth_die(cfg, errno, "get pty number");
    if (cfg->rows || cfg->cols) {
        struct winsize ws = { .ws_row = cfg->rows, .ws_col = cfg->cols };
        ioctl(master, TIOCSWINSZ, &ws);
    }
    if (!cfg->is_exec) {
        // /dev/console is the container's terminal.
        struct berth_sb s = { .n = 0 };
        s.buf[0] = 0;
        sb_add(&s, "/dev/pts/");
        sb_int(&s, (long)n);
        int fd = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) close(fd);
        if (mount(s.buf, "/dev/console", NULL, MS_BIND, NULL) != 0) berth_die(cfg, errno, "bind /dev/console");
    }
    if (cfg->console_socket >= 0) {
        int r = berth_send_fd(cfg->console_socket, master, "/dev/ptmx");
        if (r < 0) berth_die(cfg, -r, "send pty master to console socket");
        close(cfg->console_socket);
    } else {
        berth_die(cfg, EINVAL, "terminal requested without a console socket");
    }
    close(master);
    if (ioctl(slave, TIOCSCTTY, 0) != 0) berth_die(cfg, errno, "set controlling terminal");
    for (int i = 0; i < 3; i++)
        if (dup3(slave, i, 0) < 0) berth_die(cfg, errno, "dup pty");
    if (slave > 2) close(slave);
}
