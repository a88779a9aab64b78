import Conveyor
import Foundation
import Testing

/// Stored schedules through `JobClient`: the Swift side of `conveyor schedule`.
@Suite("JobClient schedules")
struct JobClientScheduleTests {
    @Test func addUpdatePauseRunNowAndRemove() async throws {
        let client = JobClient(backend: MemoryBackend())
        let schedule = Schedule(name: "osm-monthly", recurrence: try .calendar("monthly on day 1", timeZone: "UTC"),
                                target: .job(JobTemplate(name: "tedi.check", payload: Data(#"{"source":"osm"}"#.utf8))))
        let added = try await client.addSchedule(schedule, knownJobNames: ["tedi.check"])
        #expect(added.schedule == schedule)
        await #expect(throws: ScheduleDefinitionError.self) { try await client.addSchedule(schedule) }
        await #expect(throws: ScheduleDefinitionError.self) {
            try await client.addSchedule(Schedule(name: "x", recurrence: .manual, target: .job(JobTemplate(name: "nope"))), knownJobNames: ["tedi.check"])
        }
        let paused = try await client.pauseSchedule("osm-monthly")
        #expect(paused.schedule.paused && paused.version > added.version)
        #expect(try await client.resumeSchedule("osm-monthly").schedule.paused == false)
        let jobs = try await client.runScheduleNow("osm-monthly")
        #expect(jobs.count == 1)
        #expect(try await client.fireHistory(of: "osm-monthly").map(\.outcome) == [.ranNow])
        #expect(try await client.schedules().map(\.schedule.name) == ["osm-monthly"])
        #expect(try await client.removeSchedule("osm-monthly"))
        #expect(try await client.schedule(named: "osm-monthly") == nil)
        await #expect(throws: ConveyorError.scheduleNotFound("osm-monthly")) { try await client.pauseSchedule("osm-monthly") }
    }
}
