import Foundation

/// One probe run in `State.Health.Log` (moby's `HealthcheckResult`).
public struct HealthcheckResult: Codable, Hashable, Sendable {
    /// RFC 3339 with nanoseconds, UTC.
    public var Start: String
    public var End: String
    /// 0 healthy, 1 unhealthy, -1 the probe could not run or timed out.
    public var ExitCode: Int
    /// stdout and stderr together, at most 4096 bytes.
    public var Output: String

    public init(Start: String, End: String, ExitCode: Int, Output: String) {
        self.Start = Start
        self.End = End
        self.ExitCode = ExitCode
        self.Output = Output
    }
}

/// `State.Health` in container inspect: present only for containers with a healthcheck.
public struct ContainerHealth: Codable, Hashable, Sendable {
    /// `starting`, `healthy` or `unhealthy`.
    public var Status: String
    public var FailingStreak: Int
    /// The last 5 results, oldest first.
    public var Log: [HealthcheckResult]

    public init(Status: String = "starting", FailingStreak: Int = 0, Log: [HealthcheckResult] = []) {
        self.Status = Status
        self.FailingStreak = FailingStreak
        self.Log = Log
    }
}
