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
    /// With `tls: true`: the TLS port (the plain `port` stays open too) and the PEM file of the
    /// self-signed certificate (for "localhost" and 127.0.0.1) to trust.
    public let tlsPort: Int?
    public let tlsCertificatePath: String?

    /// `redis://[:password@]127.0.0.1:port`.
    public var url: String {
        if let password { return "redis://:\(password)@127.0.0.1:\(port)" }
        return "redis://127.0.0.1:\(port)"
    }

    private let executable: String
    private let arguments: [String]
    /// The running server's process id, nil when it is not running.
    private let pid: Mutex<pid_t?>

    /// Starts a server. `appendOnly` turns on the AOF with `appendfsync` ("always", "everysec",
    /// "no"); `extraArguments` go to redis-server as they are (e.g. ["--maxmemory", "10mb"]).
    public init(
        password: String? = nil,
        appendOnly: Bool = false,
        appendfsync: String = "everysec",
        tls: Bool = false,
        extraArguments: [String] = []
    ) throws {
        guard let executable = Self.findExecutable("redis-server") else { throw NotInstalled() }
        self.executable = executable
        self.password = password
        let base = FileManager.default.temporaryDirectory.path
        let directory = "\(base)/conveyor-redis-\(getpid())-\(UUID().uuidString.prefix(8))"
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        var tlsArguments: [String] = []
        if tls {
            let certificate = "\(directory)/tls.crt"
            let key = "\(directory)/tls.key"
            try Self.run(
                "openssl",
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                ]
            )
            tlsArguments = [
                "--tls-cert-file", certificate, "--tls-key-file", key, "--tls-ca-cert-file", certificate,
                "--tls-auth-clients", "no",
            ]
            tlsCertificatePath = certificate
        } else {
            tlsCertificatePath = nil
        }

        var lastFailure: (any Error)?
        var started: (port: Int, tlsPort: Int?, arguments: [String], pid: pid_t)?
        for _ in 0..<5 {
            let port = try Self.freePort()
            let tlsPort = tls ? try Self.freePort() : nil
            var args = [
                "--port", String(port), "--bind", "127.0.0.1", "--dir", directory,
                "--logfile", "\(directory)/redis.log", "--daemonize", "no", "--protected-mode", "no",
                "--save", "", "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", appendfsync,
            ]
            if let password { args += ["--requirepass", password] }
            if let tlsPort { args += ["--tls-port", String(tlsPort)] + tlsArguments }
            args += extraArguments
            do {
                let pid = try Self.launch(executable, args, directory: directory, port: port, password: password)
                started = (port, tlsPort, args, pid)
                break
            } catch {
                lastFailure = error  // most likely the port was taken between picking and binding
            }
        }
        guard let started else {
            try? FileManager.default.removeItem(atPath: directory)
            throw lastFailure ?? StartFailed(description: "redis-server did not start")
        }
        self.port = started.port
        self.tlsPort = started.tlsPort
        self.arguments = started.arguments
        self.pid = Mutex(started.pid)
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops the server with SIGTERM and waits for it to exit (SIGKILL after 10 s). With
    /// `cleanUp` (the default) its directory is removed too; `restart()` then starts with an
    /// empty one.
    public func stop(cleanUp: Bool = true) {
        pid.withLock { pid in
            if let p = pid { Self.signalAndWait(p, SIGTERM) }
            pid = nil
        }
        if cleanUp { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Kills the server with SIGKILL (no shutdown, no final fsync) and waits for it to exit.
    public func kill() {
        pid.withLock { pid in
            if let p = pid { Self.signalAndWait(p, SIGKILL) }
            pid = nil
        }
    }

    /// Starts the server again on the same port in the same directory (so an AOF is replayed);
    /// kills it first if it is running. Returns once it answers PING.
    public func restart() throws {
        kill()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lastFailure: (any Error)?
        for _ in 0..<20 {  // the port may linger for a moment after a kill
            do {
                let p = try Self.launch(executable, arguments, directory: directory, port: port, password: password)
                pid.withLock { $0 = p }
                return
            } catch {
                lastFailure = error
                usleep(50_000)
            }
        }
        throw lastFailure!
    }

    public var isRunning: Bool {
        pid.withLock { $0 != nil }
    }

    // MARK: Helpers

    private static func signalAndWait(_ pid: pid_t, _ signal: Int32) {
        _ = Glibc.kill(pid, signal)
        var status: Int32 = 0
        for _ in 0..<2_000 {  // 10 s
            if waitpid(pid, &status, WNOHANG) != 0 { return }
            usleep(5_000)
        }
        _ = Glibc.kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
    }

    /// Runs a tool to completion; throws if it is missing or fails.
    private static func run(_ tool: String, _ arguments: [String]) throws {
        guard let path = findExecutable(tool) else {
            throw StartFailed(description: "\(tool) is not installed: apt-get install \(tool)")
        }
        let pid = try spawn(path, arguments)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        guard status == 0 else { throw StartFailed(description: "\(tool) \(arguments.joined(separator: " ")) failed: status \(status)") }
    }

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

    /// Spawns redis-server, then polls it with PING until it answers.
    private static func launch(_ executable: String, _ arguments: [String], directory: String, port: Int, password: String?) throws -> pid_t {
        let pid = try spawn(executable, arguments)
        // Poll with PING until it answers; bounded (10 s), short steps, stops early if it died.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let log = (try? String(contentsOfFile: "\(directory)/redis.log", encoding: .utf8)) ?? ""
                throw StartFailed(description: "redis-server exited on port \(port): \(log.suffix(600))")
            }
            if ping(port: port, password: password) { return pid }
            usleep(10_000)
        }
        signalAndWait(pid, SIGKILL)
        throw StartFailed(description: "redis-server on port \(port) did not answer PING within 10 s")
    }

    /// posix_spawn with a clean signal mask (a test runner's threads block signals, and a child
    /// would inherit that and ignore SIGTERM) and /dev/null for stdin, stdout and stderr.
    private static func spawn(_ executable: String, _ arguments: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw StartFailed(description: "could not run \(executable): error \(rc)") }
        return pid
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
