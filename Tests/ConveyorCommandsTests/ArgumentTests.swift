@testable import ConveyorCommands
import Foundation
import Testing

@Suite("Command-line values")
struct ArgumentTests {
    @Test func durationsInEveryUnit() throws {
        #expect(DurationArgument.parse("250ms") == .milliseconds(250))
        #expect(DurationArgument.parse(" 30S ") == .seconds(30))
        #expect(DurationArgument.parse("1.5m") == .seconds(90))
        #expect(DurationArgument.parse("2h") == .seconds(7200))
        #expect(DurationArgument.parse("7d") == .seconds(7 * 86400))
        #expect(DurationArgument.parse("12") == .seconds(12))
        #expect(DurationArgument.parse("0") == .zero)
        #expect(DurationArgument.parse("3y") == nil, "years are no unit")
    }

    @Test(arguments: [
        ("inf", DurationArgument.Error.notFinite("inf")),
        ("infinity", .notFinite("infinity")),
        ("infd", .notFinite("infd")),
        ("-infs", .notFinite("-infs")),
        ("nan", .notADuration("nan")),
        ("nanms", .notADuration("nanms")),
        ("1e300s", .tooLong("1e300s")),
        ("1e300", .tooLong("1e300")),
        ("300000000000d", .tooLong("300000000000d")),
        ("-5s", .negative("-5s")),
        ("soon", .notADuration("soon")),
        ("", .notADuration("")),
    ])
    func valuesThatAreNoDurationsAreRejectedByName(text: String, expected: DurationArgument.Error) {
        #expect(DurationArgument.parse(text) == nil)
        #expect(DurationArgument(argument: text) == nil)
        #expect(throws: expected) { try DurationArgument(parsing: text) }
        #expect(expected.description.contains("'\(text)'"))
    }

    @Test func theLongestDurationThatFitsIsAccepted() {
        // 100,000 years fits in Int64 microseconds (about 292,000 years).
        #expect(DurationArgument.parse("\(100_000 * 365)d") == .seconds(Int64(100_000) * 365 * 86400))
    }

    @Test(arguments: [
        (["worker", "--lease", "inf"], "inf"),
        (["purge", "--older-than", "infd"], "infd"),
        (["submit", "x", "--payload", "{}", "--delay", "1e300s"], "1e300s"),
    ])
    func commandsRejectDurationsOutOfRangeNamingTheValue(arguments: [String], value: String) {
        do {
            _ = try ConveyorCommand.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed")
        } catch {
            let message = ConveyorCommand.fullMessage(for: error)
            #expect(message.contains("'\(value)'"), "\(message)")
            #expect(ConveyorCommand.exitCode(for: error) != .success)
        }
    }

    @Test(arguments: [(0, 10), (5, 10), (10, 10), (15, 10), (-3, 10), (3, 0), (0, 0), (7, -4), (Int.max, 1), (Int.min, Int.max)])
    func progressBarsOutOfRangeAreClampedNotTrapped(done: Int, total: Int) {
        let (percent, bar) = ProgressBar.bar(done: done, total: total, width: 30)
        #expect(bar.count == 30)
        #expect((0...100).contains(percent))
        if total > 0 && done >= total { #expect(percent == 100) }
        if done <= 0 && total > 0 { #expect(percent == 0) }
        for interactive in [true, false] {
            let progress = ProgressBar(terminal: Terminal(isInteractive: interactive), label: "test")
            progress.update(done: done, total: total, detail: "clamped")
            progress.finish()
        }
    }
}
