import Foundation

/// Phase timings on stderr when BERTH_TRACE is set (used by bench/runtime.sh to see where time goes).
public enum Trace {
    public static let enabled = getenv("BERTH_TRACE") != nil
    nonisolated(unsafe) static var last: Double = now()

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
    }

    public static func mark(_ what: @autoclosure () -> String) {
        guard enabled else { return }
        let t = now()
        func ms(_ v: Double) -> String { String(Double(Int(v * 1000)) / 1000) }
        let line = "[trace] \(ms(t.truncatingRemainder(dividingBy: 100_000))) ms  +\(ms(t - last))  \(what())\n"
        last = t
        var l = line
        l.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
