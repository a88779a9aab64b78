/// The rows of one upsert, shared by the SQL targets: values read once, a key written twice
/// in one write folded into its last record (a statement may change a row only once).
package struct UpsertRows {
    package let columns: [SinkColumn]
    package let keyIndexes: [Int]
    package private(set) var rows: [[SinkValue]] = []
    /// Records folded into a later one with the same key: counted as updated.
    package private(set) var superseded = 0

    package init<Record: SinkRecord>(_ records: [Record]) throws {
        columns = Record.columns
        keyIndexes = Record.key.map { key in Record.columns.firstIndex { $0.name == key }! }
        rows.reserveCapacity(records.count)
        var positions: [[SinkValue]: Int] = [:]
        for (number, record) in records.enumerated() {
            let values = record.values()
            guard values.count == columns.count else {
                throw SinkError.wrongValueCount(record: number + 1, got: values.count, columns: columns.count)
            }
            for (index, column) in columns.enumerated() {
                let value = values[index]
                if value == .null {
                    guard column.nullable else { throw SinkError.nullValue(record: number + 1, column: column.name) }
                } else if !value.fits(column.kind) {
                    throw SinkError.wrongKind(record: number + 1, column: column.name, expected: column.kind, got: value)
                }
            }
            let key = keyIndexes.count == 1 ? [values[keyIndexes[0]]] : keyIndexes.map { values[$0] }
            if let earlier = positions[key] {
                rows[earlier] = values
                superseded += 1
            } else {
                positions[key] = rows.count
                rows.append(values)
            }
        }
    }

    /// What the write did, from the rows it inserted and the rows it changed.
    package func result(inserted: Int, changed: Int) -> SinkWriteResult {
        SinkWriteResult(added: inserted, updated: changed + superseded, unchanged: rows.count - inserted - changed)
    }
}

/// `"name"`, with quotes inside doubled: a table or column name as SQL reads it.
package func quotedIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// A table name, optionally schema-qualified (`ingest.properties`), quoted part by part.
package func quotedTableName(_ name: String) -> String {
    name.split(separator: ".", maxSplits: 1).map { quotedIdentifier(String($0)) }.joined(separator: ".")
}
