/// Tells an HTML page from data: seed 002's site answers `200` with an error page where a CSV
/// file should be, and only its first bytes give it away.
enum HTMLSniffer {
    /// `text/html` or `application/xhtml+xml`, whatever the parameters.
    static func isHTMLContentType(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingWhitespace().lowercased() else { return false }
        return type == "text/html" || type == "application/xhtml+xml"
    }

    /// Whether the bytes, after a UTF-8 byte-order mark and whitespace, start with `<!doctype`
    /// or `<html` in any case.
    static func looksLikeHTML(_ bytes: some Collection<UInt8>) -> Bool {
        var rest = bytes[...]
        if rest.starts(with: [0xEF, 0xBB, 0xBF]) { rest = rest.dropFirst(3) }
        rest = rest.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || $0 == 0x0C }
        func startsCaseInsensitive(_ word: String) -> Bool {
            let target = Array(word.utf8)
            guard rest.count >= target.count else { return false }
            return zip(rest, target).allSatisfy { byte, expected in
                let lowered = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
                return lowered == expected
            }
        }
        return startsCaseInsensitive("<!doctype") || startsCaseInsensitive("<html")
    }
}
