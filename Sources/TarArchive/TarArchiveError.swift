#if canImport(Glibc)
import Glibc
#endif
import CArchive

/// A libarchive failure: what was being done and libarchive's text. Readers and writers hand it to
/// their `mapError` closure first, so each caller throws its own error type with its own wording.
public struct TarArchiveError: Error, CustomStringConvertible, Sendable {
    /// What was being done (`"writing the archive"`); empty for failures that need no context.
    public var operation: String
    /// libarchive's error text (or ours, for allocation failures).
    public var detail: String
    /// libarchive's `errno` for the failure (0 when it has none).
    public var code: Int32

    public init(operation: String, detail: String, code: Int32 = 0) {
        self.operation = operation
        self.detail = detail
        self.code = code
    }

    /// The failure recorded on the archive handle `a`.
    public init(_ a: OpaquePointer, operation: String) {
        self.init(operation: operation,
                  detail: archive_error_string(a).map { String(cString: $0) } ?? "unknown error",
                  code: archive_errno(a))
    }

    /// `operation: detail`, or the detail alone without an operation.
    public var description: String { operation.isEmpty ? detail : "\(operation): \(detail)" }

    /// Maps a ``TarArchiveError`` to the error a caller throws.
    public typealias Mapper = @Sendable (TarArchiveError) -> any Error
}

/// Runs `body` with the calling thread in the C.UTF-8 locale (this thread only). libarchive
/// converts names between the thread's locale and the UTF-8 of PAX headers; berthd and the CLI run
/// in the C locale, where any non-ASCII name would fail that conversion.
public func withUTF8Locale<T>(_ body: () throws -> T) rethrows -> T {
    guard let utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil) else { return try body() }
    let old = uselocale(utf8)
    defer {
        uselocale(old)
        freelocale(utf8)
    }
    return try body()
}
