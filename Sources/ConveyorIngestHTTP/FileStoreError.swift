/// Why a file store could not read or write.
public enum FileStoreError: Error, CustomStringConvertible, Sendable {
    /// The store's directory does not exist (or is not a directory).
    case missingDirectory(String)
    /// A file name that would leave the store or is empty.
    case invalidName(String, reason: String)
    /// A system call failed on `path`.
    case io(path: String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .missingDirectory(let path):
            "the download directory \(path) does not exist or is not a directory; create it before downloading"
        case .invalidName(let name, let reason):
            "the file name \"\(name)\" cannot be used in a file store: \(reason)"
        case .io(let path, let operation, let errno):
            "\(operation) \(path) failed: \(systemMessage(errno)) (errno \(errno))"
        }
    }
}
