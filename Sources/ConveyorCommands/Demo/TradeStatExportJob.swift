import Conveyor
import Foundation

/// The demo's job, shaped like the seed TradeStat ingestor's: for one HSN code, gather
/// seven years of export figures, merge them, and write one consolidated JSON export.
///
/// The figures come from the demo's data files (``DemoData``) instead of a website; each
/// year costs a short pause, as a request would. Only `conveyor demo` registers it: it is
/// not a built-in job of `conveyor worker`.
public struct TradeStatExportJob: Job {
    public static let name = "tradestat.export"
    public static let queue = "tradestat"
    public static let retryPolicy = RetryPolicy.fixed(maxAttempts: 3, delay: .milliseconds(300))
    public static let timeout: Duration = .seconds(60)
    /// The site every export asks; `conveyor demo` limits it (seed 000's site allows a few
    /// requests a second and answers 429 beyond).
    public static let host = "host:tradestat.commerce.gov.in"

    public var key: String
    public var exportDirectory: String
    /// Fail the first attempt with a simulated HTTP 503, to show a retry.
    public var failFirstAttempt: Bool?
    /// Pause per year, standing in for a request (milliseconds).
    public var requestMilliseconds: Int?
    /// Have the site answer the first attempt with a simulated HTTP 429 and this Retry-After
    /// (milliseconds): the whole host waits that long, and the attempt is not counted.
    public var tooManyRequestsFirst: Int?

    public init(key: String, exportDirectory: String, failFirstAttempt: Bool? = nil, requestMilliseconds: Int? = nil,
                tooManyRequestsFirst: Int? = nil) {
        self.key = key
        self.exportDirectory = exportDirectory
        self.failFirstAttempt = failFirstAttempt
        self.requestMilliseconds = requestMilliseconds
        self.tooManyRequestsFirst = tooManyRequestsFirst
    }

    /// Every export counts against the site's limit.
    public var limitKeys: [String] { [Self.host] }

    public struct Summary: Codable, Sendable, Hashable {
        public var hsn: String
        public var years: Int
        public var countries: Int
        public var totalValueUSD: Int
        public var file: String
    }

    public func run(_ context: JobContext) async throws -> Summary {
        let rows: [DemoDataset.Row]
        switch DemoData.bundledDataset {
        case .success(let dataset): rows = dataset.rows(for: key)
        case .failure(let error): throw JobError.permanent(error.description)
        }
        guard let description = rows.first?.description else {
            throw JobError.permanent("no trade data for HSN code \(key)")
        }
        var years: [String: Any] = [:]
        var countries = Set<String>()
        var total = 0
        for year in Set(rows.map(\.year)).sorted() {
            try await Task.sleep(for: .milliseconds(requestMilliseconds ?? 15))
            if let wait = tooManyRequestsFirst, year == 2019, try answeredTooManyRequestsFirstTime() {
                throw JobError.upstreamBusy(retryAfter: .milliseconds(wait), key: nil,
                                            "HTTP 429 Too Many Requests for \(key) (simulated), Retry-After \(Duration.milliseconds(wait).formatted)")
            }
            if failFirstAttempt == true, context.attempt == 1, year == 2021 {
                throw JobError.retryable("HTTP 503 Service Unavailable for \(key) year \(year) (simulated)")
            }
            let yearRows = rows.filter { $0.year == year }
            countries.formUnion(yearRows.map(\.country))
            total += yearRows.reduce(0) { $0 + $1.valueUSD }
            years[String(year)] = [
                "financial_year": String(year),
                "commodity": description,
                "unit": "Kg",
                "countries": yearRows.map { ["country": $0.country, "quantity_kg": $0.quantityKg, "value_usd": $0.valueUSD] },
                "metadata": ["source": "conveyor demo dataset", "attempt": context.attempt],
            ]
        }
        let export: [String: Any] = ["hsn_code": key, "description": description, "years": years]
        let folder = URL(fileURLWithPath: exportDirectory).appendingPathComponent(key)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("\(key)_export.json")
        let data = try JSONSerialization.data(withJSONObject: export, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: file, options: .atomic)
        return Summary(hsn: key, years: years.count, countries: countries.count, totalValueUSD: total, file: file.path)
    }

    /// The simulated site answers 429 once per key and run: it remembers so in a marker file
    /// beside the exports (a deferred attempt is not counted, so the attempt number cannot tell).
    private func answeredTooManyRequestsFirstTime() throws -> Bool {
        let marker = URL(fileURLWithPath: exportDirectory).appendingPathComponent(".answered-429-\(key)")
        guard !FileManager.default.fileExists(atPath: marker.path) else { return false }
        try Data().write(to: marker)
        return true
    }
}
