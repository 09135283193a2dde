import Foundation

/// Drops the startup-only pages of mapped code from the daemon's resident set.
///
/// Starting a Swift process touches code all over the runtime, Foundation and the binary (metadata
/// registration, initializers), and the kernel maps 64 KiB around each touched page. After
/// initialization most of that code is never run again, but stays counted in RSS. `MADV_DONTNEED` on
/// the read-only executable mappings unmaps those pages (they stay in the page cache); the code the idle
/// daemon does run faults back in as minor faults. Only `r-xp` file mappings are touched: they are never
/// written, so nothing is lost (read-only data and RELRO, which hold relocated pointers, are left alone).
enum MemoryTrim {
    /// Returns how many bytes of mappings were advised.
    @discardableResult
    static func releaseStartupCode() -> Int {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return 0 }
        var total = 0
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[1] == "r-xp",
                  fields[5].trimmingCharacters(in: .whitespaces).hasPrefix("/") else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16),
                  end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            if madvise(pointer, Int(end - start), MADV_DONTNEED) == 0 { total += Int(end - start) }
        }
        return total
    }
}
