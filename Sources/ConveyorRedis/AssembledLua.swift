/// Lua source put together from parts (files, or text Swift writes), remembering where each
/// part starts, so that a line Redis names in an error (`user_script:612`, counted over the
/// whole source) can be traced to its file and line there.
struct AssembledLua: Sendable {
    private(set) var text = ""
    private(set) var lines = LuaLineMap()

    /// Appends `part`, named `name` in error messages ("operations/claim.lua"). A part that does
    /// not end a line gets a newline, so every part starts on a line of its own.
    mutating func append(_ part: String, from name: String) {
        var part = part
        if !part.isEmpty && !part.hasSuffix("\n") { part += "\n" }
        var count = 0
        for byte in part.utf8 where byte == UInt8(ascii: "\n") { count += 1 }
        lines.add(name, lineCount: count)
        text += part
    }
}

/// Which part of an ``AssembledLua`` each of its lines came from.
struct LuaLineMap: Sendable, Equatable {
    private struct Part: Sendable, Equatable {
        var name: String
        /// The part's first line in the whole source, from 1.
        var firstLine: Int
        var lineCount: Int
    }

    private var parts: [Part] = []
    private var total = 0

    fileprivate mutating func add(_ name: String, lineCount: Int) {
        parts.append(Part(name: name, firstLine: total + 1, lineCount: lineCount))
        total += lineCount
    }

    /// The part and the line in it (from 1) of `line` of the whole source.
    func location(ofLine line: Int) -> (part: String, line: Int)? {
        guard line >= 1, line <= total else { return nil }
        var low = 0, high = parts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if parts[middle].firstLine <= line { low = middle } else { high = middle - 1 }
        }
        let part = parts[low]
        return (part.name, line - part.firstLine + 1)
    }

    /// `message` (an error Redis reported while running this source) with the file and line
    /// of the first line it names: `… on @user_script:612. (user_script:612 is
    /// Lua/operations/claim.lua:40)`.
    func explain(_ message: String) -> String {
        guard let match = message.firstMatch(of: /user_(?:script|function):([0-9]+)/),
              let line = Int(match.output.1),
              let location = location(ofLine: line)
        else { return message }
        return message + " (\(match.output.0) is \(location.part):\(location.line))"
    }
}
