import Crypto
import Foundation

/// A content digest such as `sha256:2cf24dba…` (OCI image spec, "Digests").
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let algorithm: String
    public let encoded: String

    /// Parses `algorithm:encoded`. Only sha256 and sha512 are accepted, with lower-case hex of the right length.
    public init(parsing string: some StringProtocol) throws {
        guard let colon = string.firstIndex(of: ":") else {
            throw BerthError(.invalidArgument, "invalid checksum digest format")
        }
        let algorithm = String(string[..<colon])
        let encoded = String(string[string.index(after: colon)...])
        let expectedLength: Int
        switch algorithm {
        case "sha256": expectedLength = 64
        case "sha512": expectedLength = 128
        default:
            if algorithm.isEmpty || !algorithm.allSatisfy({ $0.isLetter || $0.isNumber || "+._-".contains($0) }) {
                throw BerthError(.invalidArgument, "invalid checksum digest format")
            }
            throw BerthError(.invalidArgument, "unsupported digest algorithm")
        }
        guard encoded.utf8.count == expectedLength, encoded.utf8.allSatisfy(Digest.isLowerHex) else {
            throw BerthError(.invalidArgument, "invalid checksum digest length")
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// Builds a sha256 digest from its 64 hex characters (checked).
    public init(sha256Hex hex: String) throws {
        try self.init(parsing: "sha256:" + hex)
    }

    private init(unchecked algorithm: String, _ encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }

    public var description: String { "\(algorithm):\(encoded)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// The SHA-256 digest of `data`.
    public static func sha256(_ data: some DataProtocol) -> Digest {
        Digest(unchecked: "sha256", SHA256.hash(data: data).hexString)
    }

    /// The SHA-256 digest of a UTF-8 string.
    public static func sha256(_ string: String) -> Digest { sha256(Data(string.utf8)) }

    static func isLowerHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: s)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Used by ``DigestHasher`` to wrap a finished hash.
    static func fromSHA256(_ d: SHA256.Digest) -> Digest { Digest(unchecked: "sha256", d.hexString) }
}

/// Streaming SHA-256, for blobs too large to hold in memory.
public struct DigestHasher: @unchecked Sendable {  // SHA256 is a plain value type; Crypto just does not mark it Sendable.
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public mutating func update(_ data: some DataProtocol) {
        hasher.update(data: data)
        count += Int64(data.count)
    }

    public func finalize() -> Digest { Digest.fromSHA256(hasher.finalize()) }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        let table: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in self {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension SHA256.Digest {
    var hexString: String { Array(self).hexString }
}

extension Digest {
    /// Docker's layer chain ID: chainID(1) = diffID(1); chainID(n) = sha256(chainID(n-1) + " " + diffID(n)).
    public static func chainIDs(diffIDs: [Digest]) -> [Digest] {
        var result: [Digest] = []
        result.reserveCapacity(diffIDs.count)
        for diff in diffIDs {
            if let parent = result.last {
                result.append(.sha256("\(parent) \(diff)"))
            } else {
                result.append(diff)
            }
        }
        return result
    }
}
