#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// A ``FileStore`` on a local directory: `name` is written as `<directory>/<name>.partial`
/// (with its source and validators in `<name>.partial-info`) and renamed to
/// `<directory>/<name>` when complete. Subdirectories in names are created as needed; the
/// directory itself must exist.
///
/// ```swift
/// let store = try DirectoryFileStore("/var/lib/ingest/raw")
/// let downloader = Downloader(store: store)
/// ```
public struct DirectoryFileStore: FileStore {
    public let directory: String
    /// Whether ``finalize(named:)`` calls `fsync` on the file before renaming it, so a
    /// finished download survives a power cut. On by default.
    public var synchronizesOnFinalize: Bool

    public var location: String { directory }

    /// Fails with ``FileStoreError/missingDirectory(_:)`` when `directory` is not a directory.
    public init(_ directory: String, synchronizesOnFinalize: Bool = true) throws(FileStoreError) {
        var trimmed = directory
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.directory = trimmed
        self.synchronizesOnFinalize = synchronizesOnFinalize
        try checkDirectory()
    }

    public func partial(named name: String) async throws -> PartialFile? {
        let path = try partialPath(name)
        guard let size = try Self.fileSize(path) else { return nil }
        guard let info = try Self.readSmallFile(path + "-info") else { return nil }
        var partial = PartialFile(size: size, source: "")
        for line in info.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let value = String(line[line.index(after: colon)...].dropFirst(1))
            switch key {
            case "source": partial.source = value
            case "etag": partial.etag = value
            case "last-modified": partial.lastModified = value
            default: break
            }
        }
        return partial
    }

    public func startPartial(named name: String, info: PartialFile) async throws -> any FileStoreWriter {
        let path = try partialPath(name)
        try makeParentDirectories(of: name)
        var text = "source: \(info.source)\n"
        if let etag = info.etag { text += "etag: \(etag)\n" }
        if let lastModified = info.lastModified { text += "last-modified: \(lastModified)\n" }
        try Self.writeSmallFile(path + "-info", text)
        return try DirectoryFileWriter(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC)
    }

    public func resumePartial(named name: String) async throws -> any FileStoreWriter {
        let path = try partialPath(name)
        return try DirectoryFileWriter(path: path, flags: O_WRONLY | O_APPEND)
    }

    public func readPartial(
        named name: String, chunkSize: Int, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) async throws {
        let path = try partialPath(name)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileStoreError.io(path: path, operation: "opening", errno: errno) }
        defer { _ = Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: max(4096, chunkSize))
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileStoreError.io(path: path, operation: "reading", errno: errno)
            }
            if count == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    public func finalize(named name: String) async throws {
        let path = try partialPath(name)
        if synchronizesOnFinalize {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileStoreError.io(path: path, operation: "opening", errno: errno) }
            let synced = fsync(fd)
            let error = errno
            _ = Glibc.close(fd)
            if synced != 0 { throw FileStoreError.io(path: path, operation: "syncing", errno: error) }
        }
        let final = try filePath(name)
        guard rename(path, final) == 0 else {
            throw FileStoreError.io(path: final, operation: "renaming \(path) to", errno: errno)
        }
        _ = unlink(path + "-info")
    }

    public func discardPartial(named name: String) async throws {
        let path = try partialPath(name)
        if unlink(path) != 0, errno != ENOENT {
            throw FileStoreError.io(path: path, operation: "removing", errno: errno)
        }
        _ = unlink(path + "-info")
    }

    public func size(of name: String) async throws -> Int64? {
        try Self.fileSize(try filePath(name))
    }

    /// The path of the finished file `name`.
    public func filePath(_ name: String) throws(FileStoreError) -> String {
        if name.isEmpty { throw .invalidName(name, reason: "it is empty") }
        if name.hasPrefix("/") { throw .invalidName(name, reason: "it is absolute; give a path relative to the store") }
        if name.hasSuffix("/") { throw .invalidName(name, reason: "it names a directory") }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            if component == ".." || component == "." || component.isEmpty {
                throw .invalidName(name, reason: "it has a \"\(component)\" component")
            }
        }
        if name.contains("\0") { throw .invalidName(name, reason: "it contains a NUL byte") }
        return directory + "/" + name
    }

    func partialPath(_ name: String) throws(FileStoreError) -> String {
        try filePath(name) + ".partial"
    }

    private func checkDirectory() throws(FileStoreError) {
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .missingDirectory(directory)
        }
    }

    private func makeParentDirectories(of name: String) throws(FileStoreError) {
        try checkDirectory()
        var path = directory
        for component in name.split(separator: "/").dropLast() {
            path += "/" + component
            if mkdir(path, 0o755) != 0, errno != EEXIST {
                throw .io(path: path, operation: "creating the directory", errno: errno)
            }
        }
    }

    static func fileSize(_ path: String) throws(FileStoreError) -> Int64? {
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT { return nil }
            throw .io(path: path, operation: "reading the size of", errno: errno)
        }
        return Int64(info.st_size)
    }

    private static func readSmallFile(_ path: String) throws(FileStoreError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .io(path: path, operation: "opening", errno: errno)
        }
        defer { _ = Glibc.close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65_536 {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func writeSmallFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileStoreError.io(path: path, operation: "creating", errno: errno) }
        defer { _ = Glibc.close(fd) }
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }
}

/// Writes all of `bytes` to `fd`, across short writes and interruptions.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileStoreError) {
    var offset = 0
    while offset < bytes.count {
        let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            throw .io(path: path, operation: "writing", errno: errno)
        }
        offset += written
    }
}

func systemMessage(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Writes to one open file; blocking writes are short (the page cache takes them).
final class DirectoryFileWriter: FileStoreWriter {
    private let path: String
    private var fd: Int32

    init(path: String, flags: Int32) throws(FileStoreError) {
        self.path = path
        fd = open(path, flags | O_CLOEXEC, 0o644)
        if fd < 0 { throw .io(path: path, operation: "opening", errno: errno) }
    }

    func write(_ chunk: ByteBuffer) async throws {
        try chunk.withUnsafeReadableBytes { try writeAll(fd, $0, path: path) }
    }

    func close() async throws {
        guard fd >= 0 else { return }
        let closed = Glibc.close(fd)
        fd = -1
        if closed != 0 { throw FileStoreError.io(path: path, operation: "closing", errno: errno) }
    }

    deinit {
        if fd >= 0 { _ = Glibc.close(fd) }
    }
}
