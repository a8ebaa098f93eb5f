import Foundation
import Glibc
import Synchronization
import NECCard
import Testing
import VirtualCard

/// The vpcd side of the wire, played by the test over a real loopback TCP socket. It
/// frames messages the way vpcd does: the length and the payload in two writes, without
/// TCP_NODELAY. Every blocking call has a 5 s timeout, so a broken emulator fails the
/// test instead of hanging it. The blocking calls run on a thread of their own, so a test
/// waiting for the card never holds one of the few cooperative threads the card's
/// runner needs. One test uses one instance, one call at a time.
final class FakeVPCD: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let listener: Int32
    let port: UInt16
    private var connection: Int32 = -1

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            close(fd)
            throw Failure(description: "bind/listen: \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit {
        if connection >= 0 { close(connection) }
        close(listener)
    }

    /// Waits (up to 5 s) for the emulator to connect.
    func accept() async throws { try await offPool { try $0.acceptBlocking() } }

    /// Reads one framed message; nil when the emulator closed the connection.
    func receive() async throws -> [UInt8]? { try await offPool { try $0.receiveBlocking() } }

    /// Sends a command APDU and returns the answer (nil when the card left instead).
    func transmit(_ apdu: [UInt8]) async throws -> [UInt8]? {
        send(apdu)
        return try await receive()
    }

    private func offPool<T: Sendable>(_ body: @escaping @Sendable (FakeVPCD) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body(self) }) }
            thread.start()
        }
    }

    private func acceptBlocking() throws {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 5000) == 1 else { throw Failure(description: "no connection within 5 s") }
        connection = Glibc.accept(listener, nil, nil)
        guard connection >= 0 else { throw Failure(description: "accept: \(errno)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one message as vpcd does: two bytes of length, then the payload, separately.
    func send(_ payload: [UInt8]) {
        let header = [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        _ = header.withUnsafeBytes { Glibc.send(connection, $0.baseAddress!, 2, Int32(MSG_NOSIGNAL)) }
        _ = payload.withUnsafeBytes { Glibc.send(connection, $0.baseAddress!, payload.count, Int32(MSG_NOSIGNAL)) }
    }

    private func receiveBlocking() throws -> [UInt8]? {
        guard let header = try read(2) else { return nil }
        return try read(Int(header[0]) << 8 | Int(header[1]))
    }

    /// Closes the vpcd end, as pcscd stopping does.
    func hangUp() {
        close(connection)
        connection = -1
    }

    private func read(_ count: Int) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress! + filled, count - filled, 0) }
            if n == 0 { return nil }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return nil }
                throw Failure(description: "recv: errno \(errno)")
            }
            filled += n
        }
        return buffer
    }
}

let powerOff: [UInt8] = [0x00]
let powerOn: [UInt8] = [0x01]
let reset: [UInt8] = [0x02]
let getATR: [UInt8] = [0x04]

@Suite(.serialized) struct WireTests {
    let desfire = VirtualCardModel.desfireITSO(shell: exampleShell)

    @Test func answersATRControlsAndAPDUs() async throws {
        let vpcd = try FakeVPCD()
        let session = try await VirtualCardSession.insert(desfire, port: vpcd.port)
        try await vpcd.accept()
        vpcd.send(getATR)
        #expect(try await vpcd.receive() == hex("3B 81 80 01 80 80"))
        vpcd.send(powerOn)
        #expect(try await vpcd.transmit(DESFireITSOTests.getUID) == hex("04 11 22 33 44 55 66 90 00"))
        #expect(try await vpcd.transmit(DESFireITSOTests.select) == hex("91 00"))
        #expect(try await vpcd.transmit(DESFireITSOTests.readShell) == workedExample + [0x91, 0x00])
        vpcd.send(reset)  // no answer; back to PICC level
        #expect(try await vpcd.transmit(DESFireITSOTests.readShell) == hex("91 9D"))
        vpcd.send(powerOff)
        vpcd.send(getATR)
        #expect(try await vpcd.receive() == hex("3B 81 80 01 80 80"))

        let live = session.statistics
        #expect(live.apdusAnswered == 4)
        #expect(live.ending == nil)
        let stats = await session.remove()
        #expect(try await vpcd.receive() == nil)  // the card left: connection closed
        #expect(stats.ending == .removed)
        #expect(stats.powerOns == 1)
        #expect(stats.commands == [DESFireITSOTests.getUID, DESFireITSOTests.select, DESFireITSOTests.readShell,
                                   DESFireITSOTests.readShell])
        let connected = try #require(stats.connectedAt)
        let powered = try #require(stats.poweredAt)
        let first = try #require(stats.firstCommandAt)
        let last = try #require(stats.lastAnsweredAt)
        let ended = try #require(stats.endedAt)
        #expect(connected <= powered && powered <= first && first <= last && last <= ended)
        #expect(last.unixNanoseconds > 1_700_000_000_000_000_000)
    }

    @Test func removalFaultClosesWithoutAnswering() async throws {
        let vpcd = try FakeVPCD()
        let card = desfire.with(.removeAfter(apdus: 2))
        let session = try await VirtualCardSession.insert(card, port: vpcd.port)
        try await vpcd.accept()
        vpcd.send(powerOn)
        #expect(try await vpcd.transmit(DESFireITSOTests.getUID) != nil)
        #expect(try await vpcd.transmit(DESFireITSOTests.select) == hex("91 00"))
        #expect(try await vpcd.transmit(DESFireITSOTests.readShell) == nil)
        let stats = await session.ended()
        #expect(stats.ending == .removalFault(afterAPDUs: 2))
        #expect(stats.apdusAnswered == 2)
    }

    @Test func tapHoldsThenRemoves() async throws {
        let vpcd = try FakeVPCD()
        let port = vpcd.port
        let tap = Task {
            try await VirtualCardRunner.tap(card: VirtualCardModel.classic1K(), port: port, hold: .milliseconds(300))
        }
        try await vpcd.accept()
        let start = ContinuousClock.now
        vpcd.send(powerOn)
        #expect(try await vpcd.transmit(DESFireITSOTests.getUID) == hex("11 22 33 44 90 00"))
        #expect(try await vpcd.receive() == nil)  // blocks until the hold ends
        // A lower bound, which no slowness can break: the card stayed its 300 ms.
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        let stats = try await tap.value
        #expect(stats.ending == .removed)
        #expect(stats.apdusAnswered == 1)
    }

    @Test func tapEndsEarlyWhenVpcdCloses() async throws {
        let vpcd = try FakeVPCD()
        let port = vpcd.port
        let tap = Task {
            try await VirtualCardRunner.tap(card: VirtualCardModel.classic1K(), port: port, hold: .seconds(30))
        }
        try await vpcd.accept()
        vpcd.send(powerOn)
        _ = try await vpcd.transmit(DESFireITSOTests.getUID)
        vpcd.hangUp()
        let stats = try await tap.value
        #expect(stats.ending == .vpcdClosed)
    }

    @Test func serveStopsOnCancellation() async throws {
        let vpcd = try FakeVPCD()
        let port = vpcd.port
        let serving = Task {
            try await VirtualCardRunner.serve(card: VirtualCardModel.desfireWithoutITSO(), port: port)
        }
        try await vpcd.accept()
        #expect(try await vpcd.transmit(DESFireITSOTests.select) == hex("91 A0"))
        serving.cancel()
        #expect(try await vpcd.receive() == nil)
        #expect(try await serving.value.ending == .removed)
    }

    @Test func connectionRefusedIsNamed() async throws {
        let port: UInt16
        do {
            let unused = try FakeVPCD()
            port = unused.port
        }  // closed again: nothing listens there now
        await #expect(throws: VirtualCardError.vpcdNotListening(host: "127.0.0.1", port: port)) {
            try await VirtualCardRunner.tap(card: .classic1K(), port: port, hold: .seconds(1))
        }
        #expect(VirtualCardError.vpcdNotListening(host: "127.0.0.1", port: port).description.contains("vpcd"))
    }

    @Test func unknownHostIsNamed() async {
        await #expect(throws: VirtualCardError.hostNotFound(host: "no-such-host.invalid")) {
            try await VirtualCardSession.insert(.classic1K(), host: "no-such-host.invalid", port: 1)
        }
    }

    @Test func delayFaultDelaysEachAnswer() async throws {
        let vpcd = try FakeVPCD()
        let session = try await VirtualCardSession.insert(desfire.with(.delay(.milliseconds(80))), port: vpcd.port)
        try await vpcd.accept()
        let start = ContinuousClock.now
        #expect(try await vpcd.transmit(DESFireITSOTests.getUID) == hex("04 11 22 33 44 55 66 90 00"))
        #expect(try await vpcd.transmit(DESFireITSOTests.select) == hex("91 00"))
        // A lower bound, which no slowness can break: each answer waited its 80 ms.
        #expect(ContinuousClock.now - start >= .milliseconds(160))
        await session.remove()
    }

    /// vpcd's controls (power, ATR) are answered at once, whatever the delay fault: with an
    /// hour's delay, a delayed ATR would miss FakeVPCD's 5 s receive timeout by an hour.
    @Test func delayFaultLeavesControlsAlone() async throws {
        let vpcd = try FakeVPCD()
        let session = try await VirtualCardSession.insert(desfire.with(.delay(.seconds(3600))), port: vpcd.port)
        try await vpcd.accept()
        vpcd.send(getATR)
        #expect(try await vpcd.receive() == ContactlessATR.desfire)
        await session.remove()
    }

    @Test func garbageOverTheWire() async throws {
        let vpcd = try FakeVPCD()
        let session = try await VirtualCardSession.insert(desfire.with(.garbage(seed: 3)), port: vpcd.port, seed: 3)
        try await vpcd.accept()
        let expected = desfire.with(.garbage(seed: 3)).respond(to: [DESFireITSOTests.getUID, DESFireITSOTests.select])
        #expect(try await vpcd.transmit(DESFireITSOTests.getUID) == expected[0])
        #expect(try await vpcd.transmit(DESFireITSOTests.select) == expected[1])
        await session.remove()
    }

    /// APDUs one after another on one connection are each answered. vpcd's split writes
    /// meet Nagle on its side, so without TCP_QUICKACK on ours every APDU would wait for a
    /// delayed ACK (~40 ms): how fast they go is scripts/bench-scan's to measure, not a test's.
    @Test func thirtyAPDUsInARowAreEachAnswered() async throws {
        let vpcd = try FakeVPCD()
        let session = try await VirtualCardSession.insert(desfire, port: vpcd.port)
        try await vpcd.accept()
        vpcd.send(powerOn)
        for _ in 0..<30 {
            #expect(try await vpcd.transmit(DESFireITSOTests.getUID) == hex("04 11 22 33 44 55 66 90 00"))
        }
        await session.remove()
    }

    @Test func observerSeesEveryEvent() async throws {
        let vpcd = try FakeVPCD()
        let events = EventLog()
        let session = try await VirtualCardSession.insert(.classic1K(), port: vpcd.port) { events.append($0) }
        try await vpcd.accept()
        vpcd.send(powerOn)
        vpcd.send(getATR)
        _ = try await vpcd.receive()
        _ = try await vpcd.transmit(DESFireITSOTests.getUID)
        await session.remove()
        #expect(events.all == [
            .poweredOn, .atrSent(ContactlessATR.classic1K), .received(command: DESFireITSOTests.getUID),
            .answered(command: DESFireITSOTests.getUID, response: hex("11 22 33 44 90 00")), .ended(.removed),
        ])
    }

    @Test func randomUIDIsNewPerTap() async throws {
        var uids: Set<[UInt8]> = []
        for _ in 0..<3 {
            let vpcd = try FakeVPCD()
            let session = try await VirtualCardSession.insert(.desfireRandomUID(), port: vpcd.port)
            try await vpcd.accept()
            let answer = try #require(try await vpcd.transmit(DESFireITSOTests.getUID))
            #expect(answer.count == 6 && answer[0] == 0x08)
            uids.insert(answer)
            await session.remove()
        }
        #expect(uids.count == 3)
    }
}

/// Collects observer events from the card's thread.
final class EventLog: Sendable {
    private let events = Mutex<[VirtualCardSession.Event]>([])
    func append(_ event: VirtualCardSession.Event) { events.withLock { $0.append(event) } }
    var all: [VirtualCardSession.Event] { events.withLock { $0 } }
}
