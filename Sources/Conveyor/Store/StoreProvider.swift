import Foundation

/// A store's address as text, taken apart: `scheme://location?key=value&…`.
///
/// A plain path (no `://`) is a SQLite file, and `sqlite:relative.sqlite` and `memory:` are
/// short forms, so `conveyor.sqlite` and `sqlite:///abs/path.sqlite` both name a file.
public struct StoreURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL as given.
    public var text: String
    /// Lower-cased: `sqlite`, `redis`, `rediss`, `memory`, `postgres`.
    public var scheme: String
    /// What follows the scheme, without the query: a path or `[user:password@]host[:port][/db]`.
    public var location: String
    /// The query's options, in order.
    public var options: [(key: String, value: String)]

    public init(_ text: String) {
        self.text = text
        var base = Substring(text)
        options = []
        if let mark = text.firstIndex(of: "?") {
            base = text[..<mark]
            for pair in text[text.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                options.append((parts[0], parts.count > 1 ? parts[1] : ""))
            }
        }
        if let separator = base.range(of: "://") {
            scheme = base[..<separator.lowerBound].lowercased()
            location = String(base[separator.upperBound...])
        } else if let short = ["sqlite", "memory"].first(where: { base.lowercased().hasPrefix($0 + ":") }) {
            scheme = short
            location = String(base.dropFirst(short.count + 1))
        } else {
            scheme = "sqlite"
            location = String(base)
        }
    }

    public var description: String { text }

    public static func == (lhs: StoreURL, rhs: StoreURL) -> Bool { lhs.text == rhs.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }
}

/// Opens the stores of one kind from their URLs. Each store module has one
/// (`SQLiteStoreProvider`, `RedisStoreProvider`), and a program passes those it links to
/// ``StoreProviders``, so it links only the stores it uses.
public protocol StoreProvider: Sendable {
    /// The URL schemes it opens, lower-cased.
    var schemes: [String] { get }
    /// An example URL, for messages that list what can be opened.
    var example: String { get }
    /// Opens the store at `url` (whose scheme is one of ``schemes``). A `patient` caller (a
    /// worker) waits out a store server that is down; others give up within seconds.
    func open(_ url: StoreURL, patient: Bool) throws -> any JobQueueStore
    /// The URL as messages show it (a password replaced by `***`).
    func redacted(_ url: StoreURL) -> String
}

extension StoreProvider {
    public func redacted(_ url: StoreURL) -> String { url.text }
}

/// The in-memory store, `memory:`: this process only, for tests and trials.
public struct MemoryStoreProvider: StoreProvider {
    public init() {}
    public var schemes: [String] { ["memory"] }
    public var example: String { "memory:" }
    public func open(_ url: StoreURL, patient: Bool) throws -> any JobQueueStore {
        guard url.location.isEmpty, url.options.isEmpty else {
            throw ConveyorError.invalidStoreURL(url.text, reason: "the memory store takes no path or options; write memory:")
        }
        return MemoryBackend()
    }
}

/// The stores a program can open, by URL scheme.
public struct StoreProviders: Sendable {
    public var providers: [any StoreProvider]
    /// Schemes known to be planned but not built, with what to say about them.
    public var planned: [String: String] = ["postgres": "PostgreSQL", "postgresql": "PostgreSQL"]

    /// `providers`, and the memory store.
    public init(_ providers: [any StoreProvider]) {
        self.providers = providers + [MemoryStoreProvider()]
    }

    public func provider(for url: StoreURL) -> (any StoreProvider)? {
        providers.first { $0.schemes.contains(url.scheme) }
    }

    /// The URL as messages show it.
    public func redacted(_ text: String) -> String {
        let url = StoreURL(text)
        return provider(for: url)?.redacted(url) ?? text
    }

    /// Opens the store `text` names, with the provider for its scheme.
    public func open(_ text: String, patient: Bool = false) throws -> any JobQueueStore {
        let url = StoreURL(text)
        if let provider = provider(for: url) { return try provider.open(url, patient: patient) }
        let known = providers.map(\.example).joined(separator: ", ")
        if let name = planned[url.scheme] {
            throw ConveyorError.invalidStoreURL(redacted(text), reason: "the \(name) store is planned but not built yet; this program opens \(known)")
        }
        throw ConveyorError.invalidStoreURL(redacted(text), reason: "no store for the scheme '\(url.scheme)' in this program; it opens \(known)")
    }

    /// Opens the store and checks that it has `capability` (for example
    /// `(any JobAdministration & JobInspection).self`), which `neededBy` (a command) needs.
    public func open<Capability>(
        _ text: String, as capability: Capability.Type, neededBy: String, patient: Bool = false
    ) throws -> Capability {
        let store = try open(text, patient: patient)
        return try store.require(capability, neededBy: neededBy, storeName: redacted(text))
    }
}

extension JobQueueStore {
    /// This store as `capability` (a protocol composition such as `any BatchStore`), or a clear
    /// ``ConveyorError/unsupported(store:capability:neededBy:)`` naming what it lacks.
    public func require<Capability>(_ capability: Capability.Type, neededBy: String, storeName: String? = nil) throws -> Capability {
        if let store = self as? Capability { return store }
        let wanted = String(describing: capability)
            .replacingOccurrences(of: "any ", with: "")
            .replacingOccurrences(of: "(", with: "").replacingOccurrences(of: ")", with: "")
        let name = storeName.map { "the store \($0) (\(type(of: self)))" } ?? "\(type(of: self))"
        throw ConveyorError.unsupported(store: name, capability: wanted, neededBy: neededBy)
    }
}
