/// Mount flags (values of <sys/mount.h>), kept here so plans can be computed and tested anywhere.
public struct MountFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let rdonly = MountFlags(rawValue: 1)
    public static let nosuid = MountFlags(rawValue: 2)
    public static let nodev = MountFlags(rawValue: 4)
    public static let noexec = MountFlags(rawValue: 8)
    public static let synchronous = MountFlags(rawValue: 16)
    public static let remount = MountFlags(rawValue: 32)
    public static let mandlock = MountFlags(rawValue: 64)
    public static let dirsync = MountFlags(rawValue: 128)
    public static let nosymfollow = MountFlags(rawValue: 256)
    public static let noatime = MountFlags(rawValue: 1024)
    public static let nodiratime = MountFlags(rawValue: 2048)
    public static let bind = MountFlags(rawValue: 4096)
    public static let move = MountFlags(rawValue: 8192)
    public static let rec = MountFlags(rawValue: 16384)
    public static let silent = MountFlags(rawValue: 32768)
    public static let unbindable = MountFlags(rawValue: 1 << 17)
    public static let `private` = MountFlags(rawValue: 1 << 18)
    public static let slave = MountFlags(rawValue: 1 << 19)
    public static let shared = MountFlags(rawValue: 1 << 20)
    public static let relatime = MountFlags(rawValue: 1 << 21)
    public static let iversion = MountFlags(rawValue: 1 << 23)
    public static let strictatime = MountFlags(rawValue: 1 << 24)
    public static let lazytime = MountFlags(rawValue: 1 << 25)

    public static let propagation: MountFlags = [.shared, .slave, .private, .unbindable]
}

/// OCI mount `options` split the way runc does: flags to set, propagation changes, and the rest
/// as the filesystem's data string.
public struct ParsedMountOptions: Equatable, Sendable {
    public var flags: MountFlags = []
    public var propagation: [MountFlags] = []
    public var data: [String] = []

    public var isBind: Bool { flags.contains(.bind) }
    public var dataString: String? { data.isEmpty ? nil : data.joined(separator: ",") }

    public init(_ options: [String]) {
        for option in options {
            if let (set, flag) = Self.flagTable[option] {
                if set { flags.insert(flag) } else { flags.remove(flag) }
            } else if let p = Self.propagationTable[option] {
                propagation.append(p)
            } else if Self.ignored.contains(option) {
                continue
            } else {
                data.append(option)
            }
        }
    }

    static let flagTable: [String: (Bool, MountFlags)] = [
        "async": (false, .synchronous), "atime": (false, .noatime), "bind": (true, .bind), "defaults": (true, []),
        "dev": (false, .nodev), "diratime": (false, .nodiratime), "dirsync": (true, .dirsync), "exec": (false, .noexec),
        "iversion": (true, .iversion), "lazytime": (true, .lazytime), "loud": (false, .silent), "mand": (true, .mandlock),
        "noatime": (true, .noatime), "nodev": (true, .nodev), "nodiratime": (true, .nodiratime), "noexec": (true, .noexec),
        "noiversion": (false, .iversion), "nolazytime": (false, .lazytime), "nomand": (false, .mandlock),
        "norelatime": (false, .relatime), "nostrictatime": (false, .strictatime), "nosuid": (true, .nosuid),
        "nosymfollow": (true, .nosymfollow), "rbind": (true, [.bind, .rec]), "relatime": (true, .relatime),
        "remount": (true, .remount), "ro": (true, .rdonly), "rw": (false, .rdonly), "silent": (true, .silent),
        "strictatime": (true, .strictatime), "suid": (false, .nosuid), "sync": (true, .synchronous),
    ]

    static let propagationTable: [String: MountFlags] = [
        "private": .private, "rprivate": [.private, .rec], "shared": .shared, "rshared": [.shared, .rec],
        "slave": .slave, "rslave": [.slave, .rec], "unbindable": .unbindable, "runbindable": [.unbindable, .rec],
    ]

    /// runc-specific or idmap options berth accepts and does not act on.
    static let ignored: Set<String> = ["tmpcopyup", "idmap", "ridmap", "acl", "noacl", "norbind"]
}
