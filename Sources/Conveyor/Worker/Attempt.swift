import Foundation
import Synchronization

/// How one attempt ended, as the worker sees it.
enum AttemptEnd: Sendable {
    /// The handler returned (or threw).
    case returned(Result<Data, any Error>)
    /// The attempt's timeout passed first. The handler was cancelled and may still be running.
    case timedOut
    /// The worker lost the job's lease (recovered by another worker). The handler was
    /// cancelled and may still be running; its outcome would be ignored.
    case leaseLost
    /// The worker was stopping for good (shutdown past its grace period) and the handler, cancelled,
    /// did not return within the abandon wait: its lease is left to expire.
    case abandoned
}

extension AttemptEnd {
    var isLeaseLost: Bool {
        if case .leaseLost = self { return true }
        return false
    }
}

/// One running attempt: its handler's task and how the attempt ended.
///
/// The attempt ends once, at the first of: the handler returning, the timeout, a lost lease,
/// or (after the worker's task is cancelled) the abandon wait. Ending it never waits for a
/// handler that ignores cancellation; ``handlerReturned`` tells the worker when such a
/// handler really returns, so it can keep the attempt's slot until then.
final class Attempt: Sendable {
    private struct State {
        var continuation: CheckedContinuation<AttemptEnd, Never>?
        /// How it ended, when that came before the runner started waiting.
        var early: AttemptEnd?
        var ended = false
        var handler: Task<Void, Never>?
        var returned = false
        var timers: [UInt64] = []
    }
    private let state = Mutex(State())
    /// Moves once the handler has returned.
    let handlerReturned = AsyncSignal()
    private let deadlines: AttemptDeadlines

    init(deadlines: AttemptDeadlines) {
        self.deadlines = deadlines
    }

    /// Whether the handler has returned.
    var hasReturned: Bool { state.withLock { $0.returned } }

    /// Ends the attempt (the first call wins) and cancels a handler still running.
    func end(_ end: AttemptEnd) {
        var handlerReturnedNow = false
        let (continuation, handler, first) = state.withLock { state -> (CheckedContinuation<AttemptEnd, Never>?, Task<Void, Never>?, Bool) in
            if case .returned = end, !state.returned {
                state.returned = true
                handlerReturnedNow = true
            }
            guard !state.ended else { return (nil, nil, false) }
            state.ended = true
            defer { state.continuation = nil }
            if state.continuation == nil { state.early = end }
            return (state.continuation, state.handler, true)
        }
        if handlerReturnedNow { handlerReturned.notify() }
        guard first else { return }
        if case .returned = end {} else { handler?.cancel() }
        continuation?.resume(returning: end)
    }

    /// The lease of this attempt's job was lost: stop the handler; its outcome no longer counts.
    func loseLease() { end(.leaseLost) }

    /// Runs the attempt against its deadline and returns as soon as it ends (see
    /// ``AttemptEnd``), even if the handler ignores cancellation.
    ///
    /// The handler starts on this thread (`Task.immediate`) and runs until it first suspends:
    /// no hop to another thread before a job's first line. It is still its own task, so an
    /// attempt can end at its deadline while a handler that ignores cancellation runs on.
    func run(timeout: Duration, abandonAfter: Duration, _ body: @escaping @Sendable () async throws -> Data) async -> AttemptEnd {
        let timer = deadlines.add(ContinuousClock.now + timeout) { [self] in end(.timedOut) }
        state.withLock { $0.timers.append(timer) }
        let handler = Task.immediate { [self] in
            do { end(.returned(.success(try await body()))) } catch { end(.returned(.failure(error))) }
        }
        let cancelNow = state.withLock { state -> Bool in
            state.handler = handler
            return state.ended && !state.returned
        }
        if cancelNow { handler.cancel() }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let early = state.withLock { state -> AttemptEnd? in
                    if let early = state.early { return early }
                    state.continuation = continuation
                    return nil
                }
                if let early { continuation.resume(returning: early) }
            }
        } onCancel: {
            cancelled(abandonAfter: abandonAfter)
        }
        for timer in state.withLock({ $0.timers }) { deadlines.remove(timer) }
        return result
    }

    /// The worker's task was cancelled (shutdown past its grace period): the handler is asked
    /// to stop and gets `abandonAfter` to return before the attempt is abandoned.
    private func cancelled(abandonAfter: Duration) {
        let handler = state.withLock { $0.handler }
        handler?.cancel()
        let timer = deadlines.add(ContinuousClock.now + abandonAfter) { [self] in end(.abandoned) }
        state.withLock { $0.timers.append(timer) }
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
