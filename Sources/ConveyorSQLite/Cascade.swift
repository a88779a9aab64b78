import Conveyor
import Foundation
import GRDB

/// Everything that follows from state changes, settled inside the same transaction:
/// batch counters, batches that finish, the callbacks they release or fail, and chain
/// steps that start or are cancelled. It iterates until nothing moves, so long chains
/// and nested workflows settle without recursion limits.
struct Cascade {
    var counters = BatchCounters()
    /// Jobs with waiting children that just reached a final state.
    private var settledParents: [(JobID, JobState)] = []
    /// Whether something became ready (work to announce).
    private(set) var madeWork = false

    mutating func move(_ batch: String?, queue: String?, from old: JobState?, to new: JobState) {
        counters.move(batch, queue: queue, from: old, to: new)
    }

    /// Notes that a job of `queue` in `state` was deleted (for the queue's counts).
    mutating func deleted(queue: String?, state: JobState) {
        counters.deleted(queue: queue, state: state)
    }

    /// Notes that `job` reached `state`; `hasChildren` avoids a lookup for the common job.
    mutating func finished(_ job: JobID, state: JobState = .cancelled, hasChildren: Bool = true) {
        if hasChildren, state.isFinal { settledParents.append((job, state)) }
    }

    mutating func run(_ db: Database, now: Int64) throws {
        while true {
            if !settledParents.isEmpty {
                let parents = settledParents
                settledParents = []
                for (parent, state) in parents { try settleChildren(of: parent, state: state, db, now: now) }
                continue
            }
            var finishedBatches: [(String, Bool)] = []
            try counters.apply(db, now: now) { finishedBatches.append(($0, $1)) }
            if finishedBatches.isEmpty { return }
            for (batch, allSucceeded) in finishedBatches { try release(waitersOf: batch, allSucceeded: allSucceeded, db, now: now) }
        }
    }

    private mutating func settleChildren(of parent: JobID, state: JobState, _ db: Database, now: Int64) throws {
        if state == .succeeded {
            let start = try db.cachedStatement(sql: "UPDATE jobs SET state = 1, run_at = ? WHERE parent_id = ? AND state = 7 RETURNING batch_id, queue")
            start.bind(1, now)
            start.bind(2, parent.rawValue)
            try start.stepRows(db) { row in
                madeWork = true
                counters.move(columnText(row, 0), queue: columnText(row, 1), from: .waiting, to: .ready)
            }
            return
        }
        let reason = try String.fetchOne(db, sql: "SELECT error_message FROM jobs WHERE id = ?", arguments: [parent.rawValue])
        let cancel = try db.cachedStatement(sql: """
            UPDATE jobs SET state = 6, finished_at = ?1, error_kind = 1, error_message = ?2
            WHERE parent_id = ?3 AND state = 7
            RETURNING id, batch_id, has_children, queue
            """)
        cancel.bind(1, now)
        cancel.bind(2, JobFailure.chainStopped(parent: parent, state: state, reason: reason).message)
        cancel.bind(3, parent.rawValue)
        try cancel.stepRows(db) { row in
            counters.move(columnText(row, 1), queue: columnText(row, 3), from: .waiting, to: .cancelled)
            finished(JobID(columnInt64(row, 0)), state: .cancelled, hasChildren: columnInt64(row, 2) != 0)
        }
    }

    /// A job is running again (retry, recover): what its stop cancelled waits for it again,
    /// down the whole chain, and so do strict chord callbacks its batch had failed.
    mutating func restoreDependents(of job: JobID, batch: String?, _ db: Database) throws {
        var parents = [job]
        if let batch {
            let callbacks = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 7, finished_at = NULL, error_kind = NULL, error_message = NULL
                WHERE wait_batch = ? AND wait_kind = 3 AND state = 5 AND attempt = 0
                RETURNING id, batch_id, queue
                """)
            callbacks.bind(1, batch)
            try callbacks.stepRows(db) { row in
                counters.move(columnText(row, 1), queue: columnText(row, 2), from: .dead, to: .waiting)
                parents.append(JobID(columnInt64(row, 0)))
            }
        }
        let restore = try db.cachedStatement(sql: """
            UPDATE jobs SET state = 7, finished_at = NULL, error_kind = NULL, error_message = NULL
            WHERE parent_id = ? AND state = 6 AND error_message LIKE '\(JobFailure.chainStoppedPrefix)%'
            RETURNING id, batch_id, queue
            """)
        while let parent = parents.popLast() {
            restore.bind(1, parent.rawValue)
            try restore.stepRows(db) { row in
                counters.move(columnText(row, 1), queue: columnText(row, 2), from: .cancelled, to: .waiting)
                parents.append(JobID(columnInt64(row, 0)))
            }
        }
    }

    /// Releases (or fails) what waits for `batch`, which just finished, or had already
    /// finished when a job started waiting for it.
    mutating func release(waitersOf batch: String, allSucceeded: Bool, _ db: Database, now: Int64) throws {
        let release = try db.cachedStatement(sql: """
            UPDATE jobs SET state = 1, run_at = ?1
            WHERE state = 7 AND wait_batch = ?2 AND (wait_kind = 2 OR ?3)
            RETURNING batch_id, queue
            """)
        release.bind(1, now)
        release.bind(2, batch)
        release.bind(3, allSucceeded ? 1 : 0)
        try release.stepRows(db) { row in
            madeWork = true
            counters.move(columnText(row, 0), queue: columnText(row, 1), from: .waiting, to: .ready)
        }
        guard !allSucceeded else { return }
        let counts = try Row.fetchOne(db, sql: "SELECT c_succeeded, c_dead, c_cancelled, \(SQLiteSchema.total("batches")) FROM batches WHERE id = ?", arguments: [batch])
        let total: Int = counts?[3] ?? 0
        let succeeded: Int = counts?[0] ?? 0
        let message = JobFailure.chordFailed(batch: batch, total: total, succeeded: succeeded, dead: counts?[1] ?? 0, cancelled: counts?[2] ?? 0).message
        let fail = try db.cachedStatement(sql: """
            UPDATE jobs SET state = 5, finished_at = ?1, error_kind = 1, error_message = ?2
            WHERE state = 7 AND wait_batch = ?3 AND wait_kind = 3
            RETURNING id, batch_id, has_children, queue
            """)
        fail.bind(1, now)
        fail.bind(2, message)
        fail.bind(3, batch)
        try fail.stepRows(db) { row in
            counters.move(columnText(row, 1), queue: columnText(row, 3), from: .waiting, to: .dead)
            finished(JobID(columnInt64(row, 0)), state: .dead, hasChildren: columnInt64(row, 2) != 0)
        }
    }
}
