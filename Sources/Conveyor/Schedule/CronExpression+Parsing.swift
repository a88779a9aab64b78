import Foundation

/// Turns cron text into field bitsets, keeping track of columns for error messages.
struct CronParser {
    /// The values one field matches.
    struct FieldSet {
        /// Bit n set: value n matches.
        var values: UInt64 = 0
        /// Day-of-month only: bit n set, the day n days before the last matches.
        var daysBeforeLast: UInt32 = 0
        /// Day-of-week only: byte w, bit n set, the nth weekday w of the month matches.
        var nthWeekdays: UInt64 = 0
    }

    /// A run of characters and the index of its first character in the expression.
    private struct Token {
        /// A slice of the whole expression, so its indices are positions in the expression.
        let characters: ArraySlice<Character>
        var start: Int { characters.startIndex }
        var text: String { String(characters) }
    }

    private let original: String
    private let characters: [Character]

    init(text: String) {
        original = text
        characters = Array(text)
    }

    func parse() throws(ScheduleError) -> CronExpression {
        let tokens = split(characters[...], isSeparator: \.isWhitespace)
            .filter { !$0.characters.isEmpty }
        guard let first = tokens.first else { throw .emptyExpression }

        if tokens.count == 1, first.characters.first == "@" {
            let nickname = first.text.lowercased()
            guard let expansion = CronExpression.nicknames[nickname] else {
                throw .unknownNickname(expression: original)
            }
            return try CronParser(text: expansion).parse().renamed(nickname)
        }
        guard tokens.count == 5 || tokens.count == 6 else {
            throw .wrongFieldCount(expression: original, found: tokens.count)
        }

        let order = tokens.count == 6 ? CronField.allCases : Array(CronField.allCases.dropFirst())
        var fields: [CronField: FieldSet] = [:]
        var wildcards: Set<CronField> = []
        for (index, (field, token)) in zip(order, tokens).enumerated() {
            fields[field] = try parseField(field, number: index + 1, token: token)
            if token.text == "*" || token.text == "?" { wildcards.insert(field) }
        }
        return CronExpression(
            source: tokens.map(\.text).joined(separator: " "),
            hasSeconds: tokens.count == 6,
            fields: fields,
            dayOfMonthIsWildcard: wildcards.contains(.dayOfMonth),
            dayOfWeekIsWildcard: wildcards.contains(.dayOfWeek))
    }

    // MARK: - Fields and list elements

    private func parseField(_ field: CronField, number: Int, token: Token) throws(ScheduleError) -> FieldSet {
        var set = FieldSet()
        for element in split(token.characters, isSeparator: { $0 == "," }) {
            guard !element.characters.isEmpty else {
                throw issue(.malformed, field, number, token.start, token.text)
            }
            try parseElement(element, field: field, number: number, into: &set)
        }
        return set
    }

    private func parseElement(
        _ element: Token, field: CronField, number: Int, into set: inout FieldSet
    ) throws(ScheduleError) {
        let upper = element.text.uppercased()
        func fail(_ problem: CronFieldIssue.Problem) -> ScheduleError {
            issue(problem, field, number, element.start, element.text)
        }

        if upper.contains("?") {
            guard upper == "?", field == .dayOfMonth || field == .dayOfWeek else {
                throw fail(.misplacedQuestionMark)
            }
            set.values |= Self.bits(field.wildcardRange, step: 1, field: field)
            return
        }
        if field == .dayOfMonth, upper.hasPrefix("L") {
            set.daysBeforeLast |= try parseLast(element, number: number)
            return
        }
        if field != .dayOfMonth, Self.isLastDaySyntax(upper) {
            throw fail(.lastDayOutsideDayOfMonth)
        }
        if upper.contains("#") {
            guard field == .dayOfWeek else { throw fail(.nthWeekdayOutsideDayOfWeek) }
            set.nthWeekdays |= try parseNthWeekday(element, number: number)
            return
        }

        let parts = split(element.characters, isSeparator: { $0 == "/" })
        guard parts.count <= 2 else { throw fail(.malformed) }
        let base = parts[0]
        var step = 1
        if parts.count == 2 {
            let stepToken = parts[1]
            guard !stepToken.characters.isEmpty, stepToken.characters.allSatisfy(\.isASCIIDigit),
                let value = Int(stepToken.text)
            else { throw fail(.malformed) }
            guard value > 0 else { throw fail(.zeroStep) }
            step = value
        }

        let range: ClosedRange<Int>
        if base.text == "*" {
            range = field.wildcardRange
        } else if let dash = base.characters.firstIndex(of: "-") {
            let low = Token(characters: base.characters[..<dash])
            let high = Token(characters: base.characters[(dash + 1)...])
            let lowValue = try value(low, field: field, number: number)
            let highValue = try value(high, field: field, number: number)
            guard lowValue <= highValue else {
                throw issue(
                    .reversedRange(low: lowValue, high: highValue), field, number, base.start, base.text)
            }
            range = lowValue...highValue
        } else {
            let single = try value(base, field: field, number: number)
            // "a/n" runs from a to the end of the field.
            range = parts.count == 2 ? single...max(single, field.wildcardRange.upperBound) : single...single
        }
        set.values |= Self.bits(range, step: step, field: field)
    }

    /// `L` or `L-n` in day-of-month, as a bit in `daysBeforeLast`.
    private func parseLast(_ element: Token, number: Int) throws(ScheduleError) -> UInt32 {
        let upper = element.text.uppercased()
        if upper == "L" { return 1 }
        guard upper.hasPrefix("L-") else {
            throw issue(.malformed, .dayOfMonth, number, element.start, element.text)
        }
        let digits = element.characters.dropFirst(2)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit) else {
            throw issue(.malformed, .dayOfMonth, number, element.start, element.text)
        }
        let offset = Int(String(digits)) ?? Int.max
        guard offset <= 30 else {
            throw issue(.outOfRange(value: offset), .dayOfMonth, number, element.start, element.text)
        }
        return 1 << UInt32(offset)
    }

    /// `d#n` in day-of-week, as a bit in `nthWeekdays`.
    private func parseNthWeekday(_ element: Token, number: Int) throws(ScheduleError) -> UInt64 {
        let parts = split(element.characters, isSeparator: { $0 == "#" })
        guard parts.count == 2, !parts[1].characters.isEmpty,
            parts[1].characters.allSatisfy(\.isASCIIDigit)
        else { throw issue(.malformed, .dayOfWeek, number, element.start, element.text) }
        let weekday = try value(parts[0], field: .dayOfWeek, number: number) % 7
        let week = Int(parts[1].text) ?? Int.max
        guard (1...5).contains(week) else {
            throw issue(.weekOfMonthOutOfRange(week: week), .dayOfWeek, number, element.start, element.text)
        }
        return 1 << UInt64(weekday * 8 + week)
    }

    /// A number or a name, checked against the field's range.
    private func value(_ token: Token, field: CronField, number: Int) throws(ScheduleError) -> Int {
        let text = token.text
        if !text.isEmpty, token.characters.allSatisfy(\.isASCIIDigit) {
            let value = Int(text) ?? Int.max
            guard field.valueRange.contains(value) else {
                throw issue(.outOfRange(value: value), field, number, token.start, text)
            }
            return value
        }
        if let named = field.names[text.uppercased()] { return named }
        throw issue(.malformed, field, number, token.start, text)
    }

    // MARK: - Helpers

    private static func bits(_ range: ClosedRange<Int>, step: Int, field: CronField) -> UInt64 {
        var result: UInt64 = 0
        for value in stride(from: range.lowerBound, through: range.upperBound, by: step) {
            // Day-of-week 7 is Sunday again.
            result |= 1 << UInt64(field == .dayOfWeek ? value % 7 : value)
        }
        return result
    }

    /// `L`, `L-n`, `nL` and `LW`: day-of-month's "last" forms (and Quartz's last-weekday).
    private static func isLastDaySyntax(_ upper: String) -> Bool {
        if upper == "L" || upper == "LW" || upper.hasPrefix("L-") { return true }
        guard upper.hasSuffix("L"), upper.count > 1 else { return false }
        return upper.dropLast().allSatisfy(\.isASCIIDigit)
    }

    private func issue(
        _ problem: CronFieldIssue.Problem, _ field: CronField, _ number: Int, _ start: Int, _ text: String
    ) -> ScheduleError {
        .invalidField(
            CronFieldIssue(
                expression: original, field: field, fieldNumber: number, column: start + 1,
                text: text, problem: problem))
    }

    /// Splits a slice at separators, remembering where each piece starts; keeps empty pieces.
    private func split(_ slice: ArraySlice<Character>, isSeparator: (Character) -> Bool) -> [Token] {
        var tokens: [Token] = []
        var pieceStart = slice.startIndex
        for index in slice.indices where isSeparator(slice[index]) {
            tokens.append(Token(characters: slice[pieceStart..<index]))
            pieceStart = index + 1
        }
        tokens.append(Token(characters: slice[pieceStart..<slice.endIndex]))
        return tokens
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension CronExpression {
    /// The same schedule under another source text (used for nicknames).
    func renamed(_ newSource: String) -> CronExpression {
        var copy = self
        copy.source = newSource
        return copy
    }
}
