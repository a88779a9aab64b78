import Foundation

/// A fresh directory under the system's temporary folder, for stores and key files in tests.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "conveyor-test") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { "\(path)/\(name)" }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
