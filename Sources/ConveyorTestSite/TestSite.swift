import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A loopback stand-in for the web sites the ingestion jobs download from: HTTP/1.1 on
/// 127.0.0.1 and an ephemeral port, with routes a test sets and every request recorded.
///
/// ```swift
/// let site = try await TestSite.start()
/// site.route("/files", .always(.fileList(["a.csv", "b.csv"])))
/// site.route("/a.csv", .always(.text("id,name\n1,x\n", contentType: "text/csv")))
/// // … download site.url("/a.csv") …
/// #expect(site.requests(to: "/a.csv").count == 1)
/// await site.stop()
/// ```
public final class TestSite: Sendable {
    public let host: String
    public let port: Int

    private let state: Mutex<State>
    private let serverChannel: any Channel
    private let serving: Mutex<Task<Void, Never>?>

    struct State: Sendable {
        var routes: [String: SiteRoute] = [:]
        var requests: [String: [SiteRequest]] = [:]
    }

    private init(host: String, port: Int, serverChannel: any Channel) {
        self.host = host
        self.port = port
        self.serverChannel = serverChannel
        self.state = Mutex(State())
        self.serving = Mutex(nil)
    }

    /// Starts the site on `host` and an ephemeral port (or `port`).
    public static func start(host: String = "127.0.0.1", port: Int = 0) async throws -> TestSite {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: child)
                }
            }
        guard let boundPort = channel.channel.localAddress?.port else {
            throw TestSiteError.couldNotStart(host: host, port: port, reason: "no local address after bind")
        }
        let site = TestSite(host: host, port: boundPort, serverChannel: channel.channel)
        let task = Task<Void, Never> {
            _ = try? await channel.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            group.addTask { await site.serve(connection) }
                        }
                    } catch {
                        // The listening socket closed: the site is stopping.
                    }
                }
            }
        }
        site.serving.withLock { $0 = task }
        return site
    }

    /// Closes the listening socket and every open connection, and waits until they are gone.
    public func stop() async {
        let task = serving.withLock { $0 }
        task?.cancel()
        try? await serverChannel.close()
        await task?.value
    }

    /// `http://127.0.0.1:<port><path>`.
    public func url(_ path: String) -> String {
        "http://\(host):\(port)\(path.hasPrefix("/") ? path : "/" + path)"
    }

    /// Sets (or replaces) how `path` answers; paths without a route get a 404.
    public func route(_ path: String, _ route: SiteRoute) {
        state.withLock { $0.routes[path] = route }
    }

    /// The requests `path` received, in order.
    public func requests(to path: String) -> [SiteRequest] {
        state.withLock { $0.requests[path] ?? [] }
    }

    /// Every request the site received, in order of arrival.
    public var allRequests: [SiteRequest] {
        state.withLock { $0.requests.values.flatMap { $0 } }.sorted { $0.receivedAt < $1.receivedAt }
    }

    /// Records a request and picks its response.
    func respond(method: String, uri: String, headers: [(name: String, value: String)]) -> (SiteRequest, SiteResponse) {
        let path = String(uri.prefix { $0 != "?" })
        return state.withLock { state in
            let index = state.requests[path]?.count ?? 0
            let request = SiteRequest(method: method, path: path, uri: uri, headers: headers,
                                      receivedAt: .now, index: index)
            state.requests[path, default: []].append(request)
            let response: SiteResponse
            switch state.routes[path] {
            case nil: response = .status(404, "no route for \(path)\n")
            case .always(let fixed): response = fixed
            case .sequence(let responses):
                response = responses.isEmpty ? .status(500, "empty sequence\n") : responses[min(index, responses.count - 1)]
            case .handler(let handler): response = handler(request)
            }
            return (request, response)
        }
    }
}

public enum TestSiteError: Error, CustomStringConvertible {
    case couldNotStart(host: String, port: Int, reason: String)

    public var description: String {
        switch self {
        case .couldNotStart(let host, let port, let reason):
            "the test site could not start on \(host):\(port): \(reason)"
        }
    }
}
