@testable import ConveyorCommands
import ConveyorIngest
import ConveyorTesting
import Foundation
import Testing

/// The demo's data is a resource of the commands module, checked when it is read.
@Suite("Demo data")
struct DemoDataTests {
    @Test func bundledFilesHoldTheKeysAndSevenYearsOfFiguresForEach() throws {
        let data = try DemoData.bundled()
        let keys = try KeyFile.parse(try data.text(of: DemoData.keyFileName), format: .text, configuration: .init(pattern: "^[0-9]{8}$"))
        #expect(keys.keys.count == 14)
        #expect(keys.issues.map(\.line) == [10])
        #expect(keys.duplicates.map(\.line) == [19])
        let dataset = try DemoData.bundledDataset.get()
        #expect(Set(dataset.byHSN.keys) == Set(keys.keys))
        for key in keys.keys {
            #expect(Set(dataset.rows(for: key).map(\.year)) == Set(2018...2024), "\(key)")
        }
        #expect(dataset.rows(for: "09011112").first?.description == "Coffee, not roasted, not decaffeinated")
    }

    @Test func aMissingOrMalformedFileIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-demo-data")
        defer { directory.remove() }
        let data = DemoData(directory: URL(fileURLWithPath: directory.path))
        let exports = directory.file(DemoData.exportsFileName)
        #expect(throws: DemoDataError.missingFile(exports)) { try data.dataset() }
        #expect("\(DemoDataError.missingFile(exports))".contains("trade_exports.csv is missing"))

        let good = #"09011112,"Coffee, not roasted",2018,Japan,10,20"#
        let cases: [(rows: [String], line: Int, reason: String)] = [
            (["hsn,year", good], 1, "the header must be \(DemoData.exportsHeader)"),
            ([DemoData.exportsHeader, good, "09011112,Coffee,2018,Japan,10"], 3, "5 fields where \(DemoData.exportsHeader) has 6"),
            ([DemoData.exportsHeader, #"09011112,"Coffee,2018,Japan,10,20"#], 2, "a quoted field is not closed"),
            ([DemoData.exportsHeader, good, "", "09011112,Coffee,2018,Japan,ten,20"], 4, "quantity_kg 'ten' is not a whole number"),
        ]
        for (rows, line, reason) in cases {
            try rows.joined(separator: "\n").write(toFile: exports, atomically: true, encoding: .utf8)
            let error = DemoDataError.malformed(exports, line: line, reason: reason)
            #expect(throws: error) { try data.dataset() }
            #expect(error.description.contains("trade_exports.csv, line \(line): \(reason)"))
        }
        try "\(DemoData.exportsHeader)\n\(good)\n".write(toFile: exports, atomically: true, encoding: .utf8)
        #expect(try data.dataset().rows(for: "09011112").map(\.valueUSD) == [20])
    }
}
