import Foundation
import OCI

extension ContainerRuntime {
    /// runc's `update`: applies new limits to the cgroup of a created, running or paused container.
    /// Zero/absent values leave a limit as it is (runc's semantics).
    public func update(id: String, resources: Spec.Resources) throws {
        let st = try store.load(id)
        guard currentStatus(st) != .stopped else {
            throw BerthError(.conflict, "container \(id) is not running")
        }
        guard let cg = cgroup(for: st) else { throw BerthError(.unsupported, "cgroups are not available") }
        try cg.update(resources)
    }
}

extension CgroupManager {
    /// Writes `r`'s limits (not its device rules) into the existing cgroup, in an order the kernel
    /// accepts when limits move up or down (runc's `setMemoryAndSwap`).
    public func update(_ r: Spec.Resources) throws {
        var res = r
        res.devices = nil
        if case .v1 = layout, let m = res.memory, m.limit == -1, m.swap == nil || m.swap == 0,
           let dir = directory(for: "memory"), sys.exists(dir + "/memory.memsw.limit_in_bytes") {
            res.memory?.swap = -1
        }
        if case .unified = layout, let m = res.memory, let s = m.swap, s > 0, (m.limit ?? 0) == 0,
           let dir = directory(for: "memory"),
           let cur = Int64((try? sys.readFile(dir + "/memory.max"))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") {
            // v2 keeps swap apart from memory: the memory+swap figure needs the current limit.
            res.memory?.limit = cur
        }
        let currentLimit: Int64? = {
            guard case .v1 = layout, let dir = directory(for: "memory") else { return nil }
            return Int64((try? sys.readFile(dir + "/memory.limit_in_bytes"))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        }()
        let writes = Self.updateOrder(try Self.writes(for: res, layout: layout), newSwap: res.memory?.swap,
                                      currentLimit: currentLimit)
        for (file, value) in writes {
            let controller = String(file.prefix(while: { $0 != "." }))
            guard let dir = directory(for: controller) else {
                throw BerthError(.unsupported, "cgroup controller \(controller) is not available")
            }
            let path = dir + "/" + file
            if file == "memory.memsw.limit_in_bytes" && !sys.exists(path) {
                throw BerthError(.unsupported, "swap limit is not supported by the kernel (no memory.memsw.limit_in_bytes)")
            }
            do {
                try sys.writeFile(path, value)
            } catch let e as BerthError {
                throw BerthError(.internalError, "failed to write \"\(value)\": \(e.message.replacingOccurrences(of: "open ", with: "write "))")
            }
        }
    }

    /// v1: with both memory and memory+swap changing, memsw goes first when it grows past the
    /// current memory limit (or becomes unlimited), else memory first — either way each single
    /// write keeps `memory <= memsw`.
    public static func updateOrder(_ writes: [(String, String)], newSwap: Int64?, currentLimit: Int64?) -> [(String, String)] {
        guard let li = writes.firstIndex(where: { $0.0 == "memory.limit_in_bytes" }),
              let si = writes.firstIndex(where: { $0.0 == "memory.memsw.limit_in_bytes" }), si > li,
              let swap = newSwap else { return writes }
        guard swap == -1 || (currentLimit ?? Int64.max) < swap else { return writes }
        var out = writes
        let s = out.remove(at: si)
        out.insert(s, at: li)
        return out
    }
}
