/// `Content-Range: bytes <start>-<end>/<total or *>`.
struct ContentRange {
    var start: Int64
    var end: Int64
    var total: Int64?

    init?(_ header: String) {
        let trimmed = header.trimmingWhitespace()
        guard trimmed.hasPrefix("bytes ") else { return nil }
        let spec = trimmed.dropFirst("bytes ".count)
        guard let slash = spec.firstIndex(of: "/"), let dash = spec[..<slash].firstIndex(of: "-"),
              let start = Int64(spec[..<dash]), let end = Int64(spec[spec.index(after: dash)..<slash]), end >= start
        else { return nil }
        let totalText = spec[spec.index(after: slash)...]
        self.start = start
        self.end = end
        total = totalText == "*" ? nil : Int64(totalText)
    }
}
