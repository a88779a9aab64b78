import ConveyorIngest
import ConveyorTesting
import Foundation
import Testing

/// Chunks of a byte string, `size` at a time: what a download or a file read hands the reader.
struct Chunked: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let bytes: [UInt8]
    let size: Int

    init(_ text: String, size: Int) {
        bytes = Array(text.utf8)
        self.size = size
    }

    func makeAsyncIterator() -> Iterator { Iterator(bytes: bytes, size: size) }

    struct Iterator: AsyncIteratorProtocol {
        let bytes: [UInt8]
        let size: Int
        var offset = 0
        mutating func next() async -> [UInt8]? {
            guard offset < bytes.count else { return nil }
            defer { offset += size }
            return Array(bytes[offset..<Swift.min(offset + size, bytes.count)])
        }
    }
}

struct Sale: Codable, Sendable, Equatable {
    var branch: String
    var pos: Int
    var total: Double
    var note: String?
}

func collect<Row: Sendable>(_ stream: some AsyncSequence<RowEvent<Row>, any Error>) async throws -> (rows: [Row], lines: [Int], issues: [RowIssue]) {
    var rows: [Row] = []
    var lines: [Int] = []
    var issues: [RowIssue] = []
    for try await event in stream {
        switch event {
        case .row(let row, let line):
            rows.append(row)
            lines.append(line)
        case .issue(let issue): issues.append(issue)
        }
    }
    return (rows, lines, issues)
}

@Suite("Row readers: CSV and JSON lines")
struct RowReaderTests {
    static let csv = "\u{FEFF}branch,pos,total,note\r\n"
        + "north,1,10.5,\r\n"
        + "\"south, east\",2,7,\"two\r\nlines\"\r\n"
        + "west,three,1,\r\n"          // line 5: pos is not an integer
        + "east,4\r\n"                  // line 6: too few fields
        + "\r\n"                        // line 7: blank, skipped
        + "# not a comment,5,2,\r\n"    // line 8: data files have no comments
        + "\"bad,6,1,\r\n"              // line 9: an unterminated quote
        + "last,7,3.25,ok"              // line 10: no final line break

    @Test(arguments: [1, 2, 3, 7, 64, 100_000])
    func csvReadsTheSameRowsWhateverTheChunkSize(size: Int) async throws {
        let reader = RowReader<Sale>(.csv, source: "sales.csv")
        let (rows, lines, issues) = try await collect(reader.rows(from: Chunked(Self.csv, size: size)))
        #expect(rows == [
            Sale(branch: "north", pos: 1, total: 10.5, note: nil),
            Sale(branch: "south, east", pos: 2, total: 7, note: "two\r\nlines"),
            Sale(branch: "# not a comment", pos: 5, total: 2, note: nil),
            Sale(branch: "last", pos: 7, total: 3.25, note: "ok"),
        ])
        #expect(lines == [2, 3, 8, 10])
        #expect(issues.map(\.line) == [5, 6, 9])
        #expect(issues[0].description == #"sales.csv line 5: column 'pos': "three" is not an integer in -9223372036854775808...9223372036854775807: "west,three,1,""#)
        #expect(issues[1].reason == "has 2 fields, the header has 4")
        #expect(issues[2].reason == "unterminated quote in field 1")
        #expect(issues.allSatisfy { $0.source == "sales.csv" })
    }

    @Test func aColumnTheTypeNeedsMissingFromTheHeaderStopsTheReadNamingIt() async throws {
        let reader = RowReader<Sale>(.csv, source: "sales.csv")
        await #expect(throws: RowReadError.missingColumn(source: "sales.csv", column: "pos", available: ["branch", "total"])) {
            _ = try await collect(reader.rows(from: Chunked("branch,total\nnorth,1\n", size: 5)))
        }
    }

    @Test func anUnterminatedQuoteCostsOneLineAndMemoryStaysBounded() async throws {
        // The quote on line 2 is never closed: the reader gives up on it at the record limit,
        // reports line 2 and reads every later line.
        var text = "branch,pos,total,note\n\"open,1,1,\n"
        for number in 0..<200 { text += "b\(number),\(number),1,\n" }
        let reader = RowReader<Sale>(.csv, source: "s.csv", maxRecordBytes: 256)
        let (rows, _, issues) = try await collect(reader.rows(from: Chunked(text, size: 16)))
        #expect(issues.map(\.line) == [2])
        #expect(rows.count == 200)
        #expect(rows.last == Sale(branch: "b199", pos: 199, total: 1, note: nil))
    }

    @Test(arguments: [1, 5, 4096])
    func jsonLinesReportBadLinesByNumberAndReadOn(size: Int) async throws {
        let text = #"""
            {"branch":"north","pos":1,"total":10.5}
            {"branch":"south","pos":"2","total":7}

            {"branch":"west","total":1}
            not json
            {"branch":"east","pos":4,"total":2,"note":"x"}
            """#
        let reader = RowReader<Sale>(.jsonLines, source: "sales.jsonl")
        let (rows, lines, issues) = try await collect(reader.rows(from: Chunked(text + "\r\n", size: size)))
        #expect(rows == [Sale(branch: "north", pos: 1, total: 10.5), Sale(branch: "east", pos: 4, total: 2, note: "x")])
        #expect(lines == [1, 6])
        #expect(issues.map(\.line) == [2, 4, 5])
        #expect(issues.map(\.reason) == ["field 'pos' is not Int", "no field 'pos'", "not valid JSON"])
    }

    @Test func jsonLinesSkipALineOverTheLimit() async throws {
        let long = "{\"branch\":\"" + String(repeating: "x", count: 5000) + "\",\"pos\":1,\"total\":1}"
        let text = long + "\n{\"branch\":\"ok\",\"pos\":2,\"total\":2}\n"
        let (rows, lines, issues) = try await collect(RowReader<Sale>(.jsonLines, source: "j", maxRecordBytes: 1000).rows(from: Chunked(text, size: 300)))
        #expect(rows.map(\.branch) == ["ok"])
        #expect(lines == [2])
        #expect(issues.map(\.line) == [1])
        #expect(issues[0].reason == "line longer than 1000 bytes")
    }

    @Test func readsAFileInChunksAndNamesAFileThatIsMissing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("sales.csv")
        var text = "branch,pos,total,note\n"
        for number in 1...5_000 { text += "b\(number),\(number),\(Double(number) / 4),\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let (rows, _, issues) = try await collect(RowReader<Sale>(.csv, source: path).rows(ofFile: path, chunkSize: 1000))
        #expect(rows.count == 5_000)
        #expect(issues.isEmpty)
        #expect(rows[4_999] == Sale(branch: "b5000", pos: 5000, total: 1250, note: nil))

        let missing = directory.file("nope.csv")
        await #expect(throws: RowReadError.cannotOpen(path: missing, reason: "no such file")) {
            _ = try await collect(RowReader<Sale>(.csv, source: missing).rows(ofFile: missing))
        }
    }

    @Test func enumsDatesAndBooleansDecodeFromFields() async throws {
        enum Kind: String, Codable, Sendable { case sale, refund }
        struct Entry: Codable, Sendable, Equatable {
            var kind: Kind
            var day: Date
            var paid: Bool
        }
        let text = "kind,day,paid\nsale,2026-12-04,yes\nrefund,2026-12-04T10:00:00Z,false\nswap,2026-12-04,true\n"
        let (rows, issues) = try await RowReader<Entry>(.csv, source: "e").rows(of: Array(text.utf8))
        #expect(rows.map(\.kind) == [.sale, .refund])
        #expect(rows.map(\.paid) == [true, false])
        #expect(rows[1].day.timeIntervalSince(rows[0].day) == 36_000)
        #expect(issues.map(\.line) == [4])
    }
}
