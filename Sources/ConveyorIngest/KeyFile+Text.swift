extension KeyFile {
    /// TXT: one key per line. Blank lines and `#` comments are skipped silently.
    static func readText(_ bytes: ArraySlice<UInt8>, into collector: inout KeyCollector) {
        var lines = LineScanner(bytes)
        while let line = lines.next() {
            let key = trimmingWhitespace(String(decoding: bytes[line.range], as: UTF8.self))
            if key.isEmpty || key.hasPrefix("#") { continue }
            collector.add(key, line: line.number, text: key)
        }
    }
}

/// Walks the lines of UTF-8 bytes, accepting `\n`, `\r\n` and a lone `\r` as line breaks.
struct LineScanner {
    let bytes: ArraySlice<UInt8>
    private var position: Int
    private var number = 0

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    /// The next line's content, without its line break, and its 1-based number.
    mutating func next() -> (range: Range<Int>, number: Int)? {
        guard position < bytes.endIndex else { return nil }
        let end = bytes.endOfLine(from: position)
        defer { position = bytes.startOfNextLine(after: end) }
        number += 1
        return (position..<end, number)
    }
}

extension ArraySlice<UInt8> {
    /// The offset of the line break at or after `offset`, or `endIndex`.
    func endOfLine(from offset: Int) -> Int {
        var index = offset
        while index < endIndex, self[index] != ASCII.lf, self[index] != ASCII.cr { index += 1 }
        return index
    }

    /// Steps over the line break at `offset` (`\n`, `\r\n` or `\r`), if any.
    func startOfNextLine(after offset: Int) -> Int {
        guard offset < endIndex else { return offset }
        if self[offset] == ASCII.cr, offset + 1 < endIndex, self[offset + 1] == ASCII.lf { return offset + 2 }
        return offset + 1
    }
}

/// Trims Unicode whitespace (including no-break spaces pasted from spreadsheets) from both ends.
func trimmingWhitespace(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isWhitespace($0) }),
          let last = scalars.lastIndex(where: { !isWhitespace($0) })
    else { return "" }
    if first == scalars.startIndex, last == scalars.index(before: scalars.endIndex) { return text }
    return String(scalars[first...last])
}

func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    // ASCII first: nearly every byte of a key file is ASCII, and the property lookup is slower.
    scalar.isASCII ? scalar == " " || (0x09...0x0D).contains(scalar.value) : scalar.properties.isWhitespace
}
