import Conveyor
import Foundation
import PostgresNIO

/// Counter changes of the batches and queues touched by one transaction: a queue's as one
/// delta row per transaction (no hot row), a batch's as one `UPDATE` of its row, taken in id
/// order (two transactions never wait for each other in a cycle) and as late as possible.
struct PGCounters {
    private var batchDeltas: [String: [Int]] = [:]
    private var queueDeltas: [String: [Int]] = [:]

    mutating func move(_ batch: String?, queue: String?, from old: JobState?, to new: JobState) {
        guard old != new else { return }
        if let queue { Self.add(&queueDeltas, queue, from: old, to: new) }
        if let batch { Self.add(&batchDeltas, batch, from: old, to: new) }
    }

    mutating func deleted(queue: String?, state: JobState) {
        if let queue { Self.add(&queueDeltas, queue, from: state, to: nil) }
    }

    private static func add(_ deltas: inout [String: [Int]], _ key: String, from old: JobState?, to new: JobState?) {
        var row = deltas[key] ?? Array(repeating: 0, count: PostgresSchema.stateColumns.count)
        if let old { row[old.rawValue] -= 1 }
        if let new { row[new.rawValue] += 1 }
        deltas[key] = row
    }

    private static let batchUpdate: String = {
        let columns = PostgresSchema.stateColumns
        let total = PostgresSchema.total("batches")
        let parameters = (0..<columns.count).map { "$\($0 + 3)::int8" }
        let newTotal = "(\(total) + " + parameters.joined(separator: " + ") + ")"
        let finishedStates = [JobState.succeeded, .dead, .cancelled].map(\.rawValue)
        let newFinished = "(" + finishedStates.map { "batches.\(columns[$0]) + \(parameters[$0])" }.joined(separator: " + ") + ")"
        return """
            UPDATE batches SET \(columns.enumerated().map { "\($1) = \($1) + \(parameters[$0])" }.joined(separator: ", ")),
                finished_at = CASE WHEN \(newTotal) > 0 AND \(newFinished) = \(newTotal) THEN coalesce(finished_at, $1) ELSE NULL END
            WHERE id = $2
            RETURNING finished_at, c_succeeded, \(total)
            """
    }()

    /// Writes the queues' delta rows (one statement for every queue touched).
    mutating func applyQueues(_ tx: PGTransaction) async throws {
        let pending = queueDeltas.filter { $0.value.contains { $0 != 0 } }
        queueDeltas = [:]
        guard !pending.isEmpty else { return }
        let columns = PostgresSchema.stateColumns
        var bindings = PostgresBindings()
        bindings.append(Array(pending.keys))
        for (index, _) in columns.enumerated() { bindings.append(pending.values.map { Int64($0[index]) }) }
        let unnest = (0...columns.count).map { "$\($0 + 1)" + ($0 == 0 ? "::text[]" : "::int8[]") }.joined(separator: ", ")
        try await tx.execute(PostgresQuery(
            unsafeSQL: "INSERT INTO queue_deltas (queue, \(columns.joined(separator: ", "))) SELECT * FROM unnest(\(unnest))", binds: bindings))
    }

    /// Applies the changes and returns each batch whose last member just finished, with
    /// whether all its members succeeded.
    mutating func apply(_ tx: PGTransaction) async throws -> [(String, Bool)] {
        try await applyQueues(tx)
        let pending = batchDeltas
        batchDeltas = [:]
        var finished: [(String, Bool)] = []
        for batch in pending.keys.sorted() {
            let row = pending[batch]!
            guard row.contains(where: { $0 != 0 }) else { continue }
            var bindings = PostgresBindings()
            bindings.append(tx.now)
            bindings.append(batch)
            for delta in row { bindings.append(Int64(delta)) }
            let result = try await tx.rows(PostgresQuery(unsafeSQL: Self.batchUpdate, binds: bindings))
            if let first = result.first, let finishedAt = try first[0].decode(Int64?.self), finishedAt == tx.now {
                finished.append((batch, try first[1].decode(Int64.self) == first[2].decode(Int64.self)))
            }
        }
        return finished
    }
}

/// Everything that follows from state changes, settled inside the same transaction, as in
/// the SQLite store: counters, batches that finish, the callbacks they release or fail, and
/// chain steps that start or are cancelled; it iterates until nothing moves.
struct PGCascade {
    var counters = PGCounters()
    private var settledParents: [(JobID, JobState)] = []
    private(set) var madeWork = false

    mutating func move(_ batch: String?, queue: String?, from old: JobState?, to new: JobState) {
        counters.move(batch, queue: queue, from: old, to: new)
    }

    mutating func deleted(queue: String?, state: JobState) {
        counters.deleted(queue: queue, state: state)
    }

    mutating func finished(_ job: JobID, state: JobState = .cancelled, hasChildren: Bool = true) {
        if hasChildren, state.isFinal { settledParents.append((job, state)) }
    }

    mutating func run(_ tx: PGTransaction) async throws {
        while true {
            if !settledParents.isEmpty {
                let parents = settledParents
                settledParents = []
                for (parent, state) in parents { try await settleChildren(of: parent, state: state, tx) }
                continue
            }
            let finishedBatches = try await counters.apply(tx)
            if finishedBatches.isEmpty { return }
            for (batch, allSucceeded) in finishedBatches { try await release(waitersOf: batch, allSucceeded: allSucceeded, tx) }
        }
    }

    private mutating func settleChildren(of parent: JobID, state: JobState, _ tx: PGTransaction) async throws {
        if state == .succeeded {
            for row in try await tx.rows("UPDATE jobs SET state = 1, run_at = \(tx.now) WHERE parent_id = \(parent.rawValue) AND state = 7 RETURNING batch_id, queue") {
                madeWork = true
                counters.move(try row[0].decode(String?.self), queue: try row[1].decode(String.self), from: .waiting, to: .ready)
            }
            return
        }
        let reason = try await tx.rows("SELECT error_message FROM jobs WHERE id = \(parent.rawValue)").first.flatMap { try $0[0].decode(String?.self) }
        let message = JobFailure.chainStopped(parent: parent, state: state, reason: reason).message
        for row in try await tx.rows("""
            UPDATE jobs SET state = 6, finished_at = \(tx.now), error_kind = 1, error_message = \(message)
            WHERE parent_id = \(parent.rawValue) AND state = 7
            RETURNING id, batch_id, has_children, queue
            """) {
            counters.move(try row[1].decode(String?.self), queue: try row[3].decode(String.self), from: .waiting, to: .cancelled)
            finished(JobID(try row[0].decode(Int64.self)), state: .cancelled, hasChildren: try row[2].decode(Bool.self))
        }
    }

    /// A job is running again (retry, recover): what its stop cancelled waits for it again,
    /// down the whole chain, and so do strict chord callbacks its batch had failed.
    mutating func restoreDependents(of job: JobID, batch: String?, _ tx: PGTransaction) async throws {
        var parents = [job]
        if let batch {
            for row in try await tx.rows("""
                UPDATE jobs SET state = 7, finished_at = NULL, error_kind = NULL, error_message = NULL
                WHERE wait_batch = \(batch) AND wait_kind = 3 AND state = 5 AND attempt = 0
                RETURNING id, batch_id, queue
                """) {
                counters.move(try row[1].decode(String?.self), queue: try row[2].decode(String.self), from: .dead, to: .waiting)
                parents.append(JobID(try row[0].decode(Int64.self)))
            }
        }
        let prefix = JobFailure.chainStoppedPrefix + "%"
        while let parent = parents.popLast() {
            for row in try await tx.rows("""
                UPDATE jobs SET state = 7, finished_at = NULL, error_kind = NULL, error_message = NULL
                WHERE parent_id = \(parent.rawValue) AND state = 6 AND error_message LIKE \(prefix)
                RETURNING id, batch_id, queue
                """) {
                counters.move(try row[1].decode(String?.self), queue: try row[2].decode(String.self), from: .cancelled, to: .waiting)
                parents.append(JobID(try row[0].decode(Int64.self)))
            }
        }
    }

    /// Releases (or fails) what waits for `batch`, which just finished, or had already
    /// finished when a job started waiting for it.
    mutating func release(waitersOf batch: String, allSucceeded: Bool, _ tx: PGTransaction) async throws {
        for row in try await tx.rows("""
            UPDATE jobs SET state = 1, run_at = \(tx.now)
            WHERE state = 7 AND wait_batch = \(batch) AND (wait_kind = 2 OR \(allSucceeded))
            RETURNING batch_id, queue
            """) {
            madeWork = true
            counters.move(try row[0].decode(String?.self), queue: try row[1].decode(String.self), from: .waiting, to: .ready)
        }
        guard !allSucceeded else { return }
        let counts = try await tx.rows(PostgresQuery(
            unsafeSQL: "SELECT c_succeeded, c_dead, c_cancelled, \(PostgresSchema.total("batches")) FROM batches WHERE id = $1",
            binds: { var b = PostgresBindings(); b.append(batch); return b }()))
        let values = try counts.first.map { row in try (0..<4).map { Int(try row[$0].decode(Int64.self)) } } ?? [0, 0, 0, 0]
        let message = JobFailure.chordFailed(batch: batch, total: values[3], succeeded: values[0], dead: values[1], cancelled: values[2]).message
        for row in try await tx.rows("""
            UPDATE jobs SET state = 5, finished_at = \(tx.now), error_kind = 1, error_message = \(message)
            WHERE state = 7 AND wait_batch = \(batch) AND wait_kind = 3
            RETURNING id, batch_id, has_children, queue
            """) {
            counters.move(try row[1].decode(String?.self), queue: try row[3].decode(String.self), from: .waiting, to: .dead)
            finished(JobID(try row[0].decode(Int64.self)), state: .dead, hasChildren: try row[2].decode(Bool.self))
        }
    }
}
