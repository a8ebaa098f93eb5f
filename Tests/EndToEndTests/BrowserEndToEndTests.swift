import Foundation
import Glibc
import NECCard
import NECTestSupport
import Testing

/// The browser side of the WebSocket bridge in a real browser: headless Chromium loads the
/// sample till page (examples/web, served on loopback) and necd's status page, against a
/// real necd with `[http]` on, real pcscd and vpcd, VirtualCard taps. Screenshots of both
/// pages are saved under `.build/browser-artefacts` (printed).
@Suite(.serialized, .needsRig, .needs(tool: "chromium", package: "chromium"), .needs(tool: "chromedriver", package: "chromium-driver"))
struct BrowserEndToEndTests {
    static let token = "browser-test-" + UUID().uuidString

    /// Where the screenshots go: a folder under .build, made and printed on first use.
    static let artefacts: String = {
        let path = BuiltProducts.packageRoot.appendingPathComponent(".build/browser-artefacts").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        print("browser test artefacts (screenshots): \(path)")
        return path
    }()

    /// A necd with `[http]` on a free loopback port that allows pages from `allowedOrigin`
    /// only, and a browser serving examples/web; both started.
    struct Rig {
        let daemon: DaemonFixture
        let browser: HeadlessBrowser
        let httpPort: UInt16

        /// The till page from static server `origin` (0: allowed, 1: not), with `token`.
        func tillPage(origin: Int = 0, token: String = BrowserEndToEndTests.token) -> String {
            "\(browser.origin(origin))/till.html?necd=ws://127.0.0.1:\(httpPort)/ws&token=\(token)"
        }

        /// Loads the till page from the allowed origin and waits until it watches.
        func openTillPage() throws {
            try browser.open(tillPage())
            try browser.wait(until: "window.necd && window.necd.watching", timeout: .seconds(10))
        }

        /// Waits until the till page's big display shows the event `seq`.
        func waitUntilTillShows(_ seq: Int, timeout: Duration = .seconds(5)) throws {
            try browser.wait(until: "document.getElementById('decision').dataset.seq === '\(seq)'", timeout: timeout)
        }

        /// Taps the card of `isrn` on the till reader; its decision as `watch` saw it.
        func tapOnTill(_ isrn: ISRN, seenBy watch: LineSocket) async throws -> [String: Any] {
            try await daemon.tap(DaemonFixture.card(isrn), port: daemon.tillPort)
            return try daemon.decision(watch)
        }

        /// necd's own status page.
        var statusPage: String { "http://127.0.0.1:\(httpPort)/?token=\(BrowserEndToEndTests.token)" }
    }

    static func rig() async throws -> Rig {
        let browser = try await HeadlessBrowser(serving: BuiltProducts.packageRoot.appendingPathComponent("examples/web").path)
        let port = try freeLoopbackPort()
        let probe = try DaemonFixture()
        let tokenFile = probe.directory + "/http.token"
        try (token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        try probe.configure(
            """
            [http]
            listen = "127.0.0.1:\(port)"
            allowed_origins = ["\(browser.origin(0))"]
            token_file = "\(tokenFile)"
            """)
        try await probe.start()
        return Rig(daemon: probe, browser: browser, httpPort: port)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick).
    static func freeLoopbackPort() throws -> UInt16 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw LineSocket.Failure(description: "socket: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw LineSocket.Failure(description: "bind 127.0.0.1:0: errno \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// The seqs in the till page's list of recent taps, oldest first.
    static func shownSeqs(_ browser: HeadlessBrowser) throws -> [Int] {
        let seqs = try browser.value("Array.from(document.querySelectorAll('#recent tr'), (r) => Number(r.dataset.seq)).reverse()")
        return (seqs as? [Int]) ?? (seqs as? [NSNumber])?.map(\.intValue) ?? []
    }

    @Test func tillPageShowsATapWithinASecond() async throws {
        let rig = try await Self.rig()
        let (d, browser) = (rig.daemon, rig.browser)
        try rig.openTillPage()
        let watch = try d.watcher()

        // TEST-0002: may pay from their account, allergens milk and eggs, a message.
        let event = try await rig.tapOnTill(DaemonFixture.paidCard, seenBy: watch)
        let seq = try #require(event["seq"] as? Int)
        try rig.waitUntilTillShows(seq)

        #expect(try browser.value("document.getElementById('verdict').textContent") as? String == "AUTHORISED")
        #expect(try browser.value("document.getElementById('detail').textContent") as? String == "May pay from account")
        #expect(try browser.value("document.getElementById('allergens').textContent") as? String == "Allergens: milk, eggs")
        #expect(try browser.value("document.getElementById('message').textContent") as? String == "see the test note")
        let who = try #require(try browser.value("document.getElementById('who').textContent") as? String)
        #expect(who.contains("card " + DaemonFixture.paidCard.masked), "\(who)")
        let page = try #require(try browser.value("document.body.innerText") as? String)
        #expect(!page.contains(DaemonFixture.paidCard.digits), "the full card number is on the page")
        #expect(!page.contains("TEST-0002"), "the full pupil reference is on the page")

        // The product promises a decision at the till within a second of the card being
        // read. The tab stamps the moment it showed the event; the event's `time` is when
        // necd read the card (one clock: the same machine). Asserted against 1 s plus a
        // 1 s margin for a loaded 2-core CI machine; the benchmarks measure the real figure.
        let shownAt = try #require(Double(try browser.value("document.getElementById('decision').dataset.shownAt") as? String ?? ""))
        let readAt = try #require(try browser.value("Date.parse('\(event["time"] as? String ?? "")')") as? Int)
        let latency = shownAt - Double(readAt)
        print("till page: card read to shown in the browser: \(Int(latency)) ms")
        #expect(latency >= 0 && latency < 2000, "shown \(latency) ms after the card was read")
        try browser.screenshot(Self.artefacts + "/till-page.png")
    }

    @Test func clientRequestsGetTheirAnswers() async throws {
        let rig = try await Self.rig()
        let browser = rig.browser
        try rig.openTillPage()
        // Each request is a promise of the page's client; the driver waits for it.
        let status = try #require(try browser.value("window.necd.status()") as? [String: Any])
        #expect(status["class"] as? String == "STATUS")
        #expect(status["list_rows"] as? Int == 11)
        let lookup = try #require(try browser.value("window.necd.lookup('\(DaemonFixture.paidCard.digits)')") as? [String: Any])
        #expect(lookup["pupil"] as? String == "TEST-0002")
        #expect(lookup["kind"] as? String == "payment")

        // One txn sent twice: the stored event both times, charged once.
        let charge = "window.necd.charge('TEST-0002', 120, { txn: 'browser-till-1', lane: 'till-1' })"
        let charged = try #require(try browser.value(charge) as? [String: Any])
        let again = try #require(try browser.value(charge) as? [String: Any])
        #expect(charged["decision"] as? String == "authorised")
        #expect(charged["seq"] as? Int != nil && charged["seq"] as? Int == again["seq"] as? Int)
        #expect(again["spent_today"] as? Int == 120)

        let refusal = try browser.value("window.necd.request({ cmd: 'frobnicate' }).then(() => 'answered', (e) => e.code)")
        #expect(refusal as? String == "refused")

        // A pupil served by hand: the answer, and the same event on the page through the watch.
        let redeemed = try #require(try browser.value("window.necd.redeem('TEST-0001', 'till-1')") as? [String: Any])
        #expect(redeemed["method"] as? String == "manual" && redeemed["decision"] as? String == "authorised")
        let seq = try #require(redeemed["seq"] as? Int)
        try rig.waitUntilTillShows(seq)
        #expect(try (browser.value("document.getElementById('who').textContent") as? String)?.hasPrefix("served by hand") == true)
    }

    @Test func reconnectAfterARestartWithSinceLosesNothing() async throws {
        let rig = try await Self.rig()
        let (d, browser) = (rig.daemon, rig.browser)
        try rig.openTillPage()
        let watch = try d.watcher()
        let first = try #require(try await rig.tapOnTill(DaemonFixture.lunchCard, seenBy: watch)["seq"] as? Int)
        try rig.waitUntilTillShows(first)

        // Offline, the tab keeps its open connection but can make no new one: necd's
        // restart drops it, and it stays away while two cards are tapped.
        try browser.setOffline(true)
        await d.stopDaemon()
        try browser.wait(until: "!window.necd.watching", timeout: .seconds(10))
        try await d.start()
        let missed = try d.watcher(since: Int64(first))
        try await d.tap(DaemonFixture.card(DaemonFixture.secondLunchCard), port: d.tillPort)
        try await d.tap(DaemonFixture.card(DaemonFixture.restartCard), port: d.tillPort)
        let second = try #require(try d.decision(missed)["seq"] as? Int)
        let third = try #require(try d.decision(missed)["seq"] as? Int)
        #expect(try browser.value("window.necd.watching") as? Bool == false, "the tab reconnected while offline")
        #expect(try Self.shownSeqs(browser) == [first])

        // Back online: the client reconnects (its backoff is at most 5 s) with `since` the
        // last seq it saw, and the two taps it missed arrive, once each, in order.
        try browser.setOffline(false)
        try rig.waitUntilTillShows(third, timeout: .seconds(15))
        #expect(try Self.shownSeqs(browser) == [first, second, third])
        #expect(try browser.value("window.necd.lastSeq") as? Int == third)
        let log = browser.consoleLog().joined(separator: "\n")
        #expect(log.contains("ERR_INTERNET_DISCONNECTED"), "no connection was refused while offline: \(log)")
    }

    @Test func pageFromAnOriginNotAllowedGetsNoData() async throws {
        let rig = try await Self.rig()
        let (d, browser) = (rig.daemon, rig.browser)
        // The same page from the second static server: another origin, not in allowed_origins.
        try browser.open(rig.tillPage(origin: 1))
        try browser.wait(until: "document.getElementById('connection').dataset.state === 'refused'", timeout: .seconds(10))
        let watch = try d.watcher()
        _ = try await rig.tapOnTill(DaemonFixture.lunchCard, seenBy: watch)
        // Two attempts at least, each refused before the upgrade: the socket never opened,
        // so not even the banner reached the page, let alone the tap.
        try browser.wait(until: "window.necd.failedAttempts >= 2", timeout: .seconds(10))
        #expect(try browser.value("window.necd.messagesReceived") as? Int == 0)
        #expect(try browser.value("document.getElementById('decision').dataset.decision") as? String == "none")
        let problem = try #require(try browser.value("document.getElementById('problem').textContent") as? String)
        #expect(problem.contains(browser.origin(1)) && problem.contains("allowed_origins"), "\(problem)")
        let console403 = browser.consoleLog()
        #expect(console403.contains { $0.contains("Unexpected response code: 403") }, "\(console403)")
        try browser.screenshot(Self.artefacts + "/till-page-refused.png")

        // From the allowed origin with a wrong token: 401, and nothing either.
        try browser.open(rig.tillPage(origin: 0, token: "not-the-token"))
        try browser.wait(until: "window.necd.failedAttempts >= 2", timeout: .seconds(10))
        #expect(try browser.value("window.necd.messagesReceived") as? Int == 0)
        let console401 = browser.consoleLog()
        // Chromium words a 401 to a WebSocket handshake so.
        #expect(console401.contains { $0.contains("HTTP Authentication failed") }, "\(console401)")
    }

    @Test func statusPageShowsReadersListAndMaskedEventsLive() async throws {
        let rig = try await Self.rig()
        let (d, browser) = (rig.daemon, rig.browser)
        let watch = try d.watcher()
        let before = try #require(try await rig.tapOnTill(DaemonFixture.lunchCard, seenBy: watch)["seq"] as? Int)

        try browser.open(rig.statusPage)
        try browser.wait(until: "document.getElementById('link').dataset.state === 'live'", timeout: .seconds(10))
        let rows = [d.tillReader, d.kioskReader].map { "document.querySelector('#readers tr[data-reader=\"\($0)\"]')" }
        try browser.wait(until: rows.joined(separator: " && "), timeout: .seconds(5))
        try browser.wait(until: "document.querySelector('#events tr[data-seq=\"\(before)\"]')", timeout: .seconds(5))
        #expect(try browser.value("document.getElementById('pcscd').textContent") as? String == "connected")
        #expect(try browser.value("document.getElementById('list').textContent") as? String == "11 rows")
        #expect(try browser.value("document.getElementById('ledger-section').hidden") as? Bool == true, "a ledger shown without one")
        let kioskRole = try browser.value("\(rows[1]).cells[2].textContent")
        #expect(kioskRole as? String == "kiosk")

        // A tap after the page loaded appears without a reload, masked.
        try await d.tap(DaemonFixture.card(DaemonFixture.paidCard), port: d.kioskPort)
        let after = try #require(try d.decision(watch)["seq"] as? Int)
        let row = "document.querySelector('#events tr[data-seq=\"\(after)\"]')"
        try browser.wait(until: row, timeout: .seconds(5))
        let text = try #require(try browser.value("\(row).innerText") as? String)
        #expect(text.contains(DaemonFixture.paidCard.masked) && text.contains("IDENTIFY") && text.contains("kiosk-1"), "\(text)")
        let page = try #require(try browser.value("document.body.innerText") as? String)
        for secret in [DaemonFixture.paidCard.digits, DaemonFixture.lunchCard.digits, "TEST-0001", "TEST-0002"] {
            #expect(!page.contains(secret), "\(secret) is on the status page")
        }
        try browser.screenshot(Self.artefacts + "/status-page.png")
    }
}
