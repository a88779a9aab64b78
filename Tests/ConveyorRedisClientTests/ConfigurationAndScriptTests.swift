import Testing

@testable import ConveyorRedisClient

@Suite("Configuration and scripts")
struct ConfigurationAndScriptTests {
    @Test("SHA1 matches the standard test vectors")
    func sha1() {
        #expect(SHA1.hexDigest([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hexDigest(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            SHA1.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        )
        #expect(SHA1.hexDigest([UInt8](repeating: 0x61, count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    @Test("URLs")
    func urls() throws {
        let plain = try RedisConfiguration(url: "redis://localhost")
        #expect(plain.host == "localhost" && plain.port == 6379 && plain.database == 0 && plain.password == nil && plain.tls == nil)

        let full = try RedisConfiguration(url: "redis://worker:p%40ss@10.0.0.5:6380/3")
        #expect(full.username == "worker" && full.password == "p@ss")
        #expect(full.host == "10.0.0.5" && full.port == 6380 && full.database == 3)
        #expect(full.endpoint == "10.0.0.5:6380")

        let passwordOnly = try RedisConfiguration(url: "redis://:secret@127.0.0.1:7000")
        #expect(passwordOnly.username == nil && passwordOnly.password == "secret" && passwordOnly.port == 7000)

        let tls = try RedisConfiguration(url: "rediss://[::1]:6390/1")
        #expect(tls.tls != nil && tls.host == "::1" && tls.port == 6390 && tls.database == 1)
        #expect(tls.endpoint == "[::1]:6390")

        for bad in ["http://x", "redis://host:0", "redis://host:99999", "redis://host/abc", "redis://[::1", "redis://:%zz@h"] {
            #expect(throws: RedisClientError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }
}
