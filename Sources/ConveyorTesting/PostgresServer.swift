import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for tests: Debian's binaries, a fresh cluster (`initdb`) in a
/// temporary directory, listening on a free loopback port. Ready (it accepts connections) when
/// `init` returns. Run as root, the cluster belongs to the `postgres` user, as PostgreSQL
/// requires.
///
/// A test process shares one server (``shared()``), each store under test in a schema of its
/// own; a guard process stops the server when the test process ends, however it ends.
///
/// If PostgreSQL is not installed, `init` throws `PostgresServer.NotInstalled`: a test that
/// needs it fails, loudly, instead of being skipped.
public final class PostgresServer: Sendable {
    public struct NotInstalled: Error, CustomStringConvertible {
        public var description: String {
            "PostgreSQL's server binaries (initdb, postgres) are not installed: run scripts/test (it installs them) or apt-get install postgresql"
        }
    }

    public struct StartFailed: Error, CustomStringConvertible {
        public var description: String
    }

    /// The port it listens on, on 127.0.0.1.
    public let port: Int
    /// The cluster's directory (data, socket, log).
    public let directory: String
    /// `postgres://postgres@127.0.0.1:port/postgres`.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    /// The guard process (a shell that runs the postmaster and stops it when this process ends).
    private let guardPID: Mutex<pid_t?>

    private static let sharedServer = Mutex<Result<PostgresServer, StartFailed>?>(nil)

    /// The test process's server, started at first use.
    public static func shared() throws -> PostgresServer {
        try sharedServer.withLock { server in
            if let server { return try server.get() }
            let started: Result<PostgresServer, StartFailed>
            do {
                started = .success(try PostgresServer())
            } catch let error as StartFailed {
                started = .failure(error)
            } catch {
                started = .failure(StartFailed(description: "\(error)"))
            }
            server = started
            return try started.get()
        }
    }

    /// A URL of the shared server whose store lives in a schema no other test uses.
    public static func freshStoreURL(_ label: String = "t") throws -> String {
        let server = try shared()
        let schema = "\(label)_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        return "\(server.url)?schema=\(schema)"
    }

    /// Starts a cluster. `durable: false` (the default for tests) turns fsync off: crash tests
    /// kill clients, not the server, so commits stay exactly as visible; benchmarks pass `true`.
    public init(durable: Bool = false) throws {
        guard let bin = Self.binDirectory() else { throw NotInstalled() }
        let base = FileManager.default.temporaryDirectory.path
        let directory = "\(base)/conveyor-pg-\(getpid())-\(UUID().uuidString.prefix(8))"
        self.directory = directory
        let data = "\(directory)/data"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let asPostgres = getuid() == 0
        if asPostgres {
            // PostgreSQL refuses to run as root, and fails silently on paths its user cannot write.
            guard let user = getpwnam("postgres") else {
                throw StartFailed(description: "running as root, but there is no 'postgres' user to own the cluster (apt-get install postgresql makes one)")
            }
            guard chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw StartFailed(description: "cannot give \(directory) to the postgres user: errno \(errno)")
            }
        }
        let prefix = asPostgres ? ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] : []
        let initdb = prefix + ["\(bin)/initdb", "-D", data, "--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-instructions"]
        try Self.run(initdb, log: "\(directory)/initdb.log")

        var lastFailure: (any Error)?
        var started: (port: Int, pid: pid_t)?
        for _ in 0..<5 {
            let port = try Self.freePort()
            let postgres = prefix + [
                "\(bin)/postgres", "-D", data, "-p", String(port), "-k", directory, "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=300", "-c", "fsync=\(durable ? "on" : "off")", "-c", "synchronous_commit=\(durable ? "on" : "off")",
                "-c", "full_page_writes=\(durable ? "on" : "off")", "-c", "shared_buffers=256MB", "-c", "log_min_messages=warning",
            ]
            // The guard: runs the postmaster, and stops it (fast shutdown) when this process is gone.
            let quoted = postgres.map { "'\($0)'" }.joined(separator: " ")
            let script = """
                \(quoted) >>'\(directory)/postgres.log' 2>&1 &
                pg=$!
                trap 'kill -INT $pg 2>/dev/null; wait $pg; exit 0' TERM INT
                while kill -0 \(getpid()) 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done
                kill -INT $pg 2>/dev/null; wait $pg
                """
            do {
                let pid = try Self.spawn(["/bin/sh", "-c", script])
                try Self.waitReady(data: data, port: port, guardPID: pid, log: "\(directory)/postgres.log")
                started = (port, pid)
                break
            } catch {
                lastFailure = error  // most likely the port was taken between picking and binding
            }
        }
        guard let started else {
            throw lastFailure ?? StartFailed(description: "postgres did not start")
        }
        self.port = started.port
        self.guardPID = Mutex(started.pid)
    }

    deinit { stop() }

    /// Stops the server (fast shutdown) and waits for it.
    public func stop() {
        guardPID.withLock { pid in
            if let p = pid { Self.signalAndWait(p, SIGTERM) }
            pid = nil
        }
    }

    // MARK: Helpers

    /// Debian's layout (/usr/lib/postgresql/N/bin, the newest N), or `CONVEYOR_PG_BIN`.
    static func binDirectory() -> String? {
        if let given = ProcessInfo.processInfo.environment["CONVEYOR_PG_BIN"] { return given }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/postgres") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    /// Ready when postmaster.pid says so (its last line reads "ready") and the port takes a connection.
    private static func waitReady(data: String, port: Int, guardPID: pid_t, log: String) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(guardPID, &status, WNOHANG) == guardPID {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw StartFailed(description: "postgres exited on port \(port): \(text.suffix(800))")
            }
            if let pidFile = try? String(contentsOfFile: "\(data)/postmaster.pid", encoding: .utf8),
               pidFile.split(separator: "\n").last?.trimmingCharacters(in: .whitespaces) == "ready", canConnect(port: port) {
                return
            }
            usleep(20_000)
        }
        signalAndWait(guardPID, SIGTERM)
        throw StartFailed(description: "postgres on port \(port) was not ready within 30 s (log: \(log))")
    }

    private static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func signalAndWait(_ pid: pid_t, _ signal: Int32) {
        _ = Glibc.kill(pid, signal)
        var status: Int32 = 0
        for _ in 0..<3_000 {  // 15 s
            if waitpid(pid, &status, WNOHANG) != 0 { return }
            usleep(5_000)
        }
        _ = Glibc.kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
    }

    private static func run(_ command: [String], log: String) throws {
        let pid = try spawn(command, output: log)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw StartFailed(description: "\(command.joined(separator: " ")) failed (status \(status)): \(text.suffix(800))")
        }
    }

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

    /// posix_spawn with a clean signal mask, stdin from /dev/null and output to `output`.
    private static func spawn(_ command: [String], output: String = "/dev/null") throws -> pid_t {
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
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, command[0], &actions, &attributes, argv, environ)
        guard rc == 0 else { throw StartFailed(description: "could not run \(command[0]): error \(rc)") }
        return pid
    }
}
