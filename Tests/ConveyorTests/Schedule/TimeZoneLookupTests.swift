import Foundation
import Testing

@testable import Conveyor

@Suite("Time zone lookup")
struct TimeZoneLookupTests {
    @Test func knownIdentifiersResolve() throws {
        #expect(try TimeZone.iana("Europe/Berlin").identifier == "Europe/Berlin")
        #expect(try TimeZone.iana("Asia/Kathmandu").secondsFromGMT(for: utcDate("2026-01-01T00:00:00Z")) == 20_700)
        #expect(try TimeZone.iana("UTC").secondsFromGMT() == 0)
        #expect(try TimeZone.iana("utc").scheduleIdentifier == "UTC")
        #expect(try TimeZone.iana("Etc/UTC").scheduleIdentifier == "UTC")
    }

    @Test func caseIsForgiven() throws {
        #expect(try TimeZone.iana("europe/berlin").identifier == "Europe/Berlin")
        #expect(try TimeZone.iana("AMERICA/NEW_YORK").identifier == "America/New_York")
    }

    @Test func unknownZoneSuggestsNearestIdentifiers() {
        let message = scheduleErrorMessage { () throws(ScheduleError) in _ = try TimeZone.iana("Europe/Berln") }
        #expect(message?.hasPrefix(#"unknown time zone "Europe/Berln"; use an IANA identifier"#) == true)
        #expect(message?.contains(#"did you mean "Europe/Berlin""#) == true)
        do {
            _ = try TimeZone.iana("Amerca/New_Yrok")
            Issue.record("expected an error")
        } catch {
            guard case let .unknownTimeZone(identifier, suggestions) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(identifier == "Amerca/New_Yrok")
            #expect(suggestions.first == "America/New_York")
            #expect(suggestions.count <= 3)
        }
    }

    @Test func cityAloneFindsItsZone() {
        let suggestions = TimeZone.nearestIdentifiers(to: "Kathmandoo", among: TimeZone.knownTimeZoneIdentifiers)
        #expect(suggestions.contains("Asia/Kathmandu"))
    }

    @Test func farOffNamesGetNoSuggestions() {
        let message = scheduleErrorMessage { () throws(ScheduleError) in _ = try TimeZone.iana("Mars/Olympus_Mons_Base") }
        #expect(message == #"unknown time zone "Mars/Olympus_Mons_Base"; use an IANA identifier such as "Europe/Berlin" or "UTC""#)
    }

    @Test func editDistance() {
        #expect(TimeZone.editDistance(Array("kitten"), Array("sitting")) == 3)
        #expect(TimeZone.editDistance(Array(""), Array("abc")) == 3)
        #expect(TimeZone.editDistance(Array("same"), Array("same")) == 0)
    }
}
