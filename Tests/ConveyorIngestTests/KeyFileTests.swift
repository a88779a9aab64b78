import ConveyorIngest
import Foundation
import Testing

@Suite("KeyFile: TXT")
struct KeyFileTextTests {
    @Test func skipsCommentsAndBlanksAndHandlesCRLFAndByteOrderMark() throws {
        let text = "\u{FEFF}# HSN codes\r\n09011112\r\n\r\n   # indented comment\r\n  09021010 \t\r\n   \r\n09031001"
        let file = try KeyFile.parse(text, format: .text)
        #expect(file.keys == ["09011112", "09021010", "09031001"])
        #expect(file.keyLines == [2, 5, 7])
        #expect(file.issues == [])
        #expect(file.duplicates == [])
        #expect(file.source == "<input>")
        #expect(file.summary == "<input>: 3 keys, 0 bad lines, 0 duplicates")
    }

    @Test func acceptsLoneCarriageReturnsAndAFinalNewline() throws {
        let file = try KeyFile.parse("a\rb\r\nc\n", format: .text)
        #expect(file.keys == ["a", "b", "c"])
        #expect(file.keyLines == [1, 2, 3])
    }

    @Test func emptyTextHasNoKeys() throws {
        let file = try KeyFile.parse("", format: .text)
        #expect(file == KeyFile(source: "<input>"))
        #expect(try KeyFile.parse("\u{FEFF}\n\n# nothing\n", format: .text).keys == [])
    }

    @Test func reportsBadLinesWithLineNumbersAndReasons() throws {
        let text = [
            "09011112",            // 1 good
            "09 011",              // 2
            "09011112,Coffee",     // 3
            "\"09021010\"",        // 4
            "0902\u{7}1010",       // 5
            "0903\u{A0}1001",      // 6
            "0904\u{200B}1110",    // 7
            "0905\t1000",          // 8
            "123456789012",        // 9
            "09061110",            // 10 good
        ].joined(separator: "\n")
        let file = try KeyFile.parse(text, format: .text, configuration: .init(maximumKeyLength: 10))
        let csvHint = " (is this a CSV file? load it as CSV and choose the key column)"
        #expect(file.issues == [
            .init(line: 2, reason: "key contains whitespace", text: "09 011"),
            .init(line: 3, reason: "key contains a comma" + csvHint, text: "09011112,Coffee"),
            .init(line: 4, reason: "key contains a quote" + csvHint, text: "\"09021010\""),
            .init(line: 5, reason: "key contains a control character (U+0007)", text: "0902\u{7}1010"),
            .init(line: 6, reason: "key contains whitespace (U+00A0)", text: "0903\u{A0}1001"),
            .init(line: 7, reason: "key contains an invisible character (U+200B)", text: "0904\u{200B}1110"),
            .init(line: 8, reason: "key contains whitespace (a tab)", text: "0905\t1000"),
            .init(line: 9, reason: "key is 12 characters long, more than the maximum of 10", text: "123456789012"),
        ])
        #expect(file.keys == ["09011112", "09061110"])
        #expect(file.keyLines == [1, 10])
        #expect(file.summary == "<input>: 2 keys, 8 bad lines, 0 duplicates")
    }

    @Test func aCommaOutranksOtherFlawsBecauseItPointsAtTheRealMistake() throws {
        let file = try KeyFile.parse("09011112, Coffee beans", format: .text)
        #expect(file.issues.map(\.reason) == ["key contains a comma (is this a CSV file? load it as CSV and choose the key column)"])
    }

    @Test func issueDescriptionIsOneReadableLine() {
        #expect(KeyFile.Issue(line: 7, reason: "key contains whitespace", text: "09 011").description
            == "line 7: key contains whitespace: \"09 011\"")
        #expect(KeyFile.Issue(line: 3, reason: "r", text: "a\nb\r\tc\u{7}d\u{200B}").description
            == "line 3: r: \"a\\nb\\r\\tc\\u{7}d\\u{200B}\"")
        let long = String(repeating: "x", count: 100)
        #expect(KeyFile.Issue(line: 1, reason: "r", text: long).description
            == "line 1: r: \"\(String(repeating: "x", count: 80))…\"")
    }

    @Test func duplicatesAreReportedWithBothLinesAndLoadedOnce() throws {
        let file = try KeyFile.parse("A\nB\nA\n\nB\n  A  \nC", format: .text)
        #expect(file.keys == ["A", "B", "C"])
        #expect(file.keyLines == [1, 2, 7])
        #expect(file.duplicates == [
            .init(key: "A", line: 3, firstLine: 1),
            .init(key: "B", line: 5, firstLine: 2),
            .init(key: "A", line: 6, firstLine: 1),
        ])
        #expect(file.issues == [])
        #expect(file.summary == "<input>: 3 keys, 0 bad lines, 3 duplicates")
    }

    @Test func problemsListBadLinesAndDuplicatesTogetherInLineOrder() throws {
        let long = String(repeating: "y", count: 100) + " z"
        let file = try KeyFile.parse("A\nA\nb c\nB\n\(long)\nB\nA", format: .text)
        #expect(file.problems == [
            .init(line: 2, kind: .duplicate, key: "A", reason: "first on line 1"),
            .init(line: 3, kind: .invalid, key: "b c", reason: "key contains whitespace"),
            .init(line: 5, kind: .invalid, key: long, reason: "key contains whitespace"),
            .init(line: 6, kind: .duplicate, key: "B", reason: "first on line 4"),
            .init(line: 7, kind: .duplicate, key: "A", reason: "first on line 1"),
        ])
        // One line each, and never shortened: a report file keeps the whole key.
        #expect(file.problems[1].description == "line 3: invalid: key contains whitespace: \"b c\"")
        #expect(file.problems[2].description == "line 5: invalid: key contains whitespace: \"\(long)\"")
        #expect(file.problems[3].description == "line 6: duplicate: first on line 4: \"B\"")
        #expect(KeyFile.Problem(line: 1, kind: .invalid, key: "a\tb", reason: "r").description == "line 1: invalid: r: \"a\\tb\"")
    }

    @Test func patternMustMatchTheWholeKey() throws {
        let text = "09011112\n0901111\n09O61110\n123456789\n09011112"
        for pattern in ["^[0-9]{8}$", "[0-9]{8}"] {
            let file = try KeyFile.parse(text, format: .text, configuration: .init(pattern: pattern))
            #expect(file.keys == ["09011112"])
            #expect(file.issues == [
                .init(line: 2, reason: "key does not match the pattern \(pattern)", text: "0901111"),
                .init(line: 3, reason: "key does not match the pattern \(pattern)", text: "09O61110"),
                .init(line: 4, reason: "key does not match the pattern \(pattern)", text: "123456789"),
            ])
            #expect(file.duplicates == [.init(key: "09011112", line: 5, firstLine: 1)])
            #expect(file.summary == "<input>: 1 key, 3 bad lines, 1 duplicate")
        }
    }

    @Test func invalidPatternIsAnError() throws {
        let error = try #require(throws: KeyFileError.self) {
            try KeyFile.parse("1", format: .text, configuration: .init(pattern: "[0-9"))
        }
        guard case .invalidPattern(let pattern, let reason) = error else {
            Issue.record("expected invalidPattern, got \(error)")
            return
        }
        #expect(pattern == "[0-9")
        #expect(!reason.isEmpty)
        #expect(error.description.hasPrefix("invalid key pattern '[0-9': "))
    }

    @Test func loadsOneHundredThousandLines() throws {
        var text = "# generated\n"
        for number in 0..<100_000 { text += String(number % 90_000) + (number % 1_000 == 999 ? " x" : "") + "\r\n" }
        let file = try KeyFile.parse(text, format: .text)
        #expect(file.issues.count == 100)
        #expect(file.issues.first == .init(line: 1_001, reason: "key contains whitespace", text: "999 x"))
        #expect(file.keys.count == 89_910)
        #expect(file.duplicates.count == 9_990)
        #expect(file.duplicates.first == .init(key: "0", line: 90_002, firstLine: 2))
        #expect(file.keyLines.last == 90_000)
    }
}

@Suite("KeyFile: CSV")
struct KeyFileCSVTests {
    @Test func quotedCommasDoubledQuotesAndLineBreaksKeepLineNumbersRight() throws {
        // The key column comes last, so any mistake in reading the quoted fields before it
        // shows up as a wrong key or a wrong field count.
        let text = """
            description,hsn_code
            "Coffee, not roasted",09011112
            "Green tea ""sencha"", loose",09021010
            "Mate,
            imported from ""Brazil"",
            in bags",09031001
            Pepper,09041110
            "Vanilla ""Bourbon""\r\nbeans",09050000\r
            Cinnamon,"09061110"
            """
        let file = try KeyFile.parse(text, format: .csv(column: "hsn_code"))
        #expect(file.issues == [])
        #expect(file.keys == ["09011112", "09021010", "09031001", "09041110", "09050000", "09061110"])
        #expect(file.keyLines == [2, 3, 4, 7, 8, 10])
    }

    @Test func firstColumnByDefaultWithCommentsBlanksCRLFAndByteOrderMark() throws {
        let text = "\u{FEFF}# exported from TradeStat\r\n\r\nhsn_code,description\r\n09011112,Coffee\r\n\r\n# a comment\r\n 09021010 ,Tea\r\n"
        let file = try KeyFile.parse(text, format: .csv(column: nil))
        #expect(file.keys == ["09011112", "09021010"])
        #expect(file.keyLines == [4, 7])
        #expect(file.issues == [])
    }

    @Test func columnNameIsTrimmedAndMatchedIgnoringCase() throws {
        let text = " Code , HSN_Code \n1,09011112\n"
        #expect(try KeyFile.parse(text, format: .csv(column: "hsn_code")).keys == ["09011112"])
        #expect(try KeyFile.parse(text, format: .csv(column: " Code")).keys == ["1"])
    }

    @Test func badRecordsAreReportedAndTheRestLoaded() throws {
        let text = """
            hsn_code,description
            09011112,Coffee
            09021010
            09031001,Mate,extra
            ,Pepper
            "  ",Cinnamon
            09 041,Nutmeg
            "1,234",Vanilla
            09051000,"Clove" buds
            09011112,Coffee again
            09061110,Cardamom
            """
        let file = try KeyFile.parse(text, format: .csv(column: "hsn_code"), source: "hsn.csv")
        #expect(file.issues == [
            .init(line: 3, reason: "has 1 field, header has 2", text: "09021010"),
            .init(line: 4, reason: "has 3 fields, header has 2", text: "09031001,Mate,extra"),
            .init(line: 5, reason: "empty key in column 'hsn_code'", text: ",Pepper"),
            .init(line: 6, reason: "empty key in column 'hsn_code'", text: "\"  \",Cinnamon"),
            .init(line: 7, reason: "key contains whitespace", text: "09 041,Nutmeg"),
            .init(line: 8, reason: "key contains a comma", text: "\"1,234\",Vanilla"),
            .init(line: 9, reason: "text after the closing quote in field 2 (write a quote inside a quoted field as \"\")",
                  text: "09051000,\"Clove\" buds"),
        ])
        #expect(file.keys == ["09011112", "09061110"])
        #expect(file.keyLines == [2, 11])
        #expect(file.duplicates == [.init(key: "09011112", line: 10, firstLine: 2)])
        #expect(file.summary == "hsn.csv: 2 keys, 7 bad lines, 1 duplicate")
    }

    @Test func emptyKeyInAnUnnamedColumnNamesItsNumber() throws {
        let file = try KeyFile.parse(",name\n,a\n", format: .csv(column: nil))
        #expect(file.issues == [.init(line: 2, reason: "empty key in column 1", text: ",a")])
    }

    @Test func missingColumnListsTheAvailableOnes() throws {
        #expect(throws: KeyFileError.missingColumn(path: "k.csv", column: "hsn", available: ["code", "name"])) {
            try KeyFile.parse("code, name \n1,a\n", format: .csv(column: "hsn"), source: "k.csv")
        }
        #expect(KeyFileError.missingColumn(path: "k.csv", column: "hsn", available: ["code", "name"]).description
            == "key file k.csv: no column 'hsn' in the header; it has: 'code', 'name'. Choose one of them as the key column (--column)")
    }

    @Test func fileWithoutAHeaderIsAnError() throws {
        for text in ["", "\n  \n# only comments\n", ",,\n1,2,3\n"] {
            #expect(throws: KeyFileError.emptyHeader(path: "<input>")) {
                try KeyFile.parse(text, format: .csv(column: nil))
            }
        }
        #expect(KeyFileError.emptyHeader(path: "k.csv").description
            == "key file k.csv: no CSV header row; the first line must name the columns, e.g. hsn_code,description")
    }

    @Test func headerOnlyHasNoKeys() throws {
        let file = try KeyFile.parse("hsn_code\n", format: .csv(column: nil))
        #expect(file == KeyFile(source: "<input>"))
    }

    @Test func unterminatedQuoteOnTheLastLine() throws {
        let file = try KeyFile.parse("hsn_code,description\n09011112,Coffee\n09021010,\"Tea\n", format: .csv(column: nil))
        #expect(file.issues == [.init(line: 3, reason: "unterminated quote in field 2", text: "09021010,\"Tea")])
        #expect(file.keys == ["09011112"])
    }

    @Test func unterminatedQuoteCostsOnlyItsOwnLine() throws {
        // The quote opened on line 2 runs to the end of the file: lines 3 and 4 are read again
        // on their own.
        let toEnd = try KeyFile.parse("hsn_code,description\n09011112,\"Coffee\n09021010,Tea\n09031001,Mate\n", format: .csv(column: nil))
        #expect(toEnd.issues == [.init(line: 2, reason: "unterminated quote in field 2", text: "09011112,\"Coffee")])
        #expect(toEnd.keys == ["09021010", "09031001"])
        #expect(toEnd.keyLines == [3, 4])

        // Here a later quoted field "closes" it, leaving text after the quote.
        let text = """
            hsn_code,description
            09011112,"Coffee
            09021010,Tea
            09031001,"Mate, yerba"
            09041110,Pepper
            """
        let file = try KeyFile.parse(text, format: .csv(column: nil))
        #expect(file.issues == [.init(line: 2, reason: "unterminated quote in field 2", text: "09011112,\"Coffee")])
        #expect(file.keys == ["09021010", "09031001", "09041110"])
        #expect(file.keyLines == [3, 4, 5])
    }

    @Test func malformedHeaderIsAnError() throws {
        #expect(throws: KeyFileError.malformedHeader(path: "<input>", line: 2, reason: "unterminated quote in field 1")) {
            try KeyFile.parse("\n\"hsn_code,description\n1,2\n", format: .csv(column: nil))
        }
    }

    @Test func loadsOneHundredThousandRecords() throws {
        var text = "hsn_code,description\n"
        for number in 0..<100_000 { text += "\(number),\"Item \"\"\(number)\"\", \nnext line\"\n" }
        let file = try KeyFile.parse(text, format: .csv(column: "hsn_code"))
        #expect(file.issues == [])
        #expect(file.keys.count == 100_000)
        #expect(file.keyLines.last == 200_000)
    }
}

@Suite("KeyFile: files")
struct KeyFileLoadingTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("keyfile-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func write(_ data: Data, to name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func loadsTextByDefaultAndCSVByExtension() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try write(Data("# codes\n09011112\n09 011\n09011112\n".utf8), to: "hsn.txt")
        let file = try KeyFile.load(contentsOf: text)
        #expect(file.source == text)
        #expect(file.keys == ["09011112"])
        #expect(file.issues == [.init(line: 3, reason: "key contains whitespace", text: "09 011")])
        #expect(file.duplicates == [.init(key: "09011112", line: 4, firstLine: 2)])
        #expect(file.summary == "\(text): 1 key, 1 bad line, 1 duplicate")

        let csv = try write(Data("hsn_code,name\n09011112,Coffee\n".utf8), to: "hsn.CSV")
        #expect(try KeyFile.load(contentsOf: csv).keys == ["09011112"])
        #expect(try KeyFile.load(contentsOf: csv, format: .csv(column: "name")).keys == ["Coffee"])
        // An explicit format wins over the extension.
        let asText = try KeyFile.load(contentsOf: csv, format: .text)
        #expect(asText.keys == [])
        #expect(asText.issues.map(\.line) == [1, 2])
    }

    @Test func missingFileAndDirectoryAreErrors() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("nope.txt").path
        #expect(throws: KeyFileError.unreadable(path: missing, reason: "no such file; check the path")) {
            try KeyFile.load(contentsOf: missing)
        }
        #expect(KeyFileError.unreadable(path: "nope.txt", reason: "no such file; check the path").description
            == "cannot load keys from nope.txt: no such file; check the path")
        #expect(throws: KeyFileError.unreadable(path: directory.path, reason: "is a directory; give the key file inside it")) {
            try KeyFile.load(contentsOf: directory.path)
        }
    }

    @Test func notUTF8SaysWhere() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let latin1 = try write(Data([0x30, 0x39, 0x30, 0x31, 0x0A, 0x30, 0x39, 0xE9, 0x31, 0x0A]), to: "latin1.txt")
        #expect(throws: KeyFileError.unreadable(
            path: latin1, reason: "is not UTF-8 text: invalid byte 0xE9 at offset 7 (line 2); save it as UTF-8")) {
            try KeyFile.load(contentsOf: latin1)
        }
        let utf16 = try write(Data([0xFF, 0xFE, 0x31, 0x00, 0x0A, 0x00]), to: "utf16.txt")
        #expect(throws: KeyFileError.unreadable(path: utf16, reason: "is UTF-16 text; save it as UTF-8")) {
            try KeyFile.load(contentsOf: utf16)
        }
        let nul = try write(Data([0x31, 0x0A, 0x00, 0x32, 0x00]), to: "nul.txt")
        #expect(throws: KeyFileError.unreadable(
            path: nul, reason: "contains a NUL byte at offset 2 (line 2); is it UTF-16 or binary? save it as UTF-8 text")) {
            try KeyFile.load(contentsOf: nul)
        }
    }
}
