import Foundation
import Synchronization

/// Runs one attempt against its deadline and returns at the deadline (or on cancellation)
/// even if the handler ignores cancellation: the attempt is then recorded as failed and the
/// handler, cancelled, is left to notice in its own time.
enum AttemptRace {
    /// Resumes its continuation once, with whichever result comes first.
    private final class Finish: Sendable {
        private let continuation: Mutex<CheckedContinuation<Result<Data, any Error>, Never>?>
        let handler = Mutex<Task<Void, Never>?>(nil)
        let timer = Mutex<Task<Void, Never>?>(nil)

        init(_ continuation: CheckedContinuation<Result<Data, any Error>, Never>) {
            self.continuation = Mutex(continuation)
        }

        func resume(_ result: Result<Data, any Error>) {
            guard let continuation = continuation.withLock({ $0.take() }) else { return }
            handler.withLock { $0?.cancel() }
            timer.withLock { $0?.cancel() }
            continuation.resume(returning: result)
        }
    }

    static func run(
        timeout: Duration, timedOut: any Error,
        _ body: @escaping @Sendable () async throws -> Data
    ) async -> Result<Data, any Error> {
        let box = Mutex<Finish?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let finish = Finish(continuation)
                box.withLock { $0 = finish }
                finish.handler.withLock {
                    $0 = Task {
                        do { finish.resume(.success(try await body())) } catch { finish.resume(.failure(error)) }
                    }
                }
                finish.timer.withLock {
                    $0 = Task {
                        guard (try? await Task.sleep(for: timeout)) != nil else { return }
                        finish.resume(.failure(timedOut))
                    }
                }
                // Cancelled before the tasks existed: finish now.
                if Task.isCancelled { finish.resume(.failure(CancellationError())) }
            }
        } onCancel: {
            box.withLock { $0 }?.resume(.failure(CancellationError()))
        }
    }
}
