import NIOCore

/// Where downloads are written: a directory by default (``DirectoryFileStore``), or anything
/// that can take a file in streamed pieces, keep an unfinished one, and publish it under its
/// name once complete (an object store's multipart upload fits the same shape).
///
/// A file goes through three states: absent, *partial* (bytes kept from a download that did
/// not finish, with the validators it came with, so the next attempt can resume it), and
/// *finished* under its name. Names are relative paths such as `pos/2024-11-30/b17.csv`.
public protocol FileStore: Sendable {
    /// Where the store is, for messages: a directory path, `s3://bucket/prefix`, ….
    var location: String { get }

    /// The partial file kept for `name`, or `nil` when there is none.
    func partial(named name: String) async throws -> PartialFile?

    /// Starts the partial file of `name` afresh, discarding any bytes kept before, and records
    /// `info` (its source and validators) beside it.
    func startPartial(named name: String, info: PartialFile) async throws -> any FileStoreWriter

    /// Continues the partial file of `name` after its last byte.
    func resumePartial(named name: String) async throws -> any FileStoreWriter

    /// Reads the partial file of `name` from its start, `chunkSize` bytes at a time (to seed a
    /// digest when a download resumes); the pointer is valid only during the call.
    func readPartial(named name: String, chunkSize: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) async throws

    /// Publishes the partial file as the finished `name`, replacing any earlier one.
    func finalize(named name: String) async throws

    /// Drops the partial file of `name`, if any.
    func discardPartial(named name: String) async throws

    /// The size of the finished file `name`, or `nil` when there is none.
    func size(of name: String) async throws -> Int64?
}

/// A partial file: how many bytes are kept, and where they came from.
public struct PartialFile: Sendable, Equatable {
    public var size: Int64
    /// The URL the bytes came from; a partial of another URL is not resumed.
    public var source: String
    public var etag: String?
    public var lastModified: String?

    public init(size: Int64 = 0, source: String, etag: String? = nil, lastModified: String? = nil) {
        self.size = size
        self.source = source
        self.etag = etag
        self.lastModified = lastModified
    }
}

/// Appends the chunks of one download to a partial file. Used by one task at a time.
public protocol FileStoreWriter: AnyObject {
    func write(_ chunk: ByteBuffer) async throws
    /// Makes what was written durable as far as the store promises, and releases the writer.
    func close() async throws
}
