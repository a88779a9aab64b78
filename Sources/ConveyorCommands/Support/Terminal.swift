import Conveyor
import Foundation
import Synchronization

/// Output for people: a live progress bar on a terminal, plain lines otherwise.
public struct Terminal: Sendable {
    public let isInteractive: Bool

    public init(isInteractive: Bool? = nil) {
        self.isInteractive = isInteractive ?? (isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb")
    }

    public func line(_ text: String = "") {
        print(text)
        fflush(nil)
    }

    public func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Draws progress in place on a terminal, or prints a line every 10 % otherwise.
public final class ProgressBar: Sendable {
    private struct State {
        var lastPrintedTenth = -1
        var lastLength = 0
    }
    private let terminal: Terminal
    private let label: String
    private let width = 30
    private let started = Date()
    private let state = Mutex(State())

    public init(terminal: Terminal, label: String) {
        self.terminal = terminal
        self.label = label
    }

    /// - Parameter detail: extra text after the counts, e.g. "12 ok · 1 failed".
    public func update(done: Int, total: Int, detail: String = "") {
        let (percent, bar) = Self.bar(done: done, total: total, width: width)
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(max(0, done)) / elapsed : 0
        let rateText = rate >= 1000 ? String(format: "%.1fk/s", rate / 1000) : String(format: "%.0f/s", rate)
        let suffix = detail.isEmpty ? "" : " · \(detail)"
        state.withLock { state in
            if terminal.isInteractive {
                let text = "\(label) \(bar) \(percent)% \(done)/\(total) \(rateText)\(suffix)"
                let pad = max(0, state.lastLength - text.count)
                print("\r" + text + String(repeating: " ", count: pad), terminator: "")
                state.lastLength = text.count
                fflush(nil)
            } else {
                let tenth = percent / 10
                guard tenth > state.lastPrintedTenth else { return }
                state.lastPrintedTenth = tenth
                terminal.line("\(label): \(percent)% (\(done)/\(total))\(suffix)")
            }
        }
    }

    /// The percentage and a bar `width` cells wide. Counts out of range (more done than the
    /// total, a total of zero or less) show as full rather than trap.
    static func bar(done: Int, total: Int, width: Int) -> (percent: Int, bar: String) {
        let fraction = total > 0 ? min(1, Double(max(0, done)) / Double(total)) : 1
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        return (Int((fraction * 100).rounded(.down)), bar)
    }

    public func finish() {
        if terminal.isInteractive { print("") }
    }
}

/// A plain-text table with columns sized to their contents.
public struct TextTable {
    public var headers: [String]
    public var rows: [[String]] = []

    public init(_ headers: [String]) { self.headers = headers }

    public mutating func add(_ row: [String]) { rows.append(row) }

    public func render() -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func format(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([format(headers), rule] + rows.map(format)).joined(separator: "\n")
    }
}

extension String {
    /// At most `length` characters on one line, with an ellipsis when cut.
    func clipped(_ length: Int) -> String {
        let flat = self.replacingOccurrences(of: "\n", with: " ")
        return flat.count <= length ? flat : String(flat.prefix(max(0, length - 1))) + "…"
    }
}
