import Conveyor
import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

@Suite("PostgresBackend transactional enqueue")
struct PostgresTransactionTests {
    @Test func jobsCommitAndRollBackWithTheCallersTransaction() async throws {
        let store = try PostgresBackend(url: try PostgresServer.freshStoreURL("tx"))
        let job = NewJob(name: "tx.job", payload: Data("{}".utf8))
        let kept = try await store.transaction { connection in try await store.enqueue([job], in: connection) }
        #expect(try await store.job(kept[0].id) != nil)
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await store.transaction { connection in
                _ = try await store.enqueue([job], in: connection)
                throw Abort()
            }
        }
        // The rolled-back job is gone with the transaction: only the committed one is there.
        #expect(try await store.jobs(JobQuery(name: "tx.job")).map(\.id) == [kept[0].id])
    }
}
