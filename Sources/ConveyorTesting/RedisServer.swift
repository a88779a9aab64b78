import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real `redis-server` for tests: its own process, on a free loopback port, in a fresh
/// temporary directory. Ready (it answered PING) when `init` returns.
///
/// If `redis-server` is not on PATH, `init` throws `RedisServer.NotInstalled`: a test that needs
/// Redis fails, loudly, instead of being skipped.
public final class RedisServer: Sendable {
    public struct NotInstalled: Error, CustomStringConvertible {
        public var description: String {
            "redis-server is not installed: run scripts/test (it installs it) or apt-get install redis-server"
        }
    }

    public struct StartFailed: Error, CustomStringConvertible {
        public var description: String
    }

    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    /// The server's working directory (AOF, RDB and its log file).
    public let directory: String
    public let password: String?
    /// `redis://[:password@]127.0.0.1:port`.
    public var url: String {
        if let password { return "redis://:\(password)@127.0.0.1:\(port)" }
        return "redis://127.0.0.1:\(port)"
    }

    private let executable: String
    private let arguments: [String]
    private let process: Mutex<Process?>

    /// Starts a server. `appendOnly` turns on the AOF with `appendfsync` ("always", "everysec",
    /// "no"); `extraArguments` go to redis-server as they are (e.g. ["--maxmemory", "10mb"]).
    public init(
        password: String? = nil,
        appendOnly: Bool = false,
        appendfsync: String = "everysec",
        extraArguments: [String] = []
    ) throws {
        guard let executable = Self.findExecutable("redis-server") else { throw NotInstalled() }
        self.executable = executable
        self.password = password
        let base = FileManager.default.temporaryDirectory.path
        directory = "\(base)/conveyor-redis-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        var lastFailure: (any Error)?
        for _ in 0..<5 {
            let port = try Self.freePort()
            var args = [
                "--port", String(port), "--bind", "127.0.0.1", "--dir", directory,
                "--logfile", "redis.log", "--daemonize", "no", "--protected-mode", "no",
                "--save", "", "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", appendfsync,
            ]
            if let password { args += ["--requirepass", password] }
            args += extraArguments
            do {
                let process = try Self.launch(executable, args, directory: directory, port: port, password: password)
                self.port = port
                self.arguments = args
                self.process = Mutex(process)
                return
            } catch {
                lastFailure = error  // most likely the port was taken between picking and binding
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw lastFailure ?? StartFailed(description: "redis-server did not start")
    }

    deinit {
        process.withLock { process in
            if let p = process, p.isRunning {
                Glibc.kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops the server with SIGTERM and waits for it to exit. With `cleanUp` (the default) its
    /// directory is removed too; `restart()` then starts with an empty one.
    public func stop(cleanUp: Bool = true) {
        process.withLock { process in
            if let p = process, p.isRunning {
                p.terminate()
                p.waitUntilExit()
            }
            process = nil
        }
        if cleanUp { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Kills the server with SIGKILL (no shutdown, no final fsync) and waits for it to exit.
    public func kill() {
        process.withLock { process in
            if let p = process, p.isRunning {
                Glibc.kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
            process = nil
        }
    }

    /// Starts the server again on the same port in the same directory (so an AOF is replayed);
    /// stops it first if it is running. Returns once it answers PING.
    public func restart() throws {
        kill()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lastFailure: (any Error)?
        for _ in 0..<20 {  // the port may linger for a moment after a kill
            do {
                let p = try Self.launch(executable, arguments, directory: directory, port: port, password: password)
                process.withLock { $0 = p }
                return
            } catch {
                lastFailure = error
                usleep(50_000)
            }
        }
        throw lastFailure!
    }

    public var isRunning: Bool {
        process.withLock { $0?.isRunning ?? false }
    }

    // MARK: Helpers

    private static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/\(name)" } + ["/usr/sbin/\(name)", "/usr/bin/\(name)"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A port that was free a moment ago: bind a socket to port 0 and read what the kernel chose.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartFailed(description: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard ok else { throw StartFailed(description: "could not pick a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func launch(_ executable: String, _ arguments: [String], directory: String, port: Int, password: String?) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Poll with PING until it answers; bounded (10 s), short steps, stops early if it died.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if !process.isRunning {
                let log = (try? String(contentsOfFile: "\(directory)/redis.log", encoding: .utf8)) ?? ""
                throw StartFailed(description: "redis-server exited on port \(port): \(log.suffix(600))")
            }
            if ping(port: port, password: password) { return process }
            usleep(10_000)
        }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw StartFailed(description: "redis-server on port \(port) did not answer PING within 10 s")
    }

    /// Connects over plain TCP and speaks RESP: true once the server answers +PONG.
    static func ping(port: Int, password: String?) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { return false }
        var request = ""
        if let password { request += "*2\r\n$4\r\nAUTH\r\n$\(password.utf8.count)\r\n\(password)\r\n" }
        request += "*1\r\n$4\r\nPING\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { return false }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while reply.count < 4096 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return false }
            reply += chunk[0..<n]
            let text = String(decoding: reply, as: UTF8.self)
            if text.contains("+PONG\r\n") { return true }
            if text.contains("-LOADING") || text.contains("-ERR") || text.contains("-NOAUTH") || text.contains("-WRONGPASS") {
                return false
            }
        }
        return false
    }
}
