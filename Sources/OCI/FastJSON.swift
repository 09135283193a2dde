/// A strict, allocation-light JSON pull reader for the few documents read on every container
/// start (the bundle's `config.json`, the runtime's `state.json`).
///
/// Why not `JSONDecoder`: its first use in a process costs ~1.5 ms of generic-metadata
/// instantiation and protocol-conformance lookups, a large share of a short-lived
/// `berth-runtime run`. Callers decode into concrete types by hand with this reader; it only ever
/// *succeeds* on input `JSONDecoder` would decode to the same value, and throws `Unsupported` on
/// anything else (malformed JSON, a type mismatch, an unusual number form), after which the caller
/// falls back to `JSONDecoder` for the value or its precise error message.
public struct FastJSONReader {
    /// The reader cannot (or will not) decode this input; use `JSONDecoder` instead.
    public struct Unsupported: Error { public init() {} }

    private let base: UnsafePointer<UInt8>
    private let end: Int
    private var i = 0

    /// Reads from `buffer`, which must outlive the reader.
    public init(_ buffer: UnsafeBufferPointer<UInt8>) {
        base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        end = buffer.count
    }

    /// Parses a whole document with `body`, requiring nothing but white space after it.
    public static func parse<T>(_ bytes: [UInt8], _ body: (inout FastJSONReader) throws -> T) throws -> T {
        try bytes.withUnsafeBufferPointer { buf in
            var r = FastJSONReader(buf)
            let v = try body(&r)
            r.skipSpace()
            guard r.i == r.end else { throw Unsupported() }
            return v
        }
    }

    private func at(_ k: Int) -> UInt8 { base[k] }

    mutating func skipSpace() {
        while i < end {
            let c = base[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    private mutating func expect(_ c: UInt8) throws {
        skipSpace()
        guard i < end, base[i] == c else { throw Unsupported() }
        i += 1
    }

    private mutating func peek() throws -> UInt8 {
        skipSpace()
        guard i < end else { throw Unsupported() }
        return base[i]
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard end - i >= n else { throw Unsupported() }
        let w = word.utf8Start
        for k in 0..<n where base[i + k] != w[k] { throw Unsupported() }
        i += n
    }

    /// Consumes a `null` if one comes next.
    public mutating func null() throws -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// Iterates the members of an object: `body` gets each key and must consume its value.
    /// A repeated key is declined (JSONDecoder keeps the first; leave such input to it).
    public mutating func object(_ body: (inout FastJSONReader, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        if try peek() == UInt8(ascii: "}") { i += 1; return }
        var seen: [String] = []
        while true {
            guard try peek() == UInt8(ascii: "\"") else { throw Unsupported() }
            let key = try string()
            guard !seen.contains(key) else { throw Unsupported() }
            seen.append(key)
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            switch try peek() {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "}"): i += 1; return
            default: throw Unsupported()
            }
        }
    }

    /// An array whose elements `element` reads.
    public mutating func array<T>(_ element: (inout FastJSONReader) throws -> T) throws -> [T] {
        try expect(UInt8(ascii: "["))
        var out: [T] = []
        if try peek() == UInt8(ascii: "]") { i += 1; return out }
        while true {
            out.append(try element(&self))
            switch try peek() {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"): i += 1; return out
            default: throw Unsupported()
            }
        }
    }

    /// An object of strings (`[String: String]`).
    public mutating func stringMap() throws -> [String: String] {
        var out: [String: String] = [:]
        try object { r, key in out[key] = try r.string() }
        return out
    }

    public mutating func stringArray() throws -> [String] { try array { try $0.string() } }

    public mutating func bool() throws -> Bool {
        switch try peek() {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        default: throw Unsupported()
        }
    }

    /// A string; escapes decoded, UTF-8 validated.
    public mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""))
        let start = i
        var plain = true
        while true {
            guard i < end else { throw Unsupported() }
            let c = base[i]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw Unsupported() }
            if c == UInt8(ascii: "\\") {
                plain = false
                i += 2
                continue
            }
            i += 1
        }
        guard i < end else { throw Unsupported() }
        let raw = UnsafeBufferPointer(start: base + start, count: i - start)
        i += 1
        if plain { return try Self.validated(raw) }
        return try Self.unescape(raw)
    }

    /// The string of UTF-8 bytes, refusing invalid UTF-8. (Not `String(validating:as:)`: it is
    /// generic and unspecialized here, and looks up generic metadata on every call.)
    private static func validated(_ raw: UnsafeBufferPointer<UInt8>) throws -> String {
        let s = String(decoding: raw, as: UTF8.self)
        // Decoding repairs invalid sequences with U+FFFD, which changes the bytes.
        if raw.contains(where: { $0 >= 0x80 }), !s.utf8.elementsEqual(raw) { throw Unsupported() }
        return s
    }

    private static func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var k = 0
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= raw.count else { throw Unsupported() }
            var v: UInt32 = 0
            for j in at..<(at + 4) {
                let c = raw[j]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw Unsupported()
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while k < raw.count {
            let c = raw[k]
            guard c == UInt8(ascii: "\\") else { out.append(c); k += 1; continue }
            guard k + 1 < raw.count else { throw Unsupported() }
            let e = raw[k + 1]
            k += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(k)
                k += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A surrogate pair; a lone surrogate is left to JSONDecoder.
                    guard k + 6 <= raw.count, raw[k] == UInt8(ascii: "\\"), raw[k + 1] == UInt8(ascii: "u") else { throw Unsupported() }
                    let low = try hex4(k + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw Unsupported() }
                    k += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw Unsupported()
                }
                guard let u = Unicode.Scalar(scalar) else { throw Unsupported() }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                throw Unsupported()
            }
        }
        return try out.withUnsafeBufferPointer { try validated($0) }
    }

    /// The digits of an integer: `-?(0|[1-9][0-9]*)`, nothing else (no fraction or exponent).
    private mutating func integerText() throws -> (negative: Bool, magnitude: UInt64) {
        skipSpace()
        var negative = false
        if i < end, base[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        let start = i
        var v: UInt64 = 0
        while i < end, base[i] >= UInt8(ascii: "0"), base[i] <= UInt8(ascii: "9") {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(base[i] - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw Unsupported() }
            v = a
            i += 1
        }
        let n = i - start
        guard n > 0, !(n > 1 && base[start] == UInt8(ascii: "0")) else { throw Unsupported() }
        if i < end, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(base[i]) { throw Unsupported() }
        return (negative, v)
    }

    public mutating func uint64() throws -> UInt64 {
        let (neg, v) = try integerText()
        guard !neg else { throw Unsupported() }
        return v
    }

    public mutating func int64() throws -> Int64 {
        let (neg, v) = try integerText()
        if neg {
            guard v != 0, v <= UInt64(Int64.max) + 1 else { throw Unsupported() }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        guard v <= UInt64(Int64.max) else { throw Unsupported() }
        return Int64(v)
    }

    /// An integer of any fixed-width type (range-checked).
    public mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        if T.isSigned {
            guard let v = T(exactly: try int64()) else { throw Unsupported() }
            return v
        }
        guard let v = T(exactly: try uint64()) else { throw Unsupported() }
        return v
    }

    /// Skips one value of any kind (validating its syntax).
    public mutating func skip() throws {
        switch try peek() {
        case UInt8(ascii: "{"): try object { r, _ in try r.skip() }
        case UInt8(ascii: "["): _ = try array { try $0.skip() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"): try literal("null")
        default: try skipNumber()
        }
    }

    private mutating func skipNumber() throws {
        if i < end, base[i] == UInt8(ascii: "-") { i += 1 }
        func digits(_ r: inout FastJSONReader) -> Int {
            let s = r.i
            while r.i < r.end, r.base[r.i] >= UInt8(ascii: "0"), r.base[r.i] <= UInt8(ascii: "9") { r.i += 1 }
            return r.i - s
        }
        let s = i
        let n = digits(&self)
        guard n > 0, !(n > 1 && base[s] == UInt8(ascii: "0")) else { throw Unsupported() }
        if i < end, base[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw Unsupported() }
        }
        if i < end, base[i] == UInt8(ascii: "e") || base[i] == UInt8(ascii: "E") {
            i += 1
            if i < end, base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw Unsupported() }
        }
    }

    // Optional helpers: JSONDecoder's decodeIfPresent treats null as absent.
    public mutating func optString() throws -> String? { try null() ? nil : try string() }
    public mutating func optBool() throws -> Bool? { try null() ? nil : try bool() }
    public mutating func optInteger<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T? { try null() ? nil : try integer(T.self) }
    public mutating func optStringArray() throws -> [String]? { try null() ? nil : try stringArray() }
    public mutating func optStringMap() throws -> [String: String]? { try null() ? nil : try stringMap() }
    public mutating func optArray<T>(_ element: (inout FastJSONReader) throws -> T) throws -> [T]? {
        try null() ? nil : try array(element)
    }
}

/// A compact JSON writer for the same hot-path documents (`state.json`); its output reads back with
/// `JSONDecoder` too. Keys and values are written in call order; commas are placed automatically.
public struct FastJSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Per open object/array: whether something was written in it already.
    private var started: [Bool] = []
    /// A key was just written: the next value belongs to it (no comma).
    private var afterKey = false

    public init() { bytes.reserveCapacity(1024) }

    /// Before any value or key: the comma between siblings.
    private mutating func separate() {
        if afterKey { afterKey = false; return }
        guard let last = started.last else { return }
        if last { bytes.append(UInt8(ascii: ",")) } else { started[started.count - 1] = true }
    }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); started.append(false) }
    public mutating func endObject() { started.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); started.append(false) }
    public mutating func endArray() { started.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// A member key (its value follows with one of the value writers).
    public mutating func key(_ k: String) {
        separate()
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func string(_ s: String) { separate(); appendQuoted(s) }
    public mutating func bool(_ v: Bool) { separate(); bytes.append(contentsOf: (v ? "true" : "false").utf8) }
    public mutating func integer<T: FixedWidthInteger>(_ v: T) { separate(); bytes.append(contentsOf: String(v).utf8) }
    public mutating func stringArray(_ a: [String]) {
        beginArray()
        for s in a { string(s) }
        endArray()
    }
    public mutating func stringMap(_ m: [String: String]) {
        beginObject()
        for k in m.keys.sorted() { key(k); string(m[k]!) }
        endObject()
    }

    private mutating func appendQuoted(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(c)
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(c >> 4)], hex[Int(c & 15)]])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
