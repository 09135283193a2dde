/// Text helpers without Foundation: `trimmingCharacters(in:)` bridges through NSString and its
/// first use costs ~0.1 ms, noticeable on the container-start path that reads small kernel files.
extension String {
    /// The text without leading and trailing ASCII white space (space, tab, CR, LF).
    var trimmedWhitespace: String {
        let u = utf8
        func ws(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        guard let first = u.firstIndex(where: { !ws($0) }), let last = u.lastIndex(where: { !ws($0) }) else { return "" }
        return String(decoding: u[first...last], as: UTF8.self)
    }
}
