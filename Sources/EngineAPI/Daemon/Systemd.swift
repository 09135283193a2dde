import Foundation

/// systemd integration without libsystemd: socket activation (`LISTEN_FDS`) and `sd_notify`.
public enum Systemd {
    /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
    public static let listenFDsStart: CInt = 3

    /// Sockets passed by systemd (`LISTEN_PID` must be us), taken once: the variables are unset and the
    /// descriptors marked close-on-exec, like go-systemd's `activation.Listeners()`. Entries that are not
    /// listening stream sockets are nil.
    public static func takeListenFDs(environment: [String: String] = ProcessInfo.processInfo.environment) -> [CInt?] {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidString = environment["LISTEN_PID"], let pid = Int32(pidString), pid == getpid(),
              let countString = environment["LISTEN_FDS"], let count = Int32(countString), count > 0 else { return [] }
        return (0..<count).map { i -> CInt? in
            let fd = listenFDsStart + i
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            return isListeningStreamSocket(fd) ? fd : nil
        }
    }

    static func isListeningStreamSocket(_ fd: CInt) -> Bool {
        var value: CInt = 0
        var len = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) == 0, value != 0 else { return false }
        var type: CInt = 0
        len = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 else { return false }
        return type == CInt(SOCK_STREAM.rawValue)
    }

    /// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=…`) to `$NOTIFY_SOCKET`; false when not under
    /// systemd or the datagram could not be sent.
    @discardableResult
    public static func notify(_ state: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let socketPath = environment["NOTIFY_SOCKET"], !socketPath.isEmpty else { return false }
        var pathBytes = Array(socketPath.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        guard pathBytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: pathBytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (abstract ? 0 : 1))
        let fd = socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == message.count
    }
}
