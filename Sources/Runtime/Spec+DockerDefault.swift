import OCI

extension Spec {
    /// The spec Docker generates for `docker run` with default flags: the 14 default capabilities,
    /// its mounts, masked and read-only paths, namespaces, device cgroup rules and (with `seccomp`)
    /// the default seccomp profile converted for this machine.
    ///
    /// - Parameters:
    ///   - cgroupNamespace: Docker uses a private cgroup namespace on cgroup v2 hosts, the host's on v1.
    public static func dockerDefault(args: [String] = ["sh"],
                                     env: [String] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                                     rootfs: String = "rootfs", hostname: String? = nil, cgroupsPath: String? = nil,
                                     terminal: Bool = false, cgroupNamespace: Bool = false, seccomp: Bool = true) -> Spec {
        let caps = Runtime.Capabilities.dockerDefault
        var process = Spec.Process(terminal: terminal, user: Spec.User(uid: 0, gid: 0), args: args, env: env, cwd: "/",
                                   capabilities: Spec.Capabilities(bounding: caps, effective: caps, permitted: caps))
        process.noNewPrivileges = false
        let mounts: [Spec.Mount] = [
            .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init(destination: "/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            .init(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"]),
            .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            .init(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]),
        ]
        var namespaces: [Spec.Namespace] = ["mount", "network", "uts", "pid", "ipc"].map { Spec.Namespace(type: $0) }
        if cgroupNamespace { namespaces.append(Spec.Namespace(type: "cgroup")) }
        var linux = Spec.Linux(namespaces: namespaces, cgroupsPath: cgroupsPath)
        linux.maskedPaths = [
            "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ]
        linux.readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        linux.devices = []
        linux.resources = Spec.Resources(devices: [
            .init(allow: false, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 5, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 9, access: "rwm"),
            .init(allow: true, type: "c", major: 1, minor: 8, access: "rwm"),
            .init(allow: true, type: "c", major: 5, minor: 0, access: "rwm"),
            .init(allow: true, type: "c", major: 5, minor: 1, access: "rwm"),
            .init(allow: false, type: "c", major: 10, minor: 229, access: "rwm"),
        ])
        if seccomp {
            linux.seccomp = try? DockerSeccompProfile.default.toOCI(capabilities: caps)
        }
        return Spec(process: process, root: Spec.Root(path: rootfs, readonly: false), hostname: hostname, mounts: mounts,
                    linux: linux)
    }
}
