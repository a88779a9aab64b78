import NIOSSL

/// Everything needed to reach one Redis server. Every property has a default; `init(url:)` reads
/// `redis://[user:password@]host[:port][/db]`, or `rediss://...` for TLS.
public struct RedisConfiguration: Sendable {
    /// Default "127.0.0.1".
    public var host: String
    /// Default 6379.
    public var port: Int
    /// The ACL user for `AUTH user password`; nil (default) sends `AUTH password` (user "default").
    public var username: String?
    /// nil (default): no AUTH.
    public var password: String?
    /// The database for `SELECT`; default 0 (no SELECT is sent).
    public var database: Int
    /// TLS through swift-nio-ssl when set; nil (default) is plain TCP. `rediss://` URLs set
    /// `TLSConfiguration.makeClientConfiguration()` (system trust roots, full verification).
    public var tls: TLSConfiguration?
    /// The name checked against the server's certificate (SNI); default: `host`, unless it is an
    /// IP address.
    public var tlsServerName: String?
    /// Send `HELLO 3` and speak RESP3; default false (RESP2, which every Redis speaks).
    public var useRESP3: Bool
    /// Sent as `CLIENT SETNAME` when set; default nil.
    public var clientName: String?
    /// How long to wait for the TCP (and TLS) connection and the handshake; default 5 s.
    public var connectTimeout: Duration
    /// How long a command (or a whole pipeline) may wait for its reply; default 30 s. A command
    /// that times out fails with `RedisClientError.timeout`; its late reply is discarded and the
    /// connection stays usable.
    public var commandTimeout: Duration
    /// How long a command waits for a shared connection while none is up (the server is down
    /// or restarting) before it fails with the last connection error. A long-running worker
    /// waits; a one-shot command line tool should give up sooner.
    public var connectionWaitTimeout: Duration
    /// The number of shared connections a `RedisConnectionPool` keeps open; default 2.
    public var poolSize: Int
    /// The first reconnect delay after a failure; it doubles up to `reconnectMaxDelay`.
    /// Defaults 100 ms and 5 s.
    public var reconnectInitialDelay: Duration
    public var reconnectMaxDelay: Duration
    /// Limits on what the server may send; see `RESPParserLimits` for the defaults.
    public var parserLimits: RESPParserLimits

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        tls: TLSConfiguration? = nil,
        useRESP3: Bool = false
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.tlsServerName = nil
        self.useRESP3 = useRESP3
        self.clientName = nil
        self.connectTimeout = .seconds(5)
        self.commandTimeout = .seconds(30)
        self.connectionWaitTimeout = .seconds(30)
        self.poolSize = 2
        self.reconnectInitialDelay = .milliseconds(100)
        self.reconnectMaxDelay = .seconds(5)
        self.parserLimits = RESPParserLimits()
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS). Host may be an
    /// IPv6 literal in brackets; user and password may be percent-encoded.
    public init(url: String) throws(RedisClientError) {
        func invalid(_ why: String) -> RedisClientError {
            RedisClientError(.invalidConfiguration, "invalid Redis URL '\(url)': \(why)")
        }
        self.init()
        var rest: Substring
        if url.hasPrefix("redis://") {
            rest = url.dropFirst("redis://".count)
        } else if url.hasPrefix("rediss://") {
            rest = url.dropFirst("rediss://".count)
            tls = TLSConfiguration.makeClientConfiguration()
        } else {
            throw invalid("the scheme must be redis:// or rediss://")
        }
        if let query = rest.firstIndex(of: "?") { rest = rest[..<query] }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = userInfo[..<colon]
                guard let u = percentDecode(user), let p = percentDecode(userInfo[userInfo.index(after: colon)...]) else {
                    throw invalid("bad percent-encoding")
                }
                username = user.isEmpty ? nil : u
                password = p
            } else {
                // "redis://secret@host": a password alone, as redis-cli reads it.
                guard let p = percentDecode(userInfo) else { throw invalid("bad percent-encoding") }
                password = p
            }
        }
        var hostPart = rest
        var portPart: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw invalid("unclosed '[' in host") }
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty { throw invalid("junk after ']'") }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        if !hostPart.isEmpty { host = String(hostPart) }
        if let portPart {
            guard let p = Int(portPart), (1...65535).contains(p) else { throw invalid("bad port '\(portPart)'") }
            port = p
        }
        if !path.isEmpty {
            guard let db = Int(path), db >= 0 else { throw invalid("bad database number '\(path)'") }
            database = db
        }
    }

    /// "host:port", for messages.
    public var endpoint: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

private func percentDecode(_ s: Substring) -> String? {
    var bytes: [UInt8] = []
    var utf8 = s.utf8[...]
    while let b = utf8.popFirst() {
        if b == UInt8(ascii: "%") {
            guard utf8.count >= 2, let v = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            bytes.append(v)
            utf8 = utf8.dropFirst(2)
        } else {
            bytes.append(b)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
