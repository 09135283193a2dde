#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import OCI

/// What berthd keeps about a container, in `<data-root>/containers/<id>/config.v2.json`
/// (the host config also in `hostconfig.json`, as dockerd does).
public struct ContainerRecord: Codable, Sendable {
    public var ID: String
    /// With the leading `/`.
    public var Name: String
    public var Created: String
    public var Path: String
    public var Args: [String]
    public var Config: ContainerAPIConfig
    public var HostConfig: ContainerHostConfig
    /// `sha256:…`
    public var Image: String
    public var State: ContainerState
    public var RestartCount: Int
    /// The runtime's name (`HostConfig.Runtime` or the daemon default at create).
    public var RuntimeName: String
    /// Overlay lower dirs (image snapshots), topmost first.
    public var LowerDirs: [String]
    /// The monitor's pid while running (for live-restore).
    public var MonitorPid: Int32?
    public var HasBeenStartedBefore: Bool
    /// `stop`/`kill` by the user: no restart policy applies.
    public var ManualStop: Bool?

    public var id: String { ID }
    public var running: Bool { State.Running }
}

/// Docker-style container names: validation and `adjective_surname` generation.
public enum ContainerNames {
    /// `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`
    public static func isValid(_ raw: String) -> Bool {
        var s = Substring(raw)
        if s.hasPrefix("/") { s = s.dropFirst() }
        guard s.count >= 2, let first = s.first, first.isASCII, first.isLetter || first.isNumber else { return false }
        return s.dropFirst().allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-") }
    }

    static let left = [
        "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
        "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
        "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
        "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive",
        "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great",
        "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent",
        "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
        "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
        "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
        "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
        "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
        "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
    ]
    static let right = [
        "agnesi", "albattani", "allen", "almeida", "antonelli", "archimedes", "ardinghelli", "aryabhata", "austin",
        "babbage", "banach", "bardeen", "bartik", "bassi", "beaver", "bell", "benz", "bhabha", "bhaskara", "black",
        "blackburn", "blackwell", "bohr", "booth", "borg", "bose", "bouman", "boyd", "brahmagupta", "brattain",
        "brown", "buck", "burnell", "cannon", "carson", "cartwright", "cerf", "chandrasekhar", "chaplygin",
        "chatelet", "chatterjee", "chebyshev", "cohen", "colden", "cori", "cray", "curie", "darwin", "davinci",
        "dewdney", "dhawan", "diffie", "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "edison", "einstein",
        "elbakyan", "elgamal", "elion", "ellis", "engelbart", "euclid", "euler", "faraday", "feistel", "fermat",
        "fermi", "feynman", "franklin", "gagarin", "galileo", "galois", "ganguly", "gates", "gauss", "germain",
        "goldberg", "goldstine", "goldwasser", "golick", "goodall", "gould", "greider", "grothendieck", "haibt",
        "hamilton", "haslett", "hawking", "heisenberg", "hellman", "hermann", "herschel", "hertz", "heyrovsky",
        "hodgkin", "hofstadter", "hoover", "hopper", "hugle", "hypatia", "jackson", "jang", "jennings", "jepsen",
        "johnson", "joliot", "jones", "kalam", "kapitsa", "kare", "keldysh", "keller", "kepler", "khayyam",
        "khorana", "kilby", "kirch", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt",
        "lederberg", "lehmann", "lewin", "lichterman", "liskov", "lovelace", "lumiere", "mahavira", "margulis",
        "matsumoto", "maxwell", "mayer", "mccarthy", "mcclintock", "mclaren", "mclean", "mcnulty", "meitner",
        "mendel", "mendeleev", "meninsky", "merkle", "mestorf", "mirzakhani", "montalcini", "moore", "morse",
        "moser", "murdock", "napier", "nash", "neumann", "newton", "nightingale", "nobel", "noether", "northcutt",
        "noyce", "panini", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "poitras",
        "proskuriakova", "ptolemy", "raman", "ramanujan", "rhodes", "ride", "ritchie", "robinson", "roentgen",
        "rosalind", "rubin", "saha", "sammet", "sanderson", "satoshi", "shamir", "shannon", "shaw", "shirley",
        "shockley", "shtern", "sinoussi", "snyder", "solomon", "spence", "stonebraker", "sutherland", "swanson",
        "swartz", "swirles", "taussig", "tesla", "tharp", "thompson", "torvalds", "tu", "turing", "varahamihira",
        "vaughan", "villani", "visvesvaraya", "volhard", "wescoff", "wilbur", "wiles", "williams", "williamson",
        "wilson", "wing", "wozniak", "wright", "wu", "yalow", "yonath", "zhukovsky",
    ]

    /// moby's `namesgenerator.GetRandomName(retry)`.
    public static func random(retry: Int = 0) -> String {
        var name = "\(left.randomElement()!)_\(right.randomElement()!)"
        if name == "boring_wozniak" { return random(retry: retry) }
        if retry > 0 { name += String(Int.random(in: 0..<10)) }
        return name
    }

    /// 64 hex characters from the kernel's random source.
    public static func newID() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        let digits = Array("0123456789abcdef".utf8)
        var chars: [UInt8] = []
        chars.reserveCapacity(64)
        for b in bytes { chars.append(digits[Int(b >> 4)]); chars.append(digits[Int(b & 15)]) }
        let hex = String(decoding: chars, as: UTF8.self)
        // moby rejects all-numeric IDs' short form (it would look like an integer).
        if Int(hex.prefix(12)) != nil { return newID() }
        return hex
    }
}
