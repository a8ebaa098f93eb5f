import Foundation
import Glibc
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// A running necd for protocol 1.1's tests (charges, refunds, manual service, lunch
/// windows): a ``DaemonFixture`` whose list is replaced by ``listCSV`` (pupils with
/// balances, limits and several cards), and whose two readers are both tills, so one
/// pupil can be tapped on two tills at once.
final class MoneyFixture {
    let base: DaemonFixture

    /// A `paid` pupil with a 300p limit and a 1500p balance.
    static let limited = "TEST-M01"
    /// A `paid` pupil whose two cards are both hotlisted (an account the council blocked).
    static let blocked = "TEST-M02"
    /// An `fsm` pupil with no `paid` entitlement: served lunches, never charged.
    static let lunchOnly = "TEST-M03"
    /// A `paid` pupil whose rows start in 2099.
    static let notYet = "TEST-M04"
    /// A `paid` pupil with a 200p balance and no limit.
    static let poor = "TEST-M05"
    /// A `paid` pupil with a 300p limit and no balance (the back office checks it).
    static let racer = "TEST-M06"
    /// An `fsm` pupil with two cards, ``twinCardA`` and ``twinCardB``.
    static let twin = "TEST-M07"
    /// An `fsm+paid` pupil with a 500p limit.
    static let both = "TEST-M08"
    /// `fsm` pupils for manual-then-card, card-then-manual and the window tests.
    static let manualFirst = "TEST-M09"
    static let cardFirst = "TEST-M10"
    static let windowed = "TEST-M11"
    /// A `paid` pupil with a 100000p limit and a 1000000p balance, for the kill tests.
    static let spender = "TEST-M12"
    /// A `paid` pupil whose rows ended in 2000.
    static let expired = "TEST-M13"

    static let limitedCard = syntheticISRN(201)
    static let blockedCards = [syntheticISRN(202), syntheticISRN(203)]
    static let lunchOnlyCard = syntheticISRN(204)
    static let twinCardA = syntheticISRN(207)
    static let twinCardB = syntheticISRN(208)
    static let bothCard = syntheticISRN(209)
    static let manualFirstCard = syntheticISRN(210)
    static let cardFirstCard = syntheticISRN(211)
    static let windowedCard = syntheticISRN(212)

    static var listCSV: String {
        """
        card,pupil,entitlement,status,valid_from,valid_until,daily_limit,balance
        \(limitedCard.digits),\(limited),paid,active,,,300,1500
        \(blockedCards[0].digits),\(blocked),paid,hotlisted,,,300,
        \(blockedCards[1].digits),\(blocked),paid,hotlisted,,,300,
        \(lunchOnlyCard.digits),\(lunchOnly),fsm,active,,,,
        \(syntheticISRN(205).digits),\(notYet),paid,active,2099-01-01,,300,
        \(syntheticISRN(206).digits),\(poor),paid,active,,,,200
        \(syntheticISRN(213).digits),\(racer),paid,active,,,300,
        \(twinCardA.digits),\(twin),fsm,active,,,,
        \(twinCardB.digits),\(twin),fsm,active,,,,
        \(bothCard.digits),\(both),fsm+paid,active,,,500,
        \(manualFirstCard.digits),\(manualFirst),fsm,active,,,,
        \(cardFirstCard.digits),\(cardFirst),fsm,active,,,,
        \(windowedCard.digits),\(windowed),fsm,active,,,,
        \(syntheticISRN(214).digits),\(spender),paid,active,,,100000,1000000
        \(syntheticISRN(215).digits),\(expired),paid,active,,2000-12-31,300,

        """
    }

    /// - Parameter extra: TOML added to the configuration: top-level keys, or tables
    ///   (`[[service]]`) placed before the fixture's own `[[reader]]` tables.
    init(_ extra: String = "") throws {
        base = try DaemonFixture()
        try configure(extra)
        let list = base.directory + "/money.csv"
        try Self.listCSV.write(toFile: list, atomically: true, encoding: .utf8)
        try Shell.run(BuiltProducts.executable("necctl"), "list", "import", list, "--database", base.databasePath)
    }

    /// Rewrites the configuration with `extra`; both readers are tills, `till-1` and `till-2`.
    func configure(_ extra: String) throws {
        // The first [[reader]] table that matches wins: this one turns the fixture's kiosk
        // reader into a second till.
        try base.configure("""
            \(extra)

            [[reader]]
            match = "\(base.kioskReader)"
            role = "till"
            lane = "till-2"
            """)
    }

    var tillPort: UInt16 { base.tillPort }
    var secondTillPort: UInt16 { base.kioskPort }

    func start() async throws { try await base.start() }

    /// A till's connection, its banner read.
    func till() throws -> Till { try Till(path: base.socketPath) }

    /// Sends SIGHUP and waits until necd has logged its `count`-th reload (counted from its start).
    func reload(count: Int) async throws {
        let daemon = try #require(base.daemon)
        kill(daemon.pid, SIGHUP)
        let deadline = ContinuousClock.now + .seconds(10)
        while daemon.stderr.components(separatedBy: "configuration reloaded").count - 1 < count {
            guard ContinuousClock.now < deadline else {
                Issue.record("necd did not reload; it said: \(daemon.stderr)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Every event stored after `seq`, as a watcher with `since` is sent them (see ``received(_:)``).
    func replay(after seq: Int = 0) throws -> [[String: Any]] {
        try received(try base.watcher(since: Int64(seq)))
    }

    /// A day of the week, as `[[service]]` names it, `offset` days from today in
    /// Europe/London (necd's default zone).
    static func weekday(offsetFromToday offset: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/London")!
        let day = calendar.date(byAdding: .day, value: offset, to: Date())!
        // Calendar's weekday: 1 is Sunday.
        return ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][calendar.component(.weekday, from: day) - 1]
    }

    /// A lunch window that is closed all of today, yesterday and tomorrow: open only on the
    /// day three days ahead (so a test that runs across midnight still finds it closed).
    static var closedWindow: String {
        """
        [[service]]
        kind = "lunch"
        start = "00:00"
        end = "24:00"
        days = ["\(weekday(offsetFromToday: 3))"]
        """
    }

    /// A lunch window open all day, every day.
    static let openWindow = """
        [[service]]
        kind = "lunch"
        start = "00:00"
        end = "24:00"
        """
}

/// One till's connection to necd: requests sent, answers read, in order.
final class Till {
    let socket: LineSocket

    init(path: String) throws {
        socket = try LineSocket(path: path)
        guard socket.readObject()?["class"] as? String == "VERSION" else {
            throw LineSocket.Failure(description: "no VERSION banner")
        }
    }

    /// Sends `request` and returns the answer; a test failure when none comes.
    func ask(_ request: String, timeout: Duration = .seconds(10)) throws -> [String: Any] {
        try socket.send(request)
        return try answer(timeout: timeout)
    }

    /// The next line, as an object; a test failure when none comes.
    func answer(timeout: Duration = .seconds(10)) throws -> [String: Any] {
        try #require(socket.readObject(timeout: timeout), "no answer from necd")
    }

    func charge(_ pupil: String, _ amount: Int, txn: String, lane: String? = "till-2") throws -> [String: Any] {
        try ask(Self.charge(pupil, amount, txn: txn, lane: lane))
    }

    func refund(_ txn: String) throws -> [String: Any] {
        try ask(#"{"cmd":"refund","txn":"\#(txn)"}"#)
    }

    func redeem(_ pupil: String, lane: String? = "till-2") throws -> [String: Any] {
        try ask(Self.redeem(pupil, lane: lane))
    }

    static func charge(_ pupil: String, _ amount: Int, txn: String, lane: String? = "till-2") -> String {
        #"{"cmd":"charge","pupil":"\#(pupil)","amount":\#(amount),"txn":"\#(txn)""# + laneKey(lane) + "}"
    }

    static func redeem(_ pupil: String, lane: String? = "till-2") -> String {
        #"{"cmd":"redeem","pupil":"\#(pupil)""# + laneKey(lane) + "}"
    }

    private static func laneKey(_ lane: String?) -> String { lane.map { #","lane":"\#($0)""# } ?? "" }
}

/// `object` without its `time` (which the clock decides), as JSON with sorted keys: two
/// events with the same fields give the same text, and a failure shows every field.
func fields(_ object: [String: Any]?) -> String {
    guard var object else { return "nothing" }
    object["time"] = nil
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "?" }
    return String(decoding: data, as: UTF8.self)
}

/// The text ``fields(_:)`` gives for an event with exactly these keys.
func expected(_ object: [String: Any]) -> String { fields(object) }

/// Expects `event` to be stored (a `seq`) and decided now (an RFC 3339 UTC `time`), and
/// to have exactly `keys` otherwise; returns its seq.
@discardableResult
func expectStored(
    _ event: [String: Any], equals keys: [String: Any], sourceLocation: SourceLocation = #_sourceLocation
) throws -> Int {
    let seq = try #require(event["seq"] as? Int, "no seq in \(fields(event))", sourceLocation: sourceLocation)
    #expect((event["time"] as? String)?.hasSuffix("Z") == true, "time of \(fields(event))", sourceLocation: sourceLocation)
    var withSeq = keys
    withSeq["seq"] = seq
    #expect(fields(event) == expected(withSeq), sourceLocation: sourceLocation)
    return seq
}

/// Every event `watch` was sent until now: a `status` is asked for on it, and what came
/// before the STATUS answer is what it had been sent.
func received(_ watch: LineSocket) throws -> [[String: Any]] {
    try watch.send(#"{"cmd":"status"}"#)
    var events: [[String: Any]] = []
    while let object = watch.readObject(timeout: .seconds(10)) {
        if object["class"] as? String == "STATUS" { return events }
        events.append(object)
    }
    Issue.record("no STATUS answer on the watcher after \(events.count) events")
    return events
}

extension DaemonFixture {
    /// Another process that has taken SQLite's write lock on the fixture's database and
    /// keeps it until it is stopped: nothing can be stored meanwhile.
    func holdingTheWriteLock() async throws -> ChildProcess {
        let holder = try ChildProcess("/usr/bin/python3", ["-c", """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            time.sleep(600)
            """, databasePath])
        let said = await holder.waitForLines(1, timeout: .seconds(10))
        try #require(said == ["locked"], "the lock holder said \(said), \(holder.stderr)")
        return holder
    }
}
