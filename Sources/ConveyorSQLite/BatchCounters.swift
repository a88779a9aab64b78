import Conveyor
import GRDB

/// Counter changes of the batches and queues touched by one transaction, applied once per
/// batch and once per queue.
///
/// A claim of 500 members of one batch moves its counters with one `UPDATE`, not 500:
/// that keeps a batch's cost per completion O(1) and close to that of a plain job. The
/// queues' counts by state are kept the same way, so `queueStats` reads a row per queue
/// instead of counting millions of jobs. ``Cascade`` reacts to batches that finish.
struct BatchCounters {
    private var deltas: [String: [Int]] = [:]
    private var queueDeltas: [String: [Int]] = [:]

    /// Records that a job of `queue` (and member of `batch`) moved from `old` (nil: newly
    /// inserted) to `new`.
    mutating func move(_ batch: String?, queue: String?, from old: JobState?, to new: JobState) {
        guard old != new else { return }
        if let queue { Self.add(&queueDeltas, queue, from: old, to: new) }
        if let batch { Self.add(&deltas, batch, from: old, to: new) }
    }

    /// Records that a job of `queue` in `state` was deleted. (Batches keep counting deleted
    /// finished members: their counters are history.)
    mutating func deleted(queue: String?, state: JobState) {
        if let queue { Self.add(&queueDeltas, queue, from: state, to: nil) }
    }

    /// Moves one job of `key` out of `old` (nil: newly inserted) and into `new` (nil: deleted).
    private static func add(_ deltas: inout [String: [Int]], _ key: String, from old: JobState?, to new: JobState?) {
        var row = deltas[key] ?? Array(repeating: 0, count: SQLiteSchema.stateColumns.count)
        if let old { row[old.rawValue] -= 1 }
        if let new { row[new.rawValue] += 1 }
        deltas[key] = row
    }

    /// Adds a queue's deltas to its row, creating the row for a queue first used now.
    private static let queueUpsert: String = {
        let columns = SQLiteSchema.stateColumns
        return """
            INSERT INTO queues (name, \(columns.joined(separator: ", "))) VALUES (?1, \((0..<columns.count).map { "?\($0 + 2)" }.joined(separator: ", ")))
            ON CONFLICT (name) DO UPDATE SET \(columns.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }()

    /// Adds a batch's deltas to its counters and sets `finished_at` when its last member just
    /// finished. One statement for every mix of changes: the deltas are bound, so it is built
    /// once and the statement cache holds a single entry.
    private static let batchUpdate: String = {
        let columns = SQLiteSchema.stateColumns
        let total = SQLiteSchema.total("batches")
        let deltaParameters = (0..<columns.count).map { "?\($0 + 3)" }
        let newTotal = "(\(total) + " + deltaParameters.joined(separator: " + ") + ")"
        let finishedStates = [JobState.succeeded, .dead, .cancelled].map(\.rawValue)
        let newFinished = "(" + finishedStates.map { "batches.\(columns[$0]) + \(deltaParameters[$0])" }.joined(separator: " + ") + ")"
        return """
            UPDATE batches SET \(columns.enumerated().map { "\($1) = \($1) + \(deltaParameters[$0])" }.joined(separator: ", ")),
                finished_at = CASE WHEN \(newTotal) > 0 AND \(newFinished) = \(newTotal) THEN coalesce(finished_at, ?1) ELSE NULL END
            WHERE id = ?2
            RETURNING finished_at, c_succeeded, \(total)
            """
    }()

    /// Applies the queues' changes (also when no batch moved).
    mutating func applyQueues(_ db: Database) throws {
        guard !queueDeltas.isEmpty else { return }
        let pending = queueDeltas
        queueDeltas = [:]
        let statement = try db.cachedStatement(sql: Self.queueUpsert)
        for (queue, row) in pending where row.contains(where: { $0 != 0 }) {
            statement.bind(1, queue)
            for (index, delta) in row.enumerated() { statement.bind(Int32(index + 2), delta) }
            try statement.stepDone(db)
        }
    }

    /// Applies the changes and calls `finished(batch, allSucceeded)` for each batch whose
    /// last member just finished.
    mutating func apply(_ db: Database, now: Int64, finished: (String, Bool) -> Void) throws {
        try applyQueues(db)
        let pending = deltas
        deltas = [:]
        guard !pending.isEmpty else { return }
        let statement = try db.cachedStatement(sql: Self.batchUpdate)
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
