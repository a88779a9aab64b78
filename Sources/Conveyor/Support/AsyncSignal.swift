import Synchronization

/// A broadcast wake-up with a generation counter.
///
/// Read ``generation`` before checking for work and pass it to ``wait(after:timeout:)``:
/// a notification that arrives in between is not missed.
public final class AsyncSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())
    private let onNotify: (@Sendable () -> Void)?

    /// `onNotify` runs on every notification, after the waiters are woken: a store whose
    /// waits block elsewhere (Redis blocks on the server) uses it to interrupt them.
    public init(onNotify: (@Sendable () -> Void)? = nil) {
        self.onNotify = onNotify
    }

    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every waiter.
    public func notify() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            guard !state.waiters.isEmpty else { return [] }
            defer { state.waiters.removeAll(keepingCapacity: true) }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
        onNotify?()
    }

    /// Returns once the generation differs from `generation`, after `timeout`, or on cancellation.
    public func wait(after generation: UInt64, timeout: Duration) async {
        if self.generation != generation { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(after: generation) }
            group.addTask { try? await Task.sleep(for: timeout, tolerance: .milliseconds(1)) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once the generation differs from `generation`, or on cancellation.
    public func wait(after generation: UInt64) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
