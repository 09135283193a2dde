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
            if let (set, flag) = Self.flag(option) {
                if set { flags.insert(flag) } else { flags.remove(flag) }
            } else if let p = Self.propagation(option) {
                propagation.append(p)
            } else if Self.isIgnored(option) {
                continue
            } else {
                data.append(option)
            }
        }
    }

    // Switches, not Dictionary/Set literals: their first use costs a runtime Hashable conformance
    // lookup, on every container start.

    /// Whether the option sets (true) or clears (false) a mount flag, and which.
    static func flag(_ option: String) -> (Bool, MountFlags)? {
        switch option {
        case "async": return (false, .synchronous)
        case "atime": return (false, .noatime)
        case "bind": return (true, .bind)
        case "defaults": return (true, [])
        case "dev": return (false, .nodev)
        case "diratime": return (false, .nodiratime)
        case "dirsync": return (true, .dirsync)
        case "exec": return (false, .noexec)
        case "iversion": return (true, .iversion)
        case "lazytime": return (true, .lazytime)
        case "loud": return (false, .silent)
        case "mand": return (true, .mandlock)
        case "noatime": return (true, .noatime)
        case "nodev": return (true, .nodev)
        case "nodiratime": return (true, .nodiratime)
        case "noexec": return (true, .noexec)
        case "noiversion": return (false, .iversion)
        case "nolazytime": return (false, .lazytime)
        case "nomand": return (false, .mandlock)
        case "norelatime": return (false, .relatime)
        case "nostrictatime": return (false, .strictatime)
        case "nosuid": return (true, .nosuid)
        case "nosymfollow": return (true, .nosymfollow)
        case "rbind": return (true, [.bind, .rec])
        case "relatime": return (true, .relatime)
        case "remount": return (true, .remount)
        case "ro": return (true, .rdonly)
        case "rw": return (false, .rdonly)
        case "silent": return (true, .silent)
        case "strictatime": return (true, .strictatime)
        case "suid": return (false, .nosuid)
        case "sync": return (true, .synchronous)
        default: return nil
        }
    }

    /// The propagation change an option asks for.
    static func propagation(_ option: String) -> MountFlags? {
        switch option {
        case "private": return .private
        case "rprivate": return [.private, .rec]
        case "shared": return .shared
        case "rshared": return [.shared, .rec]
        case "slave": return .slave
        case "rslave": return [.slave, .rec]
        case "unbindable": return .unbindable
        case "runbindable": return [.unbindable, .rec]
        default: return nil
        }
    }

    /// runc-specific or idmap options berth accepts and does not act on.
    static func isIgnored(_ option: String) -> Bool {
        ["tmpcopyup", "idmap", "ridmap", "acl", "noacl", "norbind"].contains(option)
    }
}
