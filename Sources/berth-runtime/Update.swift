import ArgumentParser
import Foundation
import OCI
import Runtime

/// runc's `update`: new cgroup limits for a running container, from `-r FILE` (OCI `LinuxResources`
/// JSON, `-` for stdin) or from flags. Values left out (or 0) are not changed.
struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Update the resource limits of a container.")
    @Option(name: [.short, .long], help: "File with the resources to update (OCI linux.resources JSON), '-' for stdin.")
    var resources: String?
    @Option(name: .customLong("blkio-weight")) var blkioWeight: UInt16?
    @Option(name: .customLong("cpu-period")) var cpuPeriod: UInt64?
    @Option(name: .customLong("cpu-quota")) var cpuQuota: Int64?
    @Option(name: .customLong("cpu-share")) var cpuShare: UInt64?
    @Option(name: .customLong("cpuset-cpus")) var cpusetCpus: String?
    @Option(name: .customLong("cpuset-mems")) var cpusetMems: String?
    @Option(name: .customLong("memory")) var memory: Int64?
    @Option(name: .customLong("memory-reservation")) var memoryReservation: Int64?
    @Option(name: .customLong("memory-swap")) var memorySwap: Int64?
    @Option(name: .customLong("pids-limit")) var pidsLimit: Int64?
    @Argument var id: String

    func run() throws {
        var r: Spec.Resources
        if let resources {
            let data: Data
            if resources == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: resources) else {
                    throw BerthError(.notFound, "open \(resources): no such file or directory")
                }
                data = d
            }
            do {
                r = try JSONDecoder().decode(Spec.Resources.self, from: data)
            } catch {
                throw BerthError(.invalidArgument, "invalid resources JSON: \(error)")
            }
        } else {
            r = Spec.Resources()
            if memory != nil || memorySwap != nil || memoryReservation != nil {
                r.memory = Spec.Memory(limit: memory, reservation: memoryReservation, swap: memorySwap)
            }
            if cpuPeriod != nil || cpuQuota != nil || cpuShare != nil || cpusetCpus != nil || cpusetMems != nil {
                r.cpu = Spec.CPU(shares: cpuShare, quota: cpuQuota, period: cpuPeriod, cpus: cpusetCpus, mems: cpusetMems)
            }
            if let pidsLimit { r.pids = Spec.Pids(limit: pidsLimit) }
            if let blkioWeight { r.blockIO = Spec.BlockIO(weight: blkioWeight) }
        }
        try Globals.current.runtime.update(id: id, resources: r)
    }
}
