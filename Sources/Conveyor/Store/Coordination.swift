import Foundation

/// A named leadership as the store granted it: who holds it, until when (by the store's
/// clock), and its fencing token, which grows every time the leadership changes hands, so a
/// deposed leader's late writes can be refused.
public struct Leadership: Sendable, Hashable {
    public var name: String
    public var holder: String
    public var token: Int
    public var expiresAt: Date

    public init(name: String, holder: String, token: Int, expiresAt: Date) {
        self.name = name
        self.holder = holder
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// A named record with a version that grows with every write: what compare-and-set guards.
public struct VersionedRecord: Sendable, Hashable {
    public var key: String
    public var value: Data
    public var version: Int

    public init(key: String, value: Data, version: Int) {
        self.key = key
        self.value = value
        self.version = version
    }
}

/// Coordination between processes through the store: one leader among many (one scheduler),
/// and records changed only by whoever read their latest version (a circuit breaker, a
/// schedule's definition). Times are the store's.
public protocol Coordination: Sendable {
    /// Takes the named leadership for `holder`, or renews it if `holder` holds it, for `ttl`
    /// from now. Returns the leadership when `holder` holds it now, `nil` while another holder's
    /// lease on it runs. A new holder gets a larger token than every holder before it.
    func acquireLeadership(_ name: String, holder: String, ttl: Duration) async throws -> Leadership?

    /// Gives the leadership up if `leadership` (its token) still holds it, so another process
    /// can take it at once.
    func releaseLeadership(_ leadership: Leadership) async throws

    /// The record stored under `key`, if any.
    func record(_ key: String) async throws -> VersionedRecord?

    /// Writes `value` under `key` if the record's version is `expectedVersion` (`nil`: there is
    /// no record yet). Returns the record written, or `nil` when the version did not match
    /// (someone else wrote first: read again and retry).
    func compareAndSet(_ key: String, expectedVersion: Int?, value: Data) async throws -> VersionedRecord?
}
