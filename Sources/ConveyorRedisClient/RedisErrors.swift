/// An error reply from the server (`-ERR ...`, `-WRONGTYPE ...`, `!...`): the command failed,
/// the connection is fine.
public struct RedisServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The whole message, e.g. "WRONGTYPE Operation against a key holding the wrong kind of value".
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    /// The error's code: its first word ("ERR", "WRONGTYPE", "NOSCRIPT", "WRONGPASS").
    public var code: String {
        String(message.prefix { $0 != " " })
    }

    public var description: String { "Redis server error: \(message)" }
}

/// A failure of the client or of the connection (not an error reply to one command).
public struct RedisClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Could not open a TCP connection to the server.
        case connectionRefused
        /// A connect or a command did not complete in time.
        case timeout
        /// The server sent bytes that are not valid RESP, or that break the configured limits.
        case protocolError
        /// The connection was closed (by us, by the server or by a network failure) before the reply.
        case connectionClosed
        /// AUTH or HELLO ... AUTH was rejected.
        case authenticationFailed
        /// The TLS handshake failed: most often the server's certificate is not signed by a
        /// trusted root or does not name the host; the message holds TLS's own reason.
        case tlsHandshakeFailed
        /// A script was not in the server's cache even after SCRIPT LOAD.
        case noScript
        /// A configuration (URL, option) is not valid.
        case invalidConfiguration
        /// A reply did not have the shape a command expects.
        case unexpectedReply
    }

    public var kind: Kind
    /// What happened, in words.
    public var message: String
    /// For protocol errors: the offset, counted from the first byte the connection received, of
    /// the offending byte.
    public var offset: Int?

    public init(_ kind: Kind, _ message: String, offset: Int? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
    }

    public var description: String {
        if let offset { return "\(message) (at byte offset \(offset))" }
        return message
    }

    static func protocolError(_ what: String, offset: Int) -> RedisClientError {
        RedisClientError(.protocolError, "Redis protocol error: \(what)", offset: offset)
    }

    static func connectionClosed(_ endpoint: String) -> RedisClientError {
        RedisClientError(.connectionClosed, "connection to Redis at \(endpoint) closed")
    }

    static func timeout(command: String, endpoint: String) -> RedisClientError {
        RedisClientError(.timeout, "Redis command \(command) to \(endpoint) timed out")
    }
}
