// cgroup v2 device access control: loading a BPF_PROG_TYPE_CGROUP_DEVICE program and attaching
// it to a cgroup (v2 has no devices.allow/deny files; runc does the same with its devicefilter).
#include "internal.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

int berth_bpf_load_device_filter(const void *insns, int count, char *log, unsigned log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (unsigned long)insns;
    attr.insn_cnt = (unsigned)count;
    attr.license = (unsigned long)"Apache";
    if (log && log_size > 0) {
        log[0] = 0;
        attr.log_buf = (unsigned long)log;
        attr.log_size = log_size;
        attr.log_level = 1;
    }
    long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (fd < 0 && log && log_size > 0 && errno == ENOSPC) {
        // The verifier log did not fit: load again without it (the error, if any, stays).
        attr.log_buf = 0;
        attr.log_size = 0;
        attr.log_level = 0;
        fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    }
    if (fd >= 0) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;
}

int berth_bpf_attach_device_filter(const char *cgroup_dir, int prog_fd) {
    int cg = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) return -errno;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (unsigned)cg;
    attr.attach_bpf_fd = (unsigned)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    // ALLOW_MULTI, as runc: programs of ancestors keep applying, and a later update can attach
    // its replacement before detaching this one.
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    long r = syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr);
    int e = errno;
    close(cg);
    return r < 0 ? -e : 0;
}
