/*
 * --lo-up: bring the loopback interface of the container's network namespace up, between
 * `RUNTIME create` and `RUNTIME start` (runc does this itself; berth-runtime and others may not).
 * Done in the monitor, which is single-threaded, by entering the namespace and coming back: no
 * createRuntime hook, so no `sh` + `nsenter` + `ip` processes on the start path (~10-30 ms).
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* `lo` up in the calling process' current network namespace. */
static int lo_up_here(char *err, size_t errsz) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int rc = 0;
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        snprintf(err, errsz, "lo: %s", strerror(errno));
        rc = -1;
    } else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
            snprintf(err, errsz, "lo up: %s", strerror(errno));
            rc = -1;
        }
    }
    if (s >= 0) close(s);
    return rc;
}

/*
 * --netns PATH: a new network namespace with `lo` up, pinned by a bind mount at PATH (as Docker's
 * sandbox), for a bundle whose spec joins PATH. The monitor enters it (unshare) and returns to its
 * own namespace; being single-threaded, nothing else of the process sees the switch. Because the
 * namespace is ready before the runtime runs, the runtime can create and start in one `run -d`.
 */
int netns_create(const char *path, char *err, size_t errsz) {
    umount2(path, MNT_DETACH); /* a stale pin from a monitor that was killed */
    int f = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
    if (f < 0) {
        snprintf(err, errsz, "create %s: %s", path, strerror(errno));
        return -1;
    }
    close(f);
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        snprintf(err, errsz, "open /proc/self/ns/net: %s", strerror(errno));
        unlink(path);
        return -1;
    }
    int rc = -1;
    if (unshare(CLONE_NEWNET) < 0) {
        snprintf(err, errsz, "unshare(CLONE_NEWNET): %s", strerror(errno));
        close(self);
        unlink(path);
        return -1;
    }
    if (lo_up_here(err, errsz) == 0) {
        if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) == 0) rc = 0;
        else snprintf(err, errsz, "bind mount of the network namespace on %s: %s", path, strerror(errno));
    }
    if (setns(self, CLONE_NEWNET) < 0) {
        snprintf(err, errsz, "setns back to the host's network namespace: %s", strerror(errno));
        rc = -1;
    }
    close(self);
    if (rc < 0) netns_remove(path);
    return rc;
}

void netns_remove(const char *path) {
    if (!path) return;
    umount2(path, MNT_DETACH);
    unlink(path);
}

int netns_lo_up(pid_t pid, char *err, size_t errsz) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
        snprintf(err, errsz, "open %s: %s", path, strerror(errno));
        return -1;
    }
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        snprintf(err, errsz, "open /proc/self/ns/net: %s", strerror(errno));
        close(target);
        return -1;
    }
    struct stat a, b;
    int rc = 0;
    if (fstat(target, &a) == 0 && fstat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        goto out; /* the host's namespace (--network host): leave it alone */
    if (setns(target, CLONE_NEWNET) < 0) {
        snprintf(err, errsz, "setns %s: %s", path, strerror(errno));
        rc = -1;
        goto out;
    }
    /* A socket belongs to the namespace it is created in. */
    rc = lo_up_here(err, errsz);
    if (setns(self, CLONE_NEWNET) < 0) {
        snprintf(err, errsz, "setns back to the host's network namespace: %s", strerror(errno));
        rc = -1;
    }
out:
    close(self);
    close(target);
    return rc;
}
