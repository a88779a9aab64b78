import ConveyorRedisClient
import ConveyorTesting
import NIOSSL
import Testing

@Suite("TLS")
struct RedisTLSTests {
    @Test("rediss:// with the server's certificate as trust root; an untrusted certificate is refused")
    func tls() async throws {
        let server = try RedisServer(password: "tls-pass", tls: true)
        let tlsPort = try #require(server.tlsPort)
        var configuration = try RedisConfiguration(url: "rediss://:tls-pass@localhost:\(tlsPort)/2")
        configuration.host = "127.0.0.1"
        configuration.tlsServerName = "localhost"
        configuration.tls!.trustRoots = .file(try #require(server.tlsCertificatePath))
        let redis = try await RedisConnection.connect(configuration: configuration)
        #expect(try await redis.send("SET", "secure", "yes") == .simpleString("OK"))
        #expect(try await redis.send("GET", "secure").string == "yes")
        #expect(try await redis.pipeline([["PING"], ["ECHO", "x"]]).count == 2)
        await redis.close()

        // The system trust roots don't know the self-signed certificate: the handshake fails,
        // and says why (not a refused connection, a timeout or a rejected AUTH).
        var untrusted = configuration
        untrusted.tls = TLSConfiguration.makeClientConfiguration()
        let error = try await #require(throws: RedisClientError.self) {
            _ = try await RedisConnection.connect(configuration: untrusted)
        }
        #expect(error.kind == .tlsHandshakeFailed, "\(error)")
        #expect(error.message.contains("TLS handshake with Redis at 127.0.0.1:\(tlsPort) failed"), "\(error)")
        #expect(error.message.contains("CERTIFICATE_VERIFY_FAILED"), "TLS's own reason: \(error)")
    }
}
