import APIClient
import Testing
@testable import BerthCLI

struct HumanUnitsTests {
    /// go-units `HumanSizeWithPrecision(size, 3)` (what `docker images` shows).
    @Test(arguments: [
        (0, "0B"), (1, "1B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (999_999, "1e+03kB"),
        (4_261_550, "4.26MB"), (7_800_000, "7.8MB"), (1_234_567_890, "1.23GB"), (-5, "-5B"), (1_000_000_000_000, "1TB"),
    ] as [(Int64, String)])
    func humanSize3(_ size: Int64, _ expected: String) {
        #expect(HumanUnits.humanSize(size, precision: 3) == expected)
    }

    /// go-units `HumanSize` (precision 4).
    @Test(arguments: [(4_261_550, "4.262MB"), (999_999, "1000kB"), (1_234_567, "1.235MB"), (5_261_550, "5.262MB"), (0, "0B")] as [(Int64, String)])
    func humanSize4(_ size: Int64, _ expected: String) {
        #expect(HumanUnits.humanSize(size) == expected)
    }

    @Test(arguments: [(25_000_000_000.0, "23.28GiB"), (1024, "1KiB"), (512, "512B")] as [(Double, String)])
    func bytesSize(_ size: Double, _ expected: String) {
        #expect(HumanUnits.bytesSize(size) == expected)
    }

    /// go-units `HumanDuration`.
    @Test(arguments: [
        (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"), (119, "About a minute"),
        (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"),
        (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (13 * 86400, "13 days"), (14 * 86400, "2 weeks"),
        (21 * 86400, "3 weeks"), (59 * 86400, "8 weeks"), (60 * 86400, "2 months"), (400 * 86400, "13 months"),
        (730 * 86400, "2 years"), (56 * 365 * 86400 + 20 * 86400, "56 years"),
    ] as [(Double, String)])
    func humanDuration(_ seconds: Double, _ expected: String) {
        #expect(HumanUnits.humanDuration(seconds: seconds) == expected)
    }

    @Test func goDurations() {
        #expect(HumanUnits.goDuration(seconds: 0) == "0s")
        #expect(HumanUnits.goDuration(seconds: 62) == "1m2s")
        #expect(HumanUnits.goDuration(seconds: 3600) == "1h0m0s")
    }

    @Test func reformatDate() {
        #expect(HumanUnits.reformatDate("2025-05-30T12:07:14.000000000+00:00") == "Fri May 30 12:07:14 2025")
        #expect(HumanUnits.reformatDate("2024-01-05T03:04:05Z") == "Fri Jan  5 03:04:05 2024")
        #expect(HumanUnits.reformatDate("not a date") == "not a date")
    }

    @Test(arguments: [(4_260_000.0, "4.26e+06"), (0.5, "0.5"), (123456.0, "123456"), (1e21, "1e+21"), (0.0001, "0.0001"), (0.00001, "1e-05")] as [(Double, String)])
    func goFloatV(_ f: Double, _ expected: String) {
        #expect(GoFormat.formatFloatV(f) == expected)
    }

    @Test(arguments: [(4_260_000.0, "4260000"), (1e21, "1e+21"), (0.0000001, "1e-7"), (1.5, "1.5")] as [(Double, String)])
    func goFloatJSON(_ f: Double, _ expected: String) {
        #expect(GoFormat.formatFloatJSON(f) == expected)
    }
}

struct TabWriterTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var expected: String
        var testDescription: String { input.replacingAll("\t", with: "\\t").replacingAll("\n", with: "\\n") }
    }

    /// Expectations from Go's text/tabwriter with docker's settings (minwidth 10, tabwidth 1, padding 3).
    static let cases: [Case] = [
        Case(input: "REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\ta1a1\n",
             expected: "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    a1a1\n"),
        Case(input: "A\tB\nlong-long-long-value\tx\n",
             expected: "A                      B\nlong-long-long-value   x\n"),
        Case(input: "single\nA\tB\n", expected: "single\nA         B\n"),
        // A line without a cell in a column ends that column's block.
        Case(input: "aaaa\tbbb\td\naa\tb\tdd\na\naa\tcccc\teee\n",
             expected: "aaaa      bbb       d\naa        b         dd\na\naa        cccc      eee\n"),
        Case(input: "ID\tX|Y\n", expected: "ID        X|Y\n"),
        Case(input: "日本\tx\nab\ty\n", expected: "日本      x\nab        y\n"),
        Case(input: "no newline at end", expected: "no newline at end"),
    ]

    @Test(arguments: cases)
    func layout(_ c: Case) {
        #expect(TabWriter.format(c.input) == c.expected)
    }

    @Test func versionWriterSettings() {
        var w = TabWriter(minwidth: 20, tabwidth: 1, padding: 1)
        w.write("Client:\n Version:\t0.1.0\n API version:\t1.50\n")
        w.flush()
        #expect(String(decoding: w.output, as: UTF8.self) == "Client:\n Version:           0.1.0\n API version:       1.50\n")
    }
}

struct JSONTests {
    @Test func indentLikeGo() {
        let raw = Array(#"[{"a":1,"b":[],"c":{},"d":[1,2],"e":"x, y: {z}"}]"#.utf8)
        let expected = """
            [
                {
                    "a": 1,
                    "b": [],
                    "c": {},
                    "d": [
                        1,
                        2
                    ],
                    "e": "x, y: {z}"
                }
            ]
            """
        #expect(String(decoding: JSON.indent(raw), as: UTF8.self) == expected)
    }

    @Test func parsePreservesOrderAndTypes() throws {
        let v = try JSON.parse(#"{"z":1,"a":[true,null,1.5,"s\u00e9\n"],"m":{}}"#)
        guard case .map(let m) = v else { Issue.record("not a map"); return }
        #expect(m.keys == ["z", "a", "m"])
        #expect(JSON.encode(v, escapeHTML: false) == #"{"z":1,"a":[true,null,1.5,"sé\n"],"m":{}}"#)
    }

    @Test func goEscaping() {
        #expect(JSON.encode(.string("<a&b>\u{2028}"), escapeHTML: true) == #""\u003ca\u0026b\u003e\u2028""#)
        #expect(JSON.encode(.string("<a>"), escapeHTML: false) == #""<a>""#)
        #expect(JSON.encode(.string("tab\tq\"\u{01}"), escapeHTML: false) == #""tab\tq\"\u0001""#)
    }

    @Test func streamSplitter() {
        var s = JSONStreamSplitter()
        var got = s.feed(Array(#"{"a":1}"#.utf8) + [0x0D, 0x0A] + Array(#"{"b":"}{"#.utf8))
        #expect(got.map { String(decoding: $0, as: UTF8.self) } == [#"{"a":1}"#])
        got = s.feed(Array(#""}{"c":[1,{"d":2}]}"#.utf8))
        #expect(got.map { String(decoding: $0, as: UTF8.self) } == [#"{"b":"}{"}"#, #"{"c":[1,{"d":2}]}"#])
    }
}

struct JSONMessageDisplayTests {
    static let lines = [
        #"{"status":"Pulling from library/busybox","id":"latest"}"#,
        #"{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}"#,
        #"{"status":"Downloading","progressDetail":{"current":1000000,"total":3000000},"progress":"[=> ]","id":"aaa"}"#,
        #"{"status":"Pull complete","progressDetail":{},"id":"aaa"}"#,
        #"{"status":"Digest: sha256:abc"}"#,
    ]

    @Test func plainOutputDropsProgressBars() {
        let out = OutputStream(capturingAsTerminal: false)
        let d = JSONMessageDisplay(out: out)
        for l in Self.lines { d.handle(Array(l.utf8)) }
        #expect(out.capturedString == "latest: Pulling from library/busybox\naaa: Pulling fs layer\naaa: Pull complete\nDigest: sha256:abc\n")
    }

    @Test func terminalRewritesLinesInPlace() {
        let out = OutputStream(capturingAsTerminal: true)
        let d = JSONMessageDisplay(out: out, isTerminal: true, width: 0)
        for l in Self.lines { d.handle(Array(l.utf8)) }
        let esc = "\u{1B}"
        let expected = "latest: Pulling from library/busybox\n"
            + "\n\(esc)[1A\(esc)[2K\raaa: Pulling fs layer \r\(esc)[1B"
            + "\(esc)[1A\(esc)[2K\raaa: Downloading      1MB/3MB\r\(esc)[1B"
            + "\(esc)[1A\(esc)[2K\raaa: Pull complete \r\(esc)[1B"
            + "Digest: sha256:abc\n"
        #expect(out.capturedString == expected)
    }

    @Test func progressBarOnWideTerminals() {
        let d = JSONMessageDisplay(out: OutputStream(capturingAsTerminal: true), isTerminal: true, width: 120)
        let s = d.progressString(.init(current: 1_500_000, total: 3_000_000), now: 0)
        #expect(s == "[=========================>                         ]    1.5MB/3MB")
    }

    @Test func errorsStopTheStream() {
        let d = JSONMessageDisplay(out: OutputStream(capturingAsTerminal: false))
        #expect(!d.handle(Array(#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#.utf8)))
        #expect(d.error == "manifest unknown")
    }
}
