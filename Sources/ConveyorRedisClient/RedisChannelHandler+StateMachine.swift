import DequeModule
import NIOCore

/// The replies a batch (pipeline) collects, one per command, in order.
public typealias RedisPipelineResults = [Result<RESPValue, RedisServerError>]

/// What the connection handler does, without the I/O: the queue of commands waiting for their
/// replies, matching each reply to the oldest one (Redis answers in order), command deadlines,
/// and closing. Every method returns what the handler must then do.
struct RedisChannelStateMachine {
    enum Pending {
        /// One command; `name` is its first argument, for the timeout message.
        case single(EventLoopPromise<RESPValue>, deadline: NIODeadline, name: RESPArgument?)
        /// A pipeline of `count` commands completed by one promise.
        case batch(EventLoopPromise<RedisPipelineResults>, count: Int, deadline: NIODeadline, name: RESPArgument?)
        /// Commands that timed out (or whose pipeline did): their replies are read and dropped.
        case abandoned(remaining: Int)

        var deadline: NIODeadline? {
            switch self {
            case .single(_, let d, _), .batch(_, _, let d, _): d
            case .abandoned: nil
            }
        }
    }

    enum State {
        case active
        case closed(RedisClientError)
    }

    private(set) var state: State = .active
    private var pending: Deque<Pending> = []
    /// The replies received so far for the batch at the head of `pending`.
    private var headResults: RedisPipelineResults = []

    enum EnqueueAction {
        case write
        case fail(RedisClientError)
    }

    mutating func enqueue(_ entry: Pending) -> EnqueueAction {
        switch state {
        case .closed(let error):
            return .fail(error)
        case .active:
            pending.append(entry)
            return .write
        }
    }

    enum ReceiveAction {
        case none
        case succeed(EventLoopPromise<RESPValue>, RESPValue)
        case failWithServerError(EventLoopPromise<RESPValue>, RedisServerError)
        case completeBatch(EventLoopPromise<RedisPipelineResults>, RedisPipelineResults)
        /// A reply with no command waiting for it: the stream is out of step; close.
        case unsolicited
        /// An out-of-band RESP3 push (a pub/sub message): not a reply to any command.
        case push(RESPValue)
    }

    mutating func receive(_ value: RESPValue) -> ReceiveAction {
        guard case .active = state else { return .none }
        if case .push(let elements) = value {
            // RESP3 answers SUBSCRIBE (and its kin) with a push: that one is the reply.
            if case .single(let promise, _, let name)? = pending.first,
               let kind = elements.first?.string?.lowercased(), kind.hasSuffix("subscribe"),
               name?.text.lowercased() == kind {
                pending.removeFirst()
                return .succeed(promise, value)
            }
            return .push(value)  // out-of-band: a pub/sub message, not a reply
        }
        guard let head = pending.first else { return .unsolicited }
        switch head {
        case .single(let promise, _, _):
            pending.removeFirst()
            if case .error(let message) = value {
                return .failWithServerError(promise, RedisServerError(message))
            }
            return .succeed(promise, value)
        case .batch(let promise, let count, _, _):
            if headResults.isEmpty { headResults.reserveCapacity(count) }
            if case .error(let message) = value {
                headResults.append(.failure(RedisServerError(message)))
            } else {
                headResults.append(.success(value))
            }
            guard headResults.count == count else { return .none }
            pending.removeFirst()
            let results = headResults
            headResults = []
            return .completeBatch(promise, results)
        case .abandoned(let remaining):
            if remaining == 1 {
                pending.removeFirst()
            } else {
                pending[pending.startIndex] = .abandoned(remaining: remaining - 1)
            }
            return .none
        }
    }

    enum Expired {
        case single(EventLoopPromise<RESPValue>, RedisClientError)
        case batch(EventLoopPromise<RedisPipelineResults>, RedisClientError)
    }

    /// Fails the commands whose deadline has passed (their replies will be dropped) and returns
    /// them with the next deadline to wake up for.
    mutating func expire(now: NIODeadline, endpoint: String) -> (expired: [Expired], next: NIODeadline?) {
        var expired: [Expired] = []
        var next: NIODeadline?
        for i in pending.indices {
            guard let deadline = pending[i].deadline else { continue }
            guard deadline <= now else {
                next = next.map { min($0, deadline) } ?? deadline
                continue
            }
            switch pending[i] {
            case .single(let promise, _, let name):
                expired.append(.single(promise, .timeout(command: name?.text.uppercased() ?? "?", endpoint: endpoint)))
                pending[i] = .abandoned(remaining: 1)
            case .batch(let promise, let count, _, let name):
                let error = RedisClientError.timeout(
                    command: "pipeline of \(count) commands starting with \(name?.text.uppercased() ?? "?")",
                    endpoint: endpoint
                )
                expired.append(.batch(promise, error))
                let received = i == pending.startIndex ? headResults.count : 0
                if i == pending.startIndex { headResults = [] }
                pending[i] = .abandoned(remaining: count - received)
            case .abandoned:
                break
            }
        }
        return (expired, next)
    }

    /// Closes: every waiting command is returned, to fail with the reason; every later one fails
    /// with `laterError` (connection closed).
    mutating func close(laterError: RedisClientError) -> [Pending] {
        guard case .active = state else { return [] }
        state = .closed(laterError)
        let failed = Array(pending)
        pending = []
        headResults = []
        return failed
    }
}
