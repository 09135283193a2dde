/// Go's `text/tabwriter` as forked by the docker CLI (`cli/command/formatter/tabwriter`, which
/// measures cells with `go-runewidth`): elastic tabstops over tab-terminated cells.
///
/// Docker's tables use `TabWriter(minwidth: 10, tabwidth: 1, padding: 3, padchar: " ")`.
public struct TabWriter {
    struct Cell {
        var size = 0    // bytes
        var width = 0   // display columns
        var htab = false
    }

    let minwidth: Int
    let tabwidth: Int
    let padding: Int
    let padchar: UInt8
    let alignRight: Bool

    var buf: [UInt8] = []
    var pos = 0
    var cell = Cell()
    var lines: [[Cell]] = [[]]
    var widths: [Int] = []
    public private(set) var output: [UInt8] = []

    public init(minwidth: Int, tabwidth: Int, padding: Int, padchar: Character = " ", alignRight: Bool = false) {
        self.minwidth = minwidth
        self.tabwidth = tabwidth
        self.padding = padding
        self.padchar = padchar.asciiValue ?? 0x20
        self.alignRight = padchar == "\t" ? false : alignRight
    }

    /// Docker's table writer.
    public static func dockerTable() -> TabWriter { TabWriter(minwidth: 10, tabwidth: 1, padding: 3) }

    /// Formats `text` in one go.
    public static func format(_ text: String, minwidth: Int = 10, tabwidth: Int = 1, padding: Int = 3) -> String {
        var w = TabWriter(minwidth: minwidth, tabwidth: tabwidth, padding: padding)
        w.write(text)
        w.flush()
        return String(decoding: w.output, as: UTF8.self)
    }

    mutating func reset() {
        buf.removeAll(keepingCapacity: true)
        pos = 0
        cell = Cell()
        lines = [[]]
        widths.removeAll()
    }

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        buf.append(contentsOf: bytes)
        cell.size += bytes.count
    }

    mutating func updateWidth() {
        cell.width += TabWriter.displayWidth(buf[pos...])
        pos = buf.count
    }

    mutating func terminateCell(htab: Bool) -> Int {
        cell.htab = htab
        lines[lines.count - 1].append(cell)
        cell = Cell()
        return lines[lines.count - 1].count
    }

    public mutating func write(_ s: String) { write(Array(s.utf8)) }

    public mutating func write(_ bytes: [UInt8]) {
        var n = 0
        for (i, ch) in bytes.enumerated() {
            switch ch {
            case 0x09, 0x0B, 0x0A, 0x0C:  // \t \v \n \f
                append(bytes[n..<i])
                updateWidth()
                n = i + 1
                let ncells = terminateCell(htab: ch == 0x09)
                if ch == 0x0A || ch == 0x0C {
                    lines.append([])
                    if ch == 0x0C || ncells == 1 {
                        // A line with a single cell does not affect the layout of later lines.
                        flushInternal()
                    }
                }
            default:
                break
            }
        }
        append(bytes[n...])
    }

    /// Formats and emits everything buffered.
    public mutating func flush() {
        flushInternal()
    }

    mutating func flushInternal() {
        if cell.size > 0 {
            updateWidth()
            _ = terminateCell(htab: false)
        }
        _ = format(pos0: 0, line0: 0, line1: lines.count)
        reset()
    }

    mutating func writePadding(textw: Int, cellw: Int) {
        if padchar == 0x09 {
            guard tabwidth > 0 else { return }
            let cw = (cellw + tabwidth - 1) / tabwidth * tabwidth
            let n = cw - textw
            output.append(contentsOf: repeatElement(0x09, count: (n + tabwidth - 1) / tabwidth))
            return
        }
        if cellw > textw { output.append(contentsOf: repeatElement(padchar, count: cellw - textw)) }
    }

    mutating func writeLines(pos0: Int, line0: Int, line1: Int) -> Int {
        var pos = pos0
        for i in line0..<line1 {
            let line = lines[i]
            for (j, c) in line.enumerated() {
                if c.size == 0 {
                    if j < widths.count { writePadding(textw: c.width, cellw: widths[j]) }
                } else if !alignRight {
                    output.append(contentsOf: buf[pos..<(pos + c.size)])
                    pos += c.size
                    if j < widths.count { writePadding(textw: c.width, cellw: widths[j]) }
                } else {
                    if j < widths.count { writePadding(textw: c.width, cellw: widths[j]) }
                    output.append(contentsOf: buf[pos..<(pos + c.size)])
                    pos += c.size
                }
            }
            if i + 1 == lines.count {
                // Last buffered line: no newline, just write the pending cell data.
                output.append(contentsOf: buf[pos..<(pos + cell.size)])
                pos += cell.size
            } else {
                output.append(0x0A)
            }
        }
        return pos
    }

    mutating func format(pos0: Int, line0 l0: Int, line1: Int) -> Int {
        var pos = pos0
        var line0 = l0
        let column = widths.count
        var this = line0
        while this < line1 {
            if column >= lines[this].count - 1 {
                this += 1
                continue
            }
            // A cell exists in this column: print lines before the block, then measure the block.
            pos = writeLines(pos0: pos, line0: line0, line1: this)
            line0 = this
            var width = minwidth
            while this < line1 {
                let line = lines[this]
                if column >= line.count - 1 { break }
                let w = line[column].width + padding
                if w > width { width = w }
                this += 1
            }
            widths.append(width)
            pos = format(pos0: pos, line0: line0, line1: this)
            widths.removeLast()
            line0 = this
        }
        return writeLines(pos0: pos, line0: line0, line1: line1)
    }

    /// Display width of UTF-8 text (go-runewidth: East Asian wide characters count 2, combining marks 0).
    public static func displayWidth(_ bytes: ArraySlice<UInt8>) -> Int {
        var ascii = true
        for b in bytes where b >= 0x80 { ascii = false; break }
        if ascii { return bytes.count }
        var w = 0
        for sc in String(decoding: bytes, as: UTF8.self).unicodeScalars { w += scalarWidth(sc) }
        return w
    }

    static func scalarWidth(_ s: Unicode.Scalar) -> Int {
        let v = s.value
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        switch s.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if v == 0x200B { return 0 }
        if (0x1100...0x115F).contains(v) || (0x2E80...0x303E).contains(v) || (0x3041...0x33FF).contains(v)
            || (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v) || (0xA000...0xA4CF).contains(v)
            || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v)
            || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v)
            || (0x1F900...0x1F9FF).contains(v) || (0x20000...0x3FFFD).contains(v) {
            return 2
        }
        return 1
    }
}
