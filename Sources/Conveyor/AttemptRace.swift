import Foundation
import Synchronization

/// Runs one attempt against its deadline and returns at the deadline (or on cancellation)
/// even if the handler ignores cancellation: the attempt is then recorded as failed and the
/// handler, cancelled, is left to notice in its own time.
enum AttemptRace {
    /// Resumes its continuation once, with whichever result comes first.
    private final class Finish: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Result<Data, any Error>, Never>?
            var handler: Task<Void, Never>?
        }
        private let state: Mutex<State>

        init(_ continuation: CheckedContinuation<Result<Data, any Error>, Never>) {
            state = Mutex(State(continuation: continuation))
        }

        func resume(_ result: Result<Data, any Error>) {
            let (continuation, handler) = state.withLock { state in
                defer { state.continuation = nil }
                return (state.continuation, state.handler)
            }
            guard let continuation else { return }
            handler?.cancel()
            continuation.resume(returning: result)
        }

        /// The handler's task, once it has returned from its synchronous start; cancelled at
        /// once if the attempt already ended (timed out or cancelled) meanwhile.
        func setHandler(_ task: Task<Void, Never>) {
            let ended = state.withLock { state in
                state.handler = task
                return state.continuation == nil
            }
            if ended { task.cancel() }
        }
    }

    static func run(
        timeout: Duration, timedOut: any Error, deadlines: AttemptDeadlines,
        _ body: @escaping @Sendable () async throws -> Data
    ) async -> Result<Data, any Error> {
        let box = Mutex<Finish?>(nil)
        let deadline = ContinuousClock.now + timeout
        var entry: UInt64 = 0
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let finish = Finish(continuation)
                box.withLock { $0 = finish }
                entry = deadlines.add(deadline) { finish.resume(.failure(timedOut)) }
                // The handler starts here, on this thread, and runs until it first suspends: no
                // hop to another thread before a job's first line (a handler that never
                // suspends finishes before this returns). It is still its own task, so an
                // attempt can end at its deadline while a handler that ignores cancellation
                // runs on.
                let handler = Task.immediate {
                    do { finish.resume(.success(try await body())) } catch { finish.resume(.failure(error)) }
                }
                finish.setHandler(handler)
                // Cancelled before the tasks existed: finish now.
                if Task.isCancelled { finish.resume(.failure(CancellationError())) }
            }
        } onCancel: {
            box.withLock { $0 }?.resume(.failure(CancellationError()))
        }
        deadlines.remove(entry)
        return result
    }
}

/// One timer for all of a worker's running attempts, instead of a sleeping task per attempt:
/// ``run()`` sleeps until the earliest deadline, expires what is due, and sleeps again. Adding
/// an attempt is a dictionary insert under a lock; the timer is woken only when the new
/// deadline comes before the one it sleeps until (rare: timeouts are mostly alike).
final class AttemptDeadlines: Sendable {
    private struct Entry {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }
    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        /// What ``run()`` sleeps until; nil while it waits for the first entry.
        var sleepingUntil: ContinuousClock.Instant?
    }
    private let state = Mutex(State())
    private let changed = AsyncSignal()

    init() {}

    func add(_ deadline: ContinuousClock.Instant, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, wake) = state.withLock { state -> (UInt64, Bool) in
            state.nextID &+= 1
            state.entries[state.nextID] = Entry(deadline: deadline, expire: expire)
            return (state.nextID, state.sleepingUntil.map { deadline < $0 } ?? true)
        }
        if wake { changed.notify() }
        return id
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Expires attempts at their deadlines until cancelled.
    func run() async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let generation = changed.generation
            let now = clock.now
            let (expired, earliest) = state.withLock { state -> ([Entry], ContinuousClock.Instant?) in
                var expired: [Entry] = []
                var earliest: ContinuousClock.Instant?
                for (id, entry) in state.entries {
                    if entry.deadline <= now {
                        expired.append(entry)
                        state.entries[id] = nil
                    } else {
                        earliest = min(earliest ?? entry.deadline, entry.deadline)
                    }
                }
                state.sleepingUntil = earliest
                return (expired, earliest)
            }
            for entry in expired { entry.expire() }
            if let earliest {
                await changed.wait(after: generation, timeout: earliest - clock.now)
            } else {
                await changed.wait(after: generation)
            }
        }
    }
}
