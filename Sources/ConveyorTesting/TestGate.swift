import Conveyor
import Synchronization

/// Lets a test hold jobs inside their handlers and see which ones started, in order.
public final class TestGate: Sendable {
    private let opened = AsyncSignal()
    private let isOpen = Mutex(false)
    private let started = Mutex<[String]>([])
    public let startSignal = AsyncSignal()

    public init() {}

    /// Records `label` as started, then waits until the gate opens.
    public func pass(_ label: String) async {
        started.withLock { $0.append(label) }
        startSignal.notify()
        while !isOpen.withLock({ $0 }) {
            let generation = opened.generation
            if isOpen.withLock({ $0 }) { break }
            await opened.wait(after: generation)
            if Task.isCancelled { return }
        }
    }

    public func open() {
        isOpen.withLock { $0 = true }
        opened.notify()
    }

    public var startedLabels: [String] { started.withLock { $0 } }

    /// Waits until at least `count` handlers have started.
    public func waitForStarts(_ count: Int) async {
        while true {
            let generation = startSignal.generation
            if startedLabels.count >= count { return }
            await startSignal.wait(after: generation)
        }
    }
}
