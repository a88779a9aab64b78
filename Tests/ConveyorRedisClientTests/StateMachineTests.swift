import NIOCore
import NIOEmbedded
import Testing

@testable import ConveyorRedisClient

@Suite("Channel handler state machine")
struct StateMachineTests {
    @Test("replies go to commands in order; a timed-out pipeline's late replies are dropped")
    func ordering() throws {
        let loop = EmbeddedEventLoop()
        var machine = RedisChannelStateMachine()
        let now = NIODeadline.now()
        let first = loop.makePromise(of: RESPValue.self)
        let batch = loop.makePromise(of: RedisPipelineResults.self)
        let last = loop.makePromise(of: RESPValue.self)
        guard case .write = machine.enqueue(.single(first, deadline: now + .seconds(10), name: "GET")),
            case .write = machine.enqueue(.batch(batch, count: 3, deadline: now + .seconds(1), name: "SET")),
            case .write = machine.enqueue(.single(last, deadline: now + .seconds(10), name: "PING"))
        else { Issue.record("enqueue refused"); return }

        guard case .succeed(_, .integer(1)) = machine.receive(.integer(1)) else { Issue.record("first"); return }
        guard case .none = machine.receive(.simpleString("OK")) else { Issue.record("batch 1"); return }
        guard case .push = machine.receive(.push([.simpleString("invalidate")])) else { Issue.record("push"); return }

        let (expired, next) = machine.expire(now: now + .seconds(2), endpoint: "h:1")
        #expect(expired.count == 1)
        #expect(next == now + .seconds(10))
        guard case .batch(_, let error) = expired.first else { Issue.record("not the batch"); return }
        #expect(error.kind == .timeout && error.message.contains("pipeline of 3 commands starting with SET"))

        // The two replies still owed to the batch are dropped, then PING gets its own.
        guard case .none = machine.receive(.error("ERR late")) else { Issue.record("late 1"); return }
        guard case .none = machine.receive(.simpleString("OK")) else { Issue.record("late 2"); return }
        guard case .succeed(_, .simpleString("PONG")) = machine.receive(.simpleString("PONG")) else {
            Issue.record("PING did not get PONG")
            return
        }
        guard case .unsolicited = machine.receive(.simpleString("EXTRA")) else { Issue.record("extra"); return }

        let other = loop.makePromise(of: RESPValue.self)
        _ = machine.enqueue(.single(other, deadline: now + .seconds(10), name: nil))
        #expect(machine.close(laterError: .connectionClosed("h:1")).count == 1)
        let refused = loop.makePromise(of: RESPValue.self)
        guard case .fail(let closed) = machine.enqueue(.single(refused, deadline: now, name: nil)) else {
            Issue.record("enqueue after close")
            return
        }
        #expect(closed.kind == .connectionClosed)
        for p in [first, last, other, refused] { p.fail(closed) }
        batch.fail(closed)
    }
}
