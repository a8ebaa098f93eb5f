import NECProtocol
import Testing

private func text(_ message: some Encodable) -> String {
    String(decoding: MessageCoding.line(message), as: UTF8.self)
}

@Suite("Messages encode exactly as the product contract writes them")
struct MessageTests {
    @Test func versionBannerIsByteExact() {
        #expect(text(VersionMessage()) == #"{"class":"VERSION","release":"0.1.0","proto_major":1,"proto_minor":1}"# + "\n")
    }

    @Test func absentValuesAreLeftOutNeverNull() {
        #expect(text(WatchMessage(enable: false)) == #"{"class":"WATCH","enable":false}"# + "\n")
        #expect(text(WatchMessage(enable: true, since: 41)) == #"{"class":"WATCH","enable":true,"since":41}"# + "\n")
        let status = text(StatusMessage(uptime: 1.5, pcscdConnected: false, readerCount: 0))
        #expect(!status.contains("null"))
        #expect(status == #"{"class":"STATUS","release":"0.1.0","uptime":1.5,"pcscd_connected":false,"reader_count":0}"# + "\n")
    }

    @Test func simpleAnswers() {
        #expect(text(VoidMessage(seq: 42)) == #"{"class":"VOID","seq":42}"# + "\n")
        #expect(text(ErrorMessage(message: "x")) == #"{"class":"ERROR","message":"x"}"# + "\n")
        let readers = ReadersMessage(readers: [ReaderInfo(name: "Test Reader 00 00", state: .present, role: .kiosk, atr: "3B8F80")])
        #expect(text(readers) == #"{"class":"READERS","readers":[{"name":"Test Reader 00 00","state":"present","role":"kiosk","atr":"3B8F80"}]}"# + "\n")
    }

    @Test func tapEventMatchesTheContractExample() throws {
        let line = #"{"class":"TAP","seq":42,"time":"2026-11-27T12:01:02.123Z","reader":"ACS ACR1252 01 00","lane":"till-1","card":{"isrn":"633597013012345674","uid":"04A1B2C3D4E580","media":"desfire","expiry":"2030-07-31"},"decision":"authorised","kind":"lunch","pupil":"P0000042","allergens":["milk"],"message":"..."}"#
        let decoded = try MessageCoding.daemonMessage(from: Array(line.utf8))
        guard case .tap(let tap) = decoded else {
            Issue.record("expected a TAP, got \(decoded)")
            return
        }
        #expect(tap.seq == 42)
        #expect(tap.card.media == .desfire)
        #expect(tap.decision == .authorised)
        #expect(tap.kind == .lunch)
        #expect(tap.allergens == ["milk"])
        // Re-encoding gives the same bytes: declaration order is wire order.
        #expect(text(tap) == line + "\n")
    }

    @Test func declinedTapAndIdentify() throws {
        let line = #"{"class":"IDENTIFY","seq":43,"time":"2026-11-27T12:01:03.000Z","reader":"Kiosk 00 00","card":{"uid":"04A1B2C3"},"decision":"declined","reason":"already_redeemed","pupil":"TEST-0001","list_stale":true}"#
        guard case .tap(let tap) = try MessageCoding.daemonMessage(from: Array(line.utf8)) else {
            Issue.record("expected an IDENTIFY")
            return
        }
        #expect(tap.messageClass == .identify)
        #expect(tap.reason == .alreadyRedeemed)
        #expect(tap.listStale == true)
        #expect(text(tap) == line + "\n")
    }

    @Test func unknownClassesAndValuesAreKeptNotRejected() throws {
        #expect(try MessageCoding.daemonMessage(from: Array(#"{"class":"SKY","x":1}"#.utf8)) == .unknown(MessageClass("SKY")))
        let line = #"{"class":"READER","name":"R","state":"asleep","future":[1,2]}"#
        guard case .reader(let reader) = try MessageCoding.daemonMessage(from: Array(line.utf8)) else {
            Issue.record("expected a READER")
            return
        }
        #expect(reader.state.rawValue == "asleep")
    }

    @Test func malformedMessagesThrow() {
        #expect(throws: (any Error).self) { try MessageCoding.daemonMessage(from: Array("not json".utf8)) }
        #expect(throws: (any Error).self) { try MessageCoding.daemonMessage(from: Array(#"{"class":"VOID"}"#.utf8)) }
    }
}
