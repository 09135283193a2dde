import APIModels
import Foundation
import OCI

/// A container's healthcheck with Docker's defaults (moby `daemon/health.go`); durations in seconds.
public struct HealthSettings: Sendable, Equatable {
    /// `Test` after its kind: the command (CMD) or the shell text (CMD-SHELL).
    public var args: [String]
    public var shell: Bool
    public var interval: Double
    public var timeout: Double
    public var startPeriod: Double
    public var startInterval: Double
    public var retries: Int

    public static let defaultInterval = 30.0, defaultTimeout = 30.0, defaultStartInterval = 5.0, defaultRetries = 3

    /// nil when there is nothing to probe: no healthcheck, `NONE`, an empty or unknown `Test`.
    public init?(_ hc: JSONValue?) {
        guard case .array(let raw)? = hc?["Test"] else { return nil }
        let test = raw.compactMap { v -> String? in if case .string(let s) = v { return s }; return nil }
        guard let kind = test.first, kind == "CMD" || kind == "CMD-SHELL", test.count > 1 else { return nil }
        args = Array(test.dropFirst())
        shell = kind == "CMD-SHELL"
        func seconds(_ key: String, _ def: Double) -> Double {
            guard case .number(let ns)? = hc?[key], ns != 0 else { return def }
            return ns / 1e9
        }
        interval = seconds("Interval", Self.defaultInterval)
        timeout = seconds("Timeout", Self.defaultTimeout)
        startPeriod = seconds("StartPeriod", 0)
        startInterval = seconds("StartInterval", Self.defaultStartInterval)
        if case .number(let n)? = hc?["Retries"], n > 0 { retries = Int(n) } else { retries = Self.defaultRetries }
    }

    /// The probe's argv: CMD-SHELL runs under the container's `Shell` (default `/bin/sh -c`).
    public func command(shell containerShell: [String]?) -> [String] {
        guard shell else { return args }
        let sh = (containerShell ?? []).isEmpty ? ["/bin/sh", "-c"] : containerShell!
        return sh + args
    }
}

/// Healthcheck config rules at create: image/user merge and validation (moby's `merge`,
/// `validateHealthCheck`). Durations are nanoseconds on the wire.
public enum HealthcheckRules {
    /// The user's healthcheck with the image's values for what it leaves empty/zero.
    public static func merge(user: JSONValue?, image: HealthConfig?) -> JSONValue? {
        guard let image else { return user }
        var img: [String: JSONValue] = [:]
        if let t = image.Test, !t.isEmpty { img["Test"] = .array(t.map { .string($0) }) }
        for (k, v) in [("Interval", image.Interval), ("Timeout", image.Timeout), ("StartPeriod", image.StartPeriod),
                       ("StartInterval", image.StartInterval)] {
            if let v, v != 0 { img[k] = .number(Double(v)) }
        }
        if let r = image.Retries, r != 0 { img["Retries"] = .number(Double(r)) }
        guard case .object(var u)? = user else { return user ?? .object(img) }
        func empty(_ v: JSONValue?) -> Bool {
            switch v {
            case nil, .null?: return true
            case .number(let n)?: return n == 0
            case .array(let a)?: return a.isEmpty
            default: return false
            }
        }
        for (k, v) in img where empty(u[k]) { u[k] = v }
        return .object(u)
    }

    /// 400s with Docker's messages.
    public static func validate(_ hc: JSONValue?) throws {
        guard case .object(let o)? = hc else { return }
        for key in ["Interval", "Timeout", "StartPeriod", "StartInterval"] {
            if case .number(let ns)? = o[key], ns != 0, ns < 1_000_000 {
                throw BerthError(.invalidArgument, "\(key) in Healthcheck cannot be less than 1ms")
            }
        }
        if case .number(let r)? = o["Retries"], r < 0 {
            throw BerthError(.invalidArgument, "Retries in Healthcheck cannot be negative")
        }
    }
}

/// The health state machine (moby's `handleProbeResult` and the monitor's interval). Pure.
public enum HealthMachine {
    public static let maxLogEntries = 5
    /// Probe output kept per result (moby's `maxOutputLen`).
    public static let maxOutput = 4096

    /// `h` after one probe result. `sinceStart`: seconds from the container's start to the probe's.
    /// Failures inside the start period do not count while the container has never been healthy.
    public static func record(_ h: ContainerHealth, result: HealthcheckResult, retries: Int, startPeriod: Double,
                              sinceStart: Double) -> ContainerHealth {
        var out = h
        out.Log.append(result)
        if out.Log.count > maxLogEntries { out.Log.removeFirst(out.Log.count - maxLogEntries) }
        if result.ExitCode == 0 {
            out.FailingStreak = 0
            out.Status = "healthy"
            return out
        }
        if out.Status == "starting" && sinceStart < startPeriod { return out }
        out.FailingStreak += 1
        if out.FailingStreak >= (retries <= 0 ? HealthSettings.defaultRetries : retries) { out.Status = "unhealthy" }
        return out
    }

    /// Seconds until the next probe: the start interval while starting inside the start period.
    public static func nextInterval(_ s: HealthSettings, status: String, sinceStart: Double) -> Double {
        if sinceStart >= s.startPeriod { return s.interval }
        return status == "starting" ? s.startInterval : s.interval
    }

    /// ps' `(healthy)`, `(unhealthy)`, `(health: starting)`.
    public static func statusSuffix(_ h: ContainerHealth) -> String {
        h.Status == "starting" ? "health: starting" : h.Status
    }

    /// Go's `time.Duration.String` for whole nanoseconds (`200ms`, `1.5s`, `1m30s`).
    public static func goDuration(_ ns: Int64) -> String {
        if ns == 0 { return "0s" }
        let neg = ns < 0
        let u = ns.magnitude
        func frac(_ v: UInt64, _ digits: Int) -> String {
            var p: UInt64 = 1
            for _ in 0..<digits { p *= 10 }
            var s = String(v / p)
            let rem = v % p
            if rem > 0 {
                var f = String(rem)
                f = String(repeating: "0", count: digits - f.count) + f
                while f.hasSuffix("0") { f.removeLast() }
                s += "." + f
            }
            return s
        }
        var out: String
        if u < 1000 {
            out = "\(u)ns"
        } else if u < 1_000_000 {
            out = frac(u, 3) + "µs"
        } else if u < 1_000_000_000 {
            out = frac(u, 6) + "ms"
        } else {
            let secs = u / 1_000_000_000
            out = frac((secs % 60) * 1_000_000_000 + u % 1_000_000_000, 9) + "s"
            let mins = secs / 60
            if mins > 0 {
                out = "\(mins % 60)m" + out
                if mins >= 60 { out = "\(mins / 60)h" + out }
            }
        }
        return neg ? "-" + out : out
    }

    /// Seconds since the epoch of an RFC 3339 UTC stamp with up to 9 fraction digits.
    static func epoch(_ stamp: String) -> Double {
        var whole = Double(ContainerService.unixSeconds(stamp))
        if let dot = stamp.firstIndex(of: "."), stamp.count > 20 {
            let digits = stamp[stamp.index(after: dot)...].prefix(while: { $0.isNumber })
            if let f = Double("0." + digits) { whole += f }
        }
        return whole
    }
}
