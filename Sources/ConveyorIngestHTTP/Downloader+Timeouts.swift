import Synchronization

/// When the body last moved, shared by a transfer and its watchdog. One relaxed store per
/// chunk: cheaper than racing a timer against every read.
final class Progress: Sendable {
    private let start = ContinuousClock.now
    private let lastNanoseconds: Atomic<Int64>

    /// `grace` pushes the first read deadline on: the connection may take that long to open.
    init(grace: Duration) {
        lastNanoseconds = Atomic(grace.nanoseconds)
    }

    func touch() {
        lastNanoseconds.store((ContinuousClock.now - start).nanoseconds, ordering: .relaxed)
    }

    var last: ContinuousClock.Instant {
        start + .nanoseconds(lastNanoseconds.load(ordering: .relaxed))
    }
}

extension Downloader {
    /// Sleeps until the read timeout after the last progress or the total deadline, whichever
    /// is first, and throws the one that expired; a transfer that moved meanwhile pushes the
    /// read timeout on. Cancelled when the transfer ends.
    static func watch(_ progress: Progress, readTimeout: Duration, deadline: ContinuousClock.Instant?) async throws {
        while true {
            // At most one read timeout at a time: the grace before the head can end early.
            var wake = min(progress.last, .now) + readTimeout
            if let deadline, deadline < wake { wake = deadline }
            try await Task.sleep(until: wake, clock: .continuous)
            let now = ContinuousClock.now
            if let deadline, now >= deadline { throw AttemptFailure.timedOut(.total) }
            if now - progress.last >= readTimeout { throw AttemptFailure.timedOut(.read) }
        }
    }
}
