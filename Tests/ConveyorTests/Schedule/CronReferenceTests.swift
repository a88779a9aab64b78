import Foundation
import Testing

@testable import Conveyor

/// Compares next-fire times with croniter's, from `scripts/cron-reference.py`.
///
/// Cases the generator marked (`"x"`) are where croniter is expected to disagree with our
/// rules (DST gaps and repeats, `#` with a restricted day-of-month, day fields that list every
/// value); they are counted, not compared, and our rules for them are tested explicitly in
/// `DaylightSavingTests` and `CronParsingTests`.
@Suite("croniter reference")
struct CronReferenceTests {
    private struct Case: Decodable {
        let e: String
        let z: String
        let s: Int64
        let f: [Int64]
        let x: String?
    }

    @Test func everyComparedCaseMatchesCroniter() throws {
        let url = try #require(Bundle.module.url(forResource: "cron-reference", withExtension: "jsonl", subdirectory: "Resources"))
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        let decoder = JSONDecoder()
        var compared = 0
        var excluded: [String: Int] = [:]
        var excludedAgreeing = 0
        var excludedExamples: [String: [String]] = [:]
        let format = { (seconds: Int64) in Recurrence.format(Date(wholeSecondsSince1970: seconds)) }
        var mismatchCount = 0
        var mismatches: [String] = []
        var zones: [String: TimeZone] = [:]

        for line in lines where !line.hasPrefix("{\"meta\"") {
            let reference = try decoder.decode(Case.self, from: Data(line.utf8))
            let expression = try CronExpression(reference.e)
            let zone = try zones[reference.z] ?? TimeZone.iana(reference.z)
            zones[reference.z] = zone

            var expected: [Int64] = []
            var cursor = reference.s
            for delta in reference.f {
                cursor += delta
                expected.append(cursor)
            }
            var actual: [Int64] = []
            var instant = Date(wholeSecondsSince1970: reference.s)
            for _ in expected {
                guard let next = expression.nextFire(after: instant, in: zone) else { break }
                actual.append(next.wholeSecondsSince1970!)
                instant = next
            }

            if let reason = reference.x {
                excluded[reason, default: 0] += 1
                if actual == expected {
                    excludedAgreeing += 1
                } else if excludedExamples[reason, default: []].count < 2 {
                    excludedExamples[reason, default: []].append(
                        "\(reference.e) in \(reference.z) from \(Recurrence.format(Date(wholeSecondsSince1970: reference.s))): "
                            + "croniter \(expected.map(format)), ours \(actual.map(format))")
                }
                continue
            }
            compared += 1
            guard actual != expected else { continue }
            mismatchCount += 1
            if mismatches.count < 20 {
                mismatches.append("\(reference.e) in \(reference.z) from \(reference.s): expected \(expected), got \(actual)")
            }
        }

        let excludedTotal = excluded.values.reduce(0, +)
        print("croniter reference: \(compared) compared, \(compared - mismatchCount) matched; "
            + "\(excludedTotal) excluded \(excluded.sorted { $0.key < $1.key }) "
            + "(\(excludedAgreeing) of them agree anyway)")
        for (reason, examples) in excludedExamples.sorted(by: { $0.key < $1.key }) {
            for example in examples { print("  excluded (\(reason)): \(example)") }
        }
        #expect(compared >= 9_000)
        #expect(mismatchCount == 0, "\(mismatchCount) mismatches, first ones:\n\(mismatches.joined(separator: "\n"))")
    }
}
