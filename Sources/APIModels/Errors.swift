/// The body of every Docker API error response.
public struct ErrorResponse: Codable, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
}

/// One line of Docker's JSON progress stream (`/images/create`, `/images/{name}/push`, `/build`).
public struct JSONMessage: Codable, Sendable, Hashable {
    public struct ProgressDetail: Codable, Sendable, Hashable {
        public var current: Int64?
        public var total: Int64?
        public var start: Int64?
        public var hidecounts: Bool?
        public var units: String?
        public init(current: Int64? = nil, total: Int64? = nil) {
            self.current = current
            self.total = total
        }
    }
    public struct ErrorDetail: Codable, Sendable, Hashable {
        public var code: Int?
        public var message: String
        public init(code: Int? = nil, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var stream: String?
    public var status: String?
    public var progressDetail: ProgressDetail?
    /// Pre-rendered bar, kept for old clients.
    public var progress: String?
    public var id: String?
    public var from: String?
    public var time: Int64?
    public var timeNano: Int64?
    public var errorDetail: ErrorDetail?
    /// Deprecated mirror of `errorDetail.message`, still read by docker-py.
    public var error: String?
    public var aux: JSONValue?

    public init(status: String? = nil, id: String? = nil, progressDetail: ProgressDetail? = nil, progress: String? = nil) {
        self.status = status
        self.id = id
        self.progressDetail = progressDetail
        self.progress = progress
    }

    public static func failure(_ message: String) -> JSONMessage {
        var m = JSONMessage()
        m.errorDetail = ErrorDetail(message: message)
        m.error = message
        return m
    }
}
