import Foundation
import Testing

@testable import Conveyor

@Suite("Jitter")
struct JitterTests {
    @Test func sameNameSameOffset() {
        let first = Recurrence.jitter(for: "nightly-report", maximum: .seconds(30))
        #expect(first == Recurrence.jitter(for: "nightly-report", maximum: .seconds(30)))
        #expect(first >= .zero && first < .seconds(30))
    }

    @Test func fnv1aMatchesPublishedVectors() {
        #expect(StableHash.fnv1a64("") == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.fnv1a64("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test func pinnedOffsets() {
        // Computed independently (Python); a change here would move every deployed schedule.
        #expect(Recurrence.jitter(for: "nightly-report", maximum: .seconds(60)) == .milliseconds(52_990))
        #expect(Recurrence.jitter(for: "schedule-1", maximum: .seconds(60)) == .milliseconds(32_045))
        #expect(Recurrence.jitter(for: "schedule-2", maximum: .seconds(60)) == .milliseconds(49_065))
        #expect(Recurrence.jitter(for: "héllo", maximum: .seconds(60)) == .milliseconds(56_830))
    }

    @Test func thousandSchedulesSpreadOut() {
        var buckets = [Int](repeating: 0, count: 60)
        for index in 0..<1000 {
            let offset = Recurrence.jitter(for: "schedule-\(index)", maximum: .seconds(60))
            buckets[Int(offset.components.seconds)] += 1
        }
        // About 16.7 per second-bucket; none empty, none crowded.
        #expect(buckets.allSatisfy { $0 > 3 && $0 < 40 }, "\(buckets)")
    }

    @Test func zeroOrTinyMaximumGivesZero() {
        #expect(Recurrence.jitter(for: "a", maximum: .zero) == .zero)
        #expect(Recurrence.jitter(for: "a", maximum: .milliseconds(1)) == .zero)
        #expect(Recurrence.jitter(for: "a", maximum: .seconds(-5)) == .zero)
    }
}
