// Linux file-system headers Swift's Glibc module does not export (xattrs, device numbers).
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>

static inline unsigned int berth_major(dev_t d) { return major(d); }
static inline unsigned int berth_minor(dev_t d) { return minor(d); }
static inline dev_t berth_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }

#include <sys/ioctl.h>
#include <linux/fs.h>

/// Marks a directory as the top of a hierarchy (ext4 `chattr +T`): the Orlov allocator then spreads
/// its subdirectories over block groups instead of packing them next to it. Returns 0 or -1 (errno).
static inline int berth_set_topdir(int fd) {
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return -1;
    if (flags & FS_TOPDIR_FL) return 0;
    flags |= FS_TOPDIR_FL;
    return ioctl(fd, FS_IOC_SETFLAGS, &flags);
}

#include <errno.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

struct berth_mount_in_dir_args {
    const char *dir, *source, *target, *fstype, *data;
    unsigned long flags;
    int err;
};

static inline void *berth_mount_in_dir_thread(void *p) {
    struct berth_mount_in_dir_args *a = (struct berth_mount_in_dir_args *)p;
    a->err = 0;
    /* CLONE_FS (0x200): this thread alone gets its own working directory. */
    if (syscall(SYS_unshare, 0x00000200) != 0 || chdir(a->dir) != 0
        || mount(a->source, a->target, a->fstype, a->flags, a->data) != 0)
        a->err = errno;
    return NULL;
}

/// mount(2) with relative paths in `data` resolved in `dir`: runs on a short-lived thread that
/// unshares its file-system attributes and chdirs there, so the process' working directory (shared
/// by every other thread) never changes. Lets an overlay name many lower dirs by short relative
/// links when absolute paths would overflow the one page of mount data. Returns 0 or -1 (errno).
static inline int berth_mount_in_dir(const char *dir, const char *source, const char *target,
                                     const char *fstype, unsigned long flags, const char *data) {
    struct berth_mount_in_dir_args a = {dir, source, target, fstype, data, flags, 0};
    pthread_t t;
    int r = pthread_create(&t, NULL, berth_mount_in_dir_thread, &a);
    if (r != 0) { errno = r; return -1; }
    pthread_join(t, NULL);
    if (a.err != 0) { errno = a.err; return -1; }
    return 0;
}
