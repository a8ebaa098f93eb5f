import Foundation
import NECCard
import Testing

@Suite struct UTCTimestampTests {
    @Test func millisecondsAroundTheEpoch() {
        #expect(UTCTimestamp.string(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(UTCTimestamp.string(millis: -1) == "1969-12-31T23:59:59.999Z")
        #expect(UTCTimestamp.string(millis: 1_795_435_200_123) == "2026-11-23T12:00:00.123Z")
        #expect(UTCTimestamp.string(millis: 1_795_435_200_007) == "2026-11-23T12:00:00.007Z")
    }

    @Test func wholeSeconds() {
        #expect(UTCTimestamp.string(seconds: 0) == "1970-01-01T00:00:00Z")
        #expect(UTCTimestamp.string(seconds: -1) == "1969-12-31T23:59:59Z")
        #expect(UTCTimestamp.string(seconds: 1_795_435_199) == "2026-11-23T11:59:59Z")
    }

    /// A time with a fraction is cut down, never rounded up into the next millisecond or second.
    @Test func fractionsAreCutDown() {
        #expect(UTCTimestamp.string(secondsSince1970: 1_795_435_200.1239) == "2026-11-23T12:00:00.123Z")
        #expect(UTCTimestamp.string(secondsSince1970: 1_795_435_199.9999, fractionalSeconds: false)
            == "2026-11-23T11:59:59Z")
        #expect(UTCTimestamp.string(secondsSince1970: -0.5) == "1969-12-31T23:59:59.500Z")
    }

    /// The text is what Foundation's ISO 8601 formatter, which necctl used before, writes:
    /// whole seconds for doctor and debuginfo, milliseconds for scan. Instants sit 0.4 ms
    /// past a millisecond so cutting down and rounding agree.
    @Test func sameTextAsTheFormatterItReplaces() {
        let seconds = ISO8601DateFormatter()
        let millis = ISO8601DateFormatter()
        millis.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var instant = 946_684_799.0004  // 1999-12-31T23:59:59Z
        for _ in 0..<500 {
            let date = Date(timeIntervalSince1970: instant)
            #expect(UTCTimestamp.string(secondsSince1970: instant, fractionalSeconds: false) == seconds.string(from: date))
            #expect(UTCTimestamp.string(secondsSince1970: instant) == millis.string(from: date))
            instant += 2_629_743.017  // about a month and 17 ms on
        }
    }
}
