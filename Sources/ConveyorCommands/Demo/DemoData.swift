import Foundation

/// The demo's sample data, `Sources/ConveyorCommands/Demo/Dataset`, read from the target's
/// resources: the key file `conveyor demo` submits (one bad line and one duplicate on
/// purpose) and seven years of made-up export figures per HSN code that its job reads.
struct DemoData: Sendable {
    static let keyFileName = "hsn_codes_sample.txt"
    static let exportsFileName = "trade_exports.csv"
    /// The exports file's header row, which names the fields of every other row.
    static let exportsHeader = "hsn,description,year,country,quantity_kg,value_usd"

    /// The folder the files are in.
    let directory: URL

    init(directory: URL) {
        self.directory = directory
    }

    /// The files bundled with this module.
    static func bundled() throws(DemoDataError) -> DemoData {
        guard let directory = Bundle.module.url(forResource: "Dataset", withExtension: nil) else {
            throw .missingFolder(bundle: Bundle.module.bundlePath)
        }
        return DemoData(directory: directory)
    }

    /// The export figures of the bundled files, read and checked once per process.
    static let bundledDataset = Result<DemoDataset, DemoDataError> { () throws(DemoDataError) in try bundled().dataset() }

    func text(of name: String) throws(DemoDataError) -> String {
        let path = directory.appendingPathComponent(name).path
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
        guard let text = String(data: data, encoding: .utf8) else { throw .notUTF8(path) }
        return text
    }

    /// Reads and checks the export figures: a row that does not parse is an error naming the
    /// file and line, never a silently missing figure.
    func dataset() throws(DemoDataError) -> DemoDataset {
        let path = directory.appendingPathComponent(Self.exportsFileName).path
        let lines = try text(of: Self.exportsFileName).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(Self.exportsHeader) else {
            throw .malformed(path, line: 1, reason: "the header must be \(Self.exportsHeader)")
        }
        var rows: [String: [DemoDataset.Row]] = [:]
        for (index, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let row = try DemoDataset.Row(csv: line, path: path, line: index + 1)
            rows[row.hsn, default: []].append(row)
        }
        return DemoDataset(byHSN: rows)
    }
}

/// The export figures by HSN code.
struct DemoDataset: Sendable {
    struct Row: Sendable {
        var hsn: String
        var description: String
        var year: Int
        var country: String
        var quantityKg: Int
        var valueUSD: Int

        /// One row of the exports file (quoted fields may hold commas).
        init(csv text: Substring, path: String, line: Int) throws(DemoDataError) {
            let fields = Self.splitCSV(text)
            guard let fields else { throw .malformed(path, line: line, reason: "a quoted field is not closed") }
            guard fields.count == 6 else {
                throw .malformed(path, line: line, reason: "\(fields.count) fields where \(DemoData.exportsHeader) has 6")
            }
            func number(_ index: Int) throws(DemoDataError) -> Int {
                guard let value = Int(fields[index]) else {
                    let name = DemoData.exportsHeader.split(separator: ",")[index]
                    throw .malformed(path, line: line, reason: "\(name) '\(fields[index])' is not a whole number")
                }
                return value
            }
            hsn = fields[0]
            description = fields[1]
            year = try number(2)
            country = fields[3]
            quantityKg = try number(4)
            valueUSD = try number(5)
        }

        /// The fields of one line, or `nil` when a quote is left open.
        static func splitCSV(_ line: Substring) -> [String]? {
            var fields: [String] = []
            var current = ""
            var quoted = false
            for character in line {
                switch character {
                case "\"": quoted.toggle()
                case "," where !quoted:
                    fields.append(current)
                    current = ""
                default: current.append(character)
                }
            }
            fields.append(current)
            return quoted ? nil : fields
        }
    }

    var byHSN: [String: [Row]]

    func rows(for hsn: String) -> [Row] { byHSN[hsn] ?? [] }
}

/// The demo's data files could not be used: the installation is incomplete or a file was
/// edited by hand.
enum DemoDataError: Error, CustomStringConvertible, Equatable {
    /// The module's resource bundle has no `Dataset` folder.
    case missingFolder(bundle: String)
    case missingFile(String)
    case notUTF8(String)
    case malformed(String, line: Int, reason: String)

    var description: String {
        let reinstall = "reinstall Conveyor with its resource bundle (conveyor_ConveyorCommands.resources beside the executable)"
        switch self {
        case .missingFolder(let bundle):
            return "the demo's data folder Dataset is missing from \(bundle): \(reinstall)"
        case .missingFile(let path):
            return "the demo's data file \(path) is missing: \(reinstall)"
        case .notUTF8(let path):
            return "the demo's data file \(path) is not UTF-8 text: \(reinstall)"
        case .malformed(let path, let line, let reason):
            return "the demo's data file \(path), line \(line): \(reason); restore it from the Conveyor sources"
        }
    }
}
