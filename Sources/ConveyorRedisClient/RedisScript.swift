/// A Lua script, identified on the server by the SHA1 of its source.
///
/// `evalScript` runs it with EVALSHA and, when the server answers NOSCRIPT (its script cache was
/// flushed or it restarted), loads it with SCRIPT LOAD and retries once.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// The lower-case hex SHA1 of `source`, as SCRIPT LOAD returns it.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(Array(source.utf8))
    }

    /// `EVALSHA sha1 numkeys key... arg...`, for a caller that sends it itself (in a pipeline);
    /// ``RedisClient/evalScript(_:keys:arguments:)`` also loads the script when it is missing.
    public func command(keys: [RESPArgument], arguments: [RESPArgument]) -> [RESPArgument] {
        var command: [RESPArgument] = ["EVALSHA", .string(sha1), .int(keys.count)]
        command.reserveCapacity(3 + keys.count + arguments.count)
        command += keys
        command += arguments
        return command
    }
}

/// SHA1 (FIPS 180-4), only to name scripts the way Redis does; not for security.
enum SHA1 {
    static func hexDigest(_ message: [UInt8]) -> String {
        digest(message).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func digest(_ message: [UInt8]) -> [UInt8] {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        var padded = message
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bitLength = UInt64(message.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }

        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: padded.count, by: 64) {
            for i in 0..<16 {
                let j = chunk + i * 4
                w[i] = UInt32(padded[j]) << 24 | UInt32(padded[j + 1]) << 16 | UInt32(padded[j + 2]) << 8 | UInt32(padded[j + 3])
            }
            for i in 16..<80 { w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotatedLeft(1) }
            var (a, b, c, d, e) = h
            for i in 0..<80 {
                let f: UInt32
                let k: UInt32
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
                }
                let t = a.rotatedLeft(5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, b.rotatedLeft(30), a, t)
            }
            h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
        }
        return [h.0, h.1, h.2, h.3, h.4].flatMap { word in
            [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
        }
    }
}

extension UInt32 {
    fileprivate func rotatedLeft(_ n: UInt32) -> UInt32 { self << n | self >> (32 - n) }
}

/// A Redis Functions library (Redis 7 and later): Lua code loaded once with `FUNCTION LOAD`
/// and called by function name with `FCALL`.
///
/// Unlike a script sent with `EVALSHA`, whose whole source (helper functions included) runs on
/// every call, a library's top level runs once, at load; a call runs only its function. The
/// source must start with `#!lua name=<name>`; its name should change with its code (a
/// version in the name), so different versions can be loaded side by side.
public struct RedisFunctionLibrary: Sendable, Hashable {
    public let name: String
    public let source: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    /// `FCALL function numkeys key... arg...`, for a caller that sends it itself (in a
    /// pipeline); ``RedisClient/callFunction(_:in:keys:arguments:)`` also loads the library.
    public static func command(_ function: String, keys: [RESPArgument], arguments: [RESPArgument]) -> [RESPArgument] {
        var command: [RESPArgument] = ["FCALL", .string(function), .int(keys.count)]
        command.reserveCapacity(3 + keys.count + arguments.count)
        command += keys
        command += arguments
        return command
    }
}

extension RedisClient {
    /// Calls `function` with FCALL; when the server does not have it (a restart without
    /// persistence, FUNCTION FLUSH, a first call), loads `library` with FUNCTION LOAD and calls
    /// again. A library already loaded by another client counts as loaded.
    public func callFunction(
        _ function: String,
        in library: RedisFunctionLibrary,
        keys: [RESPArgument] = [],
        arguments: [RESPArgument] = []
    ) async throws -> RESPValue {
        let command = RedisFunctionLibrary.command(function, keys: keys, arguments: arguments)
        do {
            return try await send(command)
        } catch let error as RedisServerError where error.isFunctionNotFound {
            do {
                _ = try await send(["FUNCTION", "LOAD", .string(library.source)])
            } catch let error as RedisServerError where error.message.contains("already exists") {
                // Another client loaded it in between.
            }
            do {
                return try await send(command)
            } catch let error as RedisServerError where error.isFunctionNotFound {
                throw RedisClientError(.noScript, "function \(function) still missing after FUNCTION LOAD of library \(library.name): \(error.message)")
            }
        }
    }
}

extension RedisServerError {
    public var isFunctionNotFound: Bool { message.hasSuffix("Function not found") }

    /// The server does not know FCALL (Redis before 7.0).
    public var isUnknownCommand: Bool { message.hasPrefix("ERR unknown command") }
}
