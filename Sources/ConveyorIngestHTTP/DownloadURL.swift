/// An `http` or `https` URL checked before any request is made, so a malformed address is an
/// error naming it and what is wrong instead of a failure deep inside the HTTP client.
///
/// ```swift
/// let url = try DownloadURL("https://tradestat.commerce.gov.in/eidb/files/2024.csv")
/// url.limitKey   // "host:tradestat.commerce.gov.in", the key a job's rate limit uses
/// ```
public struct DownloadURL: Sendable, Hashable, CustomStringConvertible {
    public let string: String
    /// `http` or `https`, lowercased.
    public let scheme: String
    /// The host, lowercased, without brackets for IPv6 literals.
    public let host: String
    public let port: Int?
    /// The path and query, `/` when the URL has none.
    public let pathAndQuery: String

    public var description: String { string }

    /// The flow-control key that slows every job on this host: `host:<hostname>`.
    public var limitKey: String { "host:\(host)" }

    public init(_ string: String) throws(DownloadError) {
        func bad(_ reason: String) -> DownloadError { .invalidURL(string, reason: reason) }
        self.string = string
        if string.isEmpty { throw bad("it is empty") }
        if let scalar = string.unicodeScalars.first(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.value > 0x7E }) {
            let shown = scalar == " " ? "a space" : "the character U+\(String(scalar.value, radix: 16, uppercase: true))"
            throw bad("it contains \(shown); percent-encode it")
        }
        guard let colon = string.firstIndex(of: ":") else {
            throw bad("it has no scheme; expected http:// or https://")
        }
        let scheme = string[..<colon].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw bad("the scheme \"\(scheme)\" is not supported; use http or https")
        }
        let afterScheme = string[string.index(after: colon)...]
        guard afterScheme.hasPrefix("//") else { throw bad("expected \"//\" after \"\(scheme):\"") }
        let rest = afterScheme.dropFirst(2)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var hostPart = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw bad("an IPv6 host is missing its \"]\"") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let portColon = authority.lastIndex(of: ":") {
            hostPart = authority[..<portColon]
            portText = authority[authority.index(after: portColon)...]
        }
        if hostPart.isEmpty { throw bad("it has no host") }
        if !authority.hasPrefix("["),
           let wrong = hostPart.first(where: { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" || $0 == "%") })
        {
            throw bad("the host \"\(hostPart)\" contains \"\(wrong)\"")
        }
        if let portText {
            guard let port = Int(portText), (1...65_535).contains(port) else {
                throw bad("the port \"\(portText)\" is not a number from 1 to 65535")
            }
            self.port = port
        } else {
            self.port = nil
        }
        self.scheme = scheme
        self.host = hostPart.lowercased()
        let tail = rest[authorityEnd...]
        let withoutFragment = tail.prefix { $0 != "#" }
        self.pathAndQuery = withoutFragment.isEmpty ? "/" : (withoutFragment.hasPrefix("?") ? "/" + withoutFragment : String(withoutFragment))
    }
}
