import Foundation
import Logging
import NECTestSupport
import Testing

@testable import NECDaemon

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An AF_UNIX datagram socket standing in for systemd's notification socket.
private final class NotifySocketListener {
    let fd: Int32
    /// The address to put in `NOTIFY_SOCKET`.
    let address: String

    /// Binds a path socket in `directory`, or an abstract one when `directory` is nil.
    init(directory: String?) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var name: [UInt8]
        if let directory {
            address = directory + "/notify"
            name = Array(address.utf8)
        } else {
            address = "@necd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            name = Array(address.utf8)
            name[0] = 0
        }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + name.count)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        try #require(bound == 0, "bind failed: \(String(cString: strerror(errno)))")
        // A receive that never comes must fail the test, not hang it.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram as text.
    func receive() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        try #require(count >= 0, "no notification arrived: \(String(cString: strerror(errno)))")
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    deinit { close(fd) }
}

@Suite("systemd notification")
struct SystemdNotifierTests {
    @Test("READY=1 arrives on a path NOTIFY_SOCKET")
    func readyOnPathSocket() throws {
        let scratch = ConfigurationScratch()
        let listener = try NotifySocketListener(directory: scratch.path)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.address])
        #expect(notifier.isEnabled)
        try notifier.ready(status: "serving 2 readers\nlist age 1 day")
        #expect(try listener.receive() == "READY=1\nSTATUS=serving 2 readers list age 1 day\n")
        try notifier.watchdog()
        #expect(try listener.receive() == "WATCHDOG=1\n")
        try notifier.stopping()
        #expect(try listener.receive() == "STOPPING=1\n")
        try notifier.status("waiting for pcscd")
        #expect(try listener.receive() == "STATUS=waiting for pcscd\n")
    }

    @Test("An '@' address is the abstract namespace")
    func abstractSocket() throws {
        let listener = try NotifySocketListener(directory: nil)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.address])
        try notifier.ready()
        #expect(try listener.receive() == "READY=1\n")
    }

    @Test("RELOADING=1 carries the monotonic clock in microseconds")
    func reloading() throws {
        let scratch = ConfigurationScratch()
        let listener = try NotifySocketListener(directory: scratch.path)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.address])
        var before = timespec()
        clock_gettime(CLOCK_MONOTONIC, &before)
        try notifier.reloading()
        var after = timespec()
        clock_gettime(CLOCK_MONOTONIC, &after)
        let fields = try listener.receive().split(separator: "\n")
        #expect(fields.count == 2)
        #expect(fields.first == "RELOADING=1")
        let value = try #require(fields.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
        #expect(fields.last?.hasPrefix("MONOTONIC_USEC=") == true)
        let low = UInt64(before.tv_sec) * 1_000_000 + UInt64(before.tv_nsec) / 1000
        let high = UInt64(after.tv_sec) * 1_000_000 + UInt64(after.tv_nsec) / 1000
        #expect(value >= low && value <= high)
    }

    @Test("Without NOTIFY_SOCKET every call does nothing")
    func disabled() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        try notifier.ready()
        try notifier.watchdog()
        #expect(notifier.watchdogInterval == nil)
    }

    @Test("Relative or oversized addresses are refused, a missing listener is an error")
    func badAddresses() {
        #expect(throws: SystemdNotifyError.unsupportedAddress("notify")) {
            try SystemdNotifier(environment: ["NOTIFY_SOCKET": "notify"]).ready()
        }
        let long = "/" + String(repeating: "n", count: 200)
        #expect(throws: SystemdNotifyError.unsupportedAddress(long)) {
            try SystemdNotifier(environment: ["NOTIFY_SOCKET": long]).ready()
        }
        #expect(throws: SystemdNotifyError.systemCall(call: "sendto", errno: ENOENT)) {
            try SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent-necd-test/notify"]).ready()
        }
    }

    @Test("The watchdog interval is half of WATCHDOG_USEC, for this process only")
    func watchdogInterval() {
        let own = String(getpid())
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": own])
        #expect(notifier.watchdogTimeout == .seconds(30))
        #expect(notifier.watchdogInterval == .seconds(15))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"]).watchdogTimeout == .seconds(30))
        #expect(SystemdNotifier.watchdogTimeout(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"], processID: 2) == nil)
        #expect(SystemdNotifier.watchdogTimeout(environment: ["WATCHDOG_USEC": "thirty"], processID: 2) == nil)
        #expect(SystemdNotifier.watchdogTimeout(environment: ["WATCHDOG_USEC": "0"], processID: 2) == nil)
        #expect(SystemdNotifier.watchdogTimeout(environment: ["WATCHDOG_USEC": "-5"], processID: 2) == nil)
        #expect(SystemdNotifier.watchdogTimeout(environment: [:], processID: 2) == nil)
    }
}

/// A listening or datagram AF_UNIX socket moved to a chosen descriptor number.
private func unixSocket(type: Int32, listening: Bool, in directory: String, name: String, at target: Int32) throws
    -> String
{
    let fd = socket(AF_UNIX, type, 0)
    try #require(fd >= 0)
    let path = directory + "/" + name
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    try #require(bound == 0)
    if listening { try #require(listen(fd, 8) == 0) }
    try #require(dup2(fd, target) == target)
    close(fd)
    return path
}

/// `count` consecutive free descriptor numbers, high enough not to disturb anything else.
private func freeDescriptors(_ count: Int32) throws -> Int32 {
    var base: Int32 = 900 + Int32.random(in: 0..<50) * 4
    while base < 2000 {
        if (0..<count).allSatisfy({ fcntl(base + $0, F_GETFD) < 0 && errno == EBADF }) { return base }
        base += count
    }
    throw CancellationError()
}

@Suite("systemd socket activation", .serialized)
struct SocketActivationTests {
    @Test("Passed listening sockets are taken with their names and made close-on-exec")
    func takesListeningSockets() throws {
        let scratch = ConfigurationScratch()
        let base = try freeDescriptors(2)
        defer { close(base); close(base + 1) }
        let path = try unixSocket(type: Int32(SOCK_STREAM.rawValue), listening: true, in: scratch.path, name: "a.sock", at: base)
        _ = try unixSocket(type: Int32(SOCK_STREAM.rawValue), listening: true, in: scratch.path, name: "b.sock", at: base + 1)
        let sockets = try SocketActivation.listeningSockets(
            environment: ["LISTEN_PID": String(getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "necd.socket:"],
            processID: getpid(), first: base)
        #expect(sockets == [
            ActivatedSocket(fileDescriptor: base, name: "necd.socket"),
            ActivatedSocket(fileDescriptor: base + 1, name: nil),
        ])
        #expect(fcntl(base, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(base + 1, F_GETFD) & FD_CLOEXEC != 0)

        // The descriptor is the real listener: a client connecting to the path is accepted on it.
        let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(connected == 0)
        let accepted = accept(sockets[0].fileDescriptor, nil, nil)
        #expect(accepted >= 0)
        close(accepted)
    }

    @Test("Sockets meant for another process, or no sockets at all, give an empty list")
    func notForUs() throws {
        #expect(try SocketActivation.listeningSockets(environment: [:], processID: getpid()).isEmpty)
        #expect(
            try SocketActivation.listeningSockets(
                environment: ["LISTEN_PID": String(getpid() + 1), "LISTEN_FDS": "1"], processID: getpid()
            ).isEmpty)
        #expect(
            try SocketActivation.listeningSockets(
                environment: ["LISTEN_PID": String(getpid()), "LISTEN_FDS": "0"], processID: getpid()
            ).isEmpty)
    }

    @Test("Malformed variables are errors")
    func malformed() {
        #expect(throws: SocketActivationError.malformedEnvironment(variable: "LISTEN_FDS", value: "two")) {
            try SocketActivation.listeningSockets(
                environment: ["LISTEN_PID": String(getpid()), "LISTEN_FDS": "two"], processID: getpid())
        }
        #expect(throws: SocketActivationError.malformedEnvironment(variable: "LISTEN_PID", value: "me")) {
            try SocketActivation.listeningSockets(environment: ["LISTEN_PID": "me", "LISTEN_FDS": "1"], processID: getpid())
        }
    }

    @Test("A datagram socket, an unlistening socket or a pipe is refused")
    func wrongKinds() throws {
        let scratch = ConfigurationScratch()
        let base = try freeDescriptors(1)
        defer { close(base) }
        let environment = ["LISTEN_PID": String(getpid()), "LISTEN_FDS": "1"]

        _ = try unixSocket(type: Int32(SOCK_DGRAM.rawValue), listening: false, in: scratch.path, name: "d.sock", at: base)
        #expect(throws: SocketActivationError.notUnixStreamListener(fileDescriptor: base, reason: "socket type 2, not SOCK_STREAM")) {
            try SocketActivation.listeningSockets(environment: environment, processID: getpid(), first: base)
        }
        close(base)
        _ = try unixSocket(type: Int32(SOCK_STREAM.rawValue), listening: false, in: scratch.path, name: "s.sock", at: base)
        #expect(throws: SocketActivationError.notUnixStreamListener(fileDescriptor: base, reason: "not listening (use ListenStream=, Accept=no)")) {
            try SocketActivation.listeningSockets(environment: environment, processID: getpid(), first: base)
        }
        close(base)
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        close(ends[1])
        try #require(dup2(ends[0], base) == base)
        close(ends[0])
        #expect(throws: SocketActivationError.notUnixStreamListener(fileDescriptor: base, reason: "not a socket")) {
            try SocketActivation.listeningSockets(environment: environment, processID: getpid(), first: base)
        }
        close(base)
        #expect(throws: SocketActivationError.systemCall(call: "fcntl(F_GETFD)", fileDescriptor: base, errno: EBADF)) {
            try SocketActivation.listeningSockets(environment: environment, processID: getpid(), first: base)
        }
    }

    @Test("Taking the sockets removes the variables from the environment")
    func unsetsEnvironment() throws {
        setenv("LISTEN_PID", String(getpid() + 1), 1)
        setenv("LISTEN_FDS", "1", 1)
        setenv("LISTEN_FDNAMES", "necd.socket", 1)
        #expect(try SocketActivation.takeListeningSockets().isEmpty)
        #expect(getenv("LISTEN_PID") == nil)
        #expect(getenv("LISTEN_FDS") == nil)
        #expect(getenv("LISTEN_FDNAMES") == nil)
    }

    @Test(
        "systemd-socket-activate passes a socket the way systemd does",
        .needs(tool: "systemd-socket-activate", package: "systemd"), .needs(tool: "python3", package: "python3"))
    func withSystemdSocketActivate() throws {
        // The variables a real activator sets, and the descriptor it passes, as seen by a child:
        // this pins down the protocol the in-process tests above assume.
        let scratch = ConfigurationScratch()
        let socketPath = scratch.path + "/activated.sock"
        let probe = """
            import os, socket
            s = socket.socket(fileno=3)
            print(os.environ["LISTEN_FDS"], os.environ["LISTEN_PID"] == str(os.getpid()), os.environ["LISTEN_FDNAMES"],
                  s.family == socket.AF_UNIX, s.type == socket.SOCK_STREAM,
                  s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-socket-activate")
        process.arguments = ["--listen=\(socketPath)", "--fdname=necd.socket", "/usr/bin/python3", "-c", probe]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // systemd-socket-activate waits for a first connection before starting the child.
        var connected = false
        for _ in 0..<100 where !connected {
            let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socketPath.utf8)) }
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
                }
            }
            close(client)
            if !connected { usleep(50_000) }
        }
        #expect(connected)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(text == "1 True necd.socket True True 1\n")
    }
}

@Suite("journal log handler")
struct JournalLogHandlerTests {
    private static func event(_ level: Logger.Level, _ message: Logger.Message, _ metadata: Logger.Metadata? = nil) -> LogEvent {
        LogEvent(level: level, message: message, metadata: metadata, source: nil, file: #fileID, function: #function, line: #line)
    }

    @Test("Under journald every line carries its syslog priority")
    func journalFormat() {
        let handler = JournalLogHandler(label: "necd", format: .journal, logLevel: .info)
        let when = timespec(tv_sec: 0, tv_nsec: 0)
        #expect(handler.render(event: Self.event(.warning, "list is stale"), metadata: [:], now: when) == "<4>necd: list is stale\n")
        #expect(handler.render(event: Self.event(.critical, "x"), metadata: [:], now: when) == "<2>necd: x\n")
        #expect(
            handler.render(event: Self.event(.info, "two\nlines"), metadata: ["reader": "ACS ACR1252 01 00", "seq": "42"], now: when)
                == "<6>necd: two\n<6>necd: lines reader=\"ACS ACR1252 01 00\" seq=42\n")
        #expect(Logger.Level.allCases.map(JournalLogHandler.syslogPriority) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test("Outside journald lines start with a UTC timestamp and the level")
    func plainFormat() {
        let handler = JournalLogHandler(label: "necd.pcsc", format: .plain, logLevel: .info)
        let when = timespec(tv_sec: 1_795_780_862, tv_nsec: 123_456_789)
        #expect(
            handler.render(event: Self.event(.error, "pcscd gone"), metadata: ["note": "a \"b\"\n"], now: when)
                == "2026-11-27T12:01:02.123Z error necd.pcsc: pcscd gone note=\"a \\\"b\\\"\\n\"\n")
    }

    @Test("Logging through a Logger reaches the sink with merged metadata, above the level only")
    func throughLogger() {
        let lines = LockedLines()
        var handler = JournalLogHandler(label: "necd", format: .journal, logLevel: .notice) { lines.append($0) }
        handler[metadataKey: "unit"] = "test"
        var logger = Logger(label: "necd") { _ in handler }
        logger[metadataKey: "lane"] = "till-1"
        logger.info("hidden")
        logger.notice("shown", metadata: ["seq": "7"])
        #expect(lines.all == ["<5>necd: shown lane=till-1 seq=7 unit=test\n"])
    }

    @Test("The journal format is chosen only when stderr is the JOURNAL_STREAM")
    func detectsJournalStream() throws {
        let scratch = ConfigurationScratch()
        let path = scratch.write("stream", "")
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var status = stat()
        try #require(fstat(fd, &status) == 0)
        let matching = "\(status.st_dev):\(status.st_ino)"
        #expect(JournalLogHandler.format(environment: ["JOURNAL_STREAM": matching], standardErrorDescriptor: fd) == .journal)
        #expect(JournalLogHandler.format(environment: ["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino + 1)"], standardErrorDescriptor: fd) == .plain)
        #expect(JournalLogHandler.format(environment: ["JOURNAL_STREAM": "garbage"], standardErrorDescriptor: fd) == .plain)
        #expect(JournalLogHandler.format(environment: [:], standardErrorDescriptor: fd) == .plain)
    }

    @Test("NECD_LOG_LEVEL sets the level; unknown names fall back to info")
    func levelFromEnvironment() {
        #expect(JournalLogHandler.logLevel(environment: [:]) == .info)
        #expect(JournalLogHandler.logLevel(environment: ["NECD_LOG_LEVEL": "debug"]) == .debug)
        #expect(JournalLogHandler.logLevel(environment: ["NECD_LOG_LEVEL": "WARNING"]) == .warning)
        #expect(JournalLogHandler.logLevel(environment: ["NECD_LOG_LEVEL": "warn"]) == .warning)
        #expect(JournalLogHandler.logLevel(environment: ["NECD_LOG_LEVEL": "loud"]) == .info)
    }
}

/// Lines collected from a sink that may be called from any thread.
private final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ bytes: [UInt8]) { lock.withLock { lines.append(String(decoding: bytes, as: UTF8.self)) } }
    var all: [String] { lock.withLock { lines } }
}
