/// `Retry-After` (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date, which is measured from
/// the response's own `Date` header when it has one so the two machines' clocks do not matter.
enum RetryAfter {
    static func parse(_ value: String, responseDate: String?, now: () -> Int64) -> Duration? {
        let trimmed = value.trimmingWhitespace()
        if !trimmed.isEmpty, trimmed.allSatisfy(\.isASCIIDigit) {
            return .seconds(Int64(trimmed.prefix(9)) ?? 0)
        }
        guard let date = HTTPDateParser.secondsSince1970(trimmed) else { return nil }
        let reference = responseDate.flatMap(HTTPDateParser.secondsSince1970) ?? now()
        return .seconds(max(0, date - reference))
    }
}

/// Reads the three date forms HTTP allows: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
enum HTTPDateParser {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    static func secondsSince1970(_ text: String) -> Int64? {
        let tokens = text.split { $0 == " " || $0 == "," || $0 == "-" }.map(String.init)
        var month: Int64?
        var time: [Int64]?
        var numbers: [String] = []
        for token in tokens {
            if token.contains(":") {
                let parts = token.split(separator: ":").compactMap { Int64($0) }
                guard parts.count == 3 else { return nil }
                time = parts
            } else if token.allSatisfy(\.isASCIIDigit) {
                numbers.append(token)
            } else if let index = months.firstIndex(of: token.lowercased()) {
                month = Int64(index + 1)
            }
        }
        guard let month, let time, numbers.count == 2 else { return nil }
        // The day has one or two digits; the year, two (RFC 850) or four.
        let (dayText, yearText) = numbers[0].count == 4 ? (numbers[1], numbers[0]) : (numbers[0], numbers[1])
        guard let day = Int64(dayText), var year = Int64(yearText), (1...31).contains(day),
              time[0] < 24, time[1] < 60, time[2] < 61 else { return nil }
        if yearText.count == 2 { year += year < 70 ? 2000 : 1900 }
        return days(year: year, month: month, day: day) * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
    }

    /// Howard Hinnant's days-from-civil algorithm.
    private static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
