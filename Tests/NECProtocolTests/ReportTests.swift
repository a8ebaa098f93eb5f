import NECProtocol
import Testing

private func text(_ message: some Encodable) -> String {
    String(decoding: MessageCoding.line(message), as: UTF8.self)
}

@Suite("Events and necctl's --json objects encode with the one encoder, byte for byte")
struct ReportTests {
    @Test func aVoidedEventHasItsKeysInOrder() {
        let voided = VoidedEvent(seq: 61, time: "2026-11-27T12:05:40.310Z", voided: 42, pupil: "P0000042", lane: "till-1")
        #expect(text(voided) == #"{"class":"VOIDED","seq":61,"time":"2026-11-27T12:05:40.310Z","voided":42,"pupil":"P0000042","lane":"till-1"}"# + "\n")
        let laneless = VoidedEvent(seq: 5, time: "2026-11-27T12:02:02.123Z", voided: 4, pupil: "TEST-0000001")
        #expect(text(laneless) == #"{"class":"VOIDED","seq":5,"time":"2026-11-27T12:02:02.123Z","voided":4,"pupil":"TEST-0000001"}"# + "\n")
    }

    @Test func aTapPutsTheDailyLimitAfterTheMessageAndALookupAfterThePupil() {
        let card = CardInfo(isrn: "633597999900000027", media: .unknown)
        let tap = TapEvent(
            seq: 7, time: "2026-11-27T12:01:02.123Z", reader: "R", card: card, decision: .authorised, kind: .payment,
            pupil: "TEST-0002", dailyLimit: 250, allergens: ["milk"], message: "note", listStale: true)
        #expect(text(tap) == #"{"class":"TAP","seq":7,"time":"2026-11-27T12:01:02.123Z","reader":"R","card":{"isrn":"633597999900000027","media":"unknown"},"decision":"authorised","kind":"payment","pupil":"TEST-0002","allergens":["milk"],"message":"note","daily_limit":250,"list_stale":true}"# + "\n")
        let lookup = LookupMessage(
            card: card, decision: .authorised, kind: .payment, pupil: "TEST-0002", dailyLimit: 250, allergens: ["milk"],
            message: "note", listStale: true)
        #expect(text(lookup) == #"{"class":"LOOKUP","card":{"isrn":"633597999900000027","media":"unknown"},"decision":"authorised","kind":"payment","pupil":"TEST-0002","daily_limit":250,"allergens":["milk"],"message":"note","list_stale":true}"# + "\n")
    }

    @Test func aTapTheDaemonCouldNotStoreHasNoSeqAndIsNotDecoded() throws {
        let tap = TapEvent(
            seq: nil, time: "2026-11-27T12:01:02.123Z", reader: "R", card: CardInfo(uid: "04A1B2C3", media: .desfire),
            decision: .declined, reason: .unavailable)
        let line = text(tap)
        #expect(line == #"{"class":"TAP","time":"2026-11-27T12:01:02.123Z","reader":"R","card":{"uid":"04A1B2C3","media":"desfire"},"decision":"declined","reason":"unavailable"}"# + "\n")
        #expect(throws: DecodingError.self) { try MessageCoding.daemonMessage(from: Array(line.utf8)) }
    }

    @Test func aReaderChangeCarriesItsRole() {
        #expect(text(ReaderChangeEvent(name: "R 00 00", state: .empty, role: .kiosk)) == #"{"class":"READER","name":"R 00 00","state":"empty","role":"kiosk"}"# + "\n")
    }

    @Test func delAndOtherControlsAreEscaped() {
        #expect(text(ErrorMessage(message: "a\u{7F}b\u{1B}c\u{2028}d\te")) == #"{"class":"ERROR","message":"a\u007fb\u001bc\u2028d\te"}"# + "\n")
    }

    @Test func listStatus() {
        #expect(text(ListStatusReport.absent) == #"{"class":"LIST","present":false}"# + "\n")
        let unsigned = ListStatusReport(
            rows: 12, imported: "2026-11-27T06:00:00.000Z", age: 3600, file: "list.csv", sha256: "ab12", signer: nil,
            stale: false, previous: true, generation: 3)
        #expect(text(unsigned) == #"{"class":"LIST","present":true,"rows":12,"imported":"2026-11-27T06:00:00.000Z","age":3600,"file":"list.csv","sha256":"ab12","signed":false,"stale":false,"previous":true,"generation":3}"# + "\n")
        let signed = ListStatusReport(
            rows: 1, imported: "2026-11-27T06:00:00.000Z", age: 0, file: "a \"b\".csv", sha256: "cd", signer: "S2V5",
            stale: true, previous: false, generation: 1)
        #expect(text(signed) == #"{"class":"LIST","present":true,"rows":1,"imported":"2026-11-27T06:00:00.000Z","age":0,"file":"a \"b\".csv","sha256":"cd","signed":true,"signer":"S2V5","stale":true,"previous":false,"generation":1}"# + "\n")
    }

    @Test func readersInAlphabeticalKeyOrder() {
        let present = ReaderReport(
            reader: "Test Reader 00 00", state: .present, role: .till, lane: "till-1", atr: "3B 8F", atrMeaning: "contactless",
            flags: "CHANGED|PRESENT")
        #expect(text(present) == #"{"atr":"3B 8F","atr_meaning":"contactless","flags":"CHANGED|PRESENT","lane":"till-1","reader":"Test Reader 00 00","role":"till","state":"present"}"# + "\n")
        let empty = ReaderReport(reader: "K", state: .empty, role: .kiosk, lane: nil, atr: nil, atrMeaning: nil, flags: "EMPTY")
        #expect(text(empty) == #"{"flags":"EMPTY","reader":"K","role":"kiosk","state":"empty"}"# + "\n")
        #expect(text(ReaderReportList()) == #"{"readers":[]}"# + "\n")
    }

    @Test func scanInAlphabeticalKeyOrder() {
        var read = ScanReport(reader: "R", time: "2026-11-27T12:01:02.123Z", atr: "3B8F", atrMeaning: "DESFire", apdus: 4, readMs: 12.5)
        read.media = "desfire"
        read.uid = "04A1B2C3D4E580"
        read.uidRandom = false
        read.isrn = "633597999900000019"
        read.isrnGrouped = "633597 9999 0000 0019"
        read.oid = "9999"
        read.issn = "633597"
        read.expiry = "2040-12-31"
        read.expired = false
        read.mcrn = "M1"
        read.checks = [ScanReport.Check(name: "isrn_luhn", ok: true, reason: nil), ScanReport.Check(name: "secrc", ok: false, reason: "bad")]
        read.readable = true
        read.trace = [ScanReport.Exchange(command: "90600000", response: "9100", error: nil, ms: 1, meaning: "GetVersion")]
        #expect(text(read) == #"{"apdus":4,"atr":"3B8F","atr_meaning":"DESFire","checks":[{"name":"isrn_luhn","ok":true},{"name":"secrc","ok":false,"reason":"bad"}],"expired":false,"expiry":"2040-12-31","isrn":"633597999900000019","isrn_grouped":"633597 9999 0000 0019","issn":"633597","mcrn":"M1","media":"desfire","oid":"9999","read_ms":12.5,"readable":true,"reader":"R","time":"2026-11-27T12:01:02.123Z","trace":[{"command":"90600000","meaning":"GetVersion","ms":1,"response":"9100"}],"uid":"04A1B2C3D4E580","uid_random":false}"# + "\n")
        var failed = ScanReport(reader: "R", time: "2026-11-27T12:01:02.123Z", atr: "3B", atrMeaning: "?", apdus: 1, readMs: 0.25)
        failed.error = "the card did not answer"
        failed.noExpiry = true
        failed.unreadableReason = "no ISRN"
        #expect(text(failed) == #"{"apdus":1,"atr":"3B","atr_meaning":"?","error":"the card did not answer","no_expiry":true,"read_ms":0.25,"reader":"R","time":"2026-11-27T12:01:02.123Z","unreadable_reason":"no ISRN"}"# + "\n")
    }

    @Test func doctorFindingsAndSummary() {
        #expect(text(DoctorFindingReport(check: "pcscd", status: "ok", detail: "running", fix: nil)) == #"{"check":"pcscd","status":"ok","detail":"running"}"# + "\n")
        #expect(text(DoctorFindingReport(check: "socket", status: "fault", detail: "mode 0666", fix: "chmod 0660 \"/run/necd/necd.sock\"")) == #"{"check":"socket","status":"fault","detail":"mode 0666","fix":"chmod 0660 \"/run/necd/necd.sock\""}"# + "\n")
        #expect(text(DoctorSummaryReport(status: "warning", ok: 7, warnings: 1, faults: 0, exit: 1)) == #"{"check":"summary","status":"warning","ok":7,"warnings":1,"faults":0,"exit":1}"# + "\n")
    }
}
