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
