import Conveyor
import GRDB

/// Counter changes of the batches touched by one transaction, applied once per batch.
///
/// A claim of 500 members of one batch moves its counters with one `UPDATE`, not 500:
/// that keeps a batch's cost per completion O(1) and close to that of a plain job.
/// ``Cascade`` reacts to batches that finish.
struct BatchCounters {
    private var deltas: [String: [Int]] = [:]

    var isEmpty: Bool { deltas.isEmpty }

    /// Records that a member of `batch` moved from `old` (nil: newly inserted) to `new`.
    mutating func move(_ batch: String?, from old: JobState?, to new: JobState) {
        guard let batch, old != new else { return }
        var row = deltas[batch] ?? Array(repeating: 0, count: SQLiteSchema.stateColumns.count)
        if let old { row[old.rawValue] -= 1 }
        row[new.rawValue] += 1
        deltas[batch] = row
    }

    /// Applies the changes and calls `finished(batch, allSucceeded)` for each batch whose
    /// last member just finished.
    mutating func apply(_ db: Database, now: Int64, finished: (String, Bool) -> Void) throws {
        let pending = deltas
        deltas = [:]
        // One statement for every mix of changes: the deltas are bound, so the statement cache
        // holds a single entry.
        let columns = SQLiteSchema.stateColumns
        let total = SQLiteSchema.total("batches")
        let deltaParameters = (0..<columns.count).map { "?\($0 + 3)" }
        let newTotal = "(\(total) + " + deltaParameters.joined(separator: " + ") + ")"
        let finishedStates = [JobState.succeeded, .dead, .cancelled].map(\.rawValue)
        let newFinished = "(" + finishedStates.map { "batches.\(columns[$0]) + \(deltaParameters[$0])" }.joined(separator: " + ") + ")"
        let statement = try db.cachedStatement(sql: """
            UPDATE batches SET \(columns.enumerated().map { "\($1) = \($1) + \(deltaParameters[$0])" }.joined(separator: ", ")),
                finished_at = CASE WHEN \(newTotal) > 0 AND \(newFinished) = \(newTotal) THEN coalesce(finished_at, ?1) ELSE NULL END
            WHERE id = ?2
            RETURNING finished_at, c_succeeded, \(total)
            """)
        for (batch, row) in pending where row.contains(where: { $0 != 0 }) {
            for (index, delta) in row.enumerated() { statement.bind(Int32(index + 3), delta) }
            statement.bind(1, now)
            statement.bind(2, batch)
            try statement.stepRows(db) { result in
                // finished_at equal to this transaction's time: it finished just now.
                if !columnIsNull(result, 0) && columnInt64(result, 0) == now {
                    finished(batch, columnInt64(result, 1) == columnInt64(result, 2))
                }
            }
        }
    }
}
