// Linux file-system headers Swift's Glibc module does not export (xattrs, device numbers).
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>

static inline unsigned int berth_major(dev_t d) { return major(d); }
static inline unsigned int berth_minor(dev_t d) { return minor(d); }
static inline dev_t berth_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }
