import ConveyorIngest
import Foundation
import Synchronization

/// A scraped property, about ten columns as the benchmarks' rows: seed 003's record.
struct Property: SinkRecord, Equatable {
    var id: String
    var price: Double
    var rooms: Int
    var city: String
    var street: String
    var area: Double
    var listed: Bool
    var agent: String
    var floor: Int
    var note: String?

    static let columns: [SinkColumn] = [
        .init("id", .text), .init("price", .real), .init("rooms", .integer), .init("city", .text),
        .init("street", .text), .init("area", .real), .init("listed", .bool), .init("agent", .text),
        .init("floor", .integer), .init("note", .text, nullable: true),
    ]
    static let key = ["id"]

    func values() -> [SinkValue] {
        [.text(id), .real(price), .integer(Int64(rooms)), .text(city), .text(street), .real(area), .bool(listed),
         .text(agent), .integer(Int64(floor)), note.map(SinkValue.text) ?? .null]
    }

    static func sample(_ number: Int, price: Double? = nil) -> Property {
        Property(id: "p\(number)", price: price ?? Double(100_000 + number), rooms: 1 + number % 5, city: "Lisbon",
                 street: "Rua \(number % 97)", area: 40 + Double(number % 60), listed: number % 2 == 0,
                 agent: "agent-\(number % 13)", floor: number % 9, note: number % 3 == 0 ? nil : "n\(number)")
    }
}

/// The SQL both databases accept for a properties table that refuses a negative price: the
/// bad record of the split tests.
func propertiesTableSQL(_ name: String, real: String = "REAL", integer: String = "INTEGER", bool: String = "INTEGER") -> String {
    """
    CREATE TABLE \(name) (id TEXT PRIMARY KEY, price \(real) NOT NULL CHECK (price >= 0), rooms \(integer) NOT NULL,
        city TEXT NOT NULL, street TEXT NOT NULL, area \(real) NOT NULL, listed \(bool) NOT NULL, agent TEXT NOT NULL,
        floor \(integer) NOT NULL, note TEXT)
    """
}

struct TransientFailure: Error {}
struct DataFailure: Error {}

/// A target whose writes are scripted: transient failures first, a gate that holds writes,
/// records it refuses; it keeps what it accepted. For the sink's own logic only: the SQLite
/// and PostgreSQL targets have their own tests.
final class ScriptedTarget: SinkTarget, @unchecked Sendable {
    typealias Record = Property
    let name = "scripted"
    private let state = Mutex(State())

    struct State {
        var transientFailuresLeft = 0
        var refused: Set<String> = []
        var written: [Property] = []
        var writes: [Int] = []
        var held = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var entered: [CheckedContinuation<Void, Never>] = []
        var inWrite = 0
    }

    init(transientFailures: Int = 0, refused: Set<String> = [], held: Bool = false) {
        state.withLock {
            $0.transientFailuresLeft = transientFailures
            $0.refused = refused
            $0.held = held
        }
    }

    var written: [Property] { state.withLock { $0.written } }
    var writeSizes: [Int] { state.withLock { $0.writes } }

    func release() {
        let waiting = state.withLock { state in
            state.held = false
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns once a write is waiting at the gate.
    func waitUntilAWriteIsHeld() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.inWrite > 0 { return true }
                state.entered.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func write(_ records: [Property]) async throws -> SinkWriteResult {
        let (entered, holds) = state.withLock { state in
            state.writes.append(records.count)
            defer { state.entered.removeAll() }
            if state.held { state.inWrite += 1 }
            return (state.entered, state.held)
        }
        for waiter in entered { waiter.resume() }
        if holds {
            await withCheckedContinuation { continuation in
                let go = state.withLock { state in
                    guard state.held else { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if go { continuation.resume() }
            }
        }
        return try state.withLock { state in
            if state.transientFailuresLeft > 0 {
                state.transientFailuresLeft -= 1
                throw TransientFailure()
            }
            if records.contains(where: { state.refused.contains($0.id) }) { throw DataFailure() }
            state.written += records
            return SinkWriteResult(added: records.count)
        }
    }

    func isTransient(_ error: any Error) -> Bool { error is TransientFailure }
}
