import Entitlements
import Foundation
import NECCard
import NECClient
import NECConfiguration
import NECProtocol
import PCSC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The checks of `necctl doctor`, in the order a technician works through them: the
/// configuration, pcscd and the readers under it, the kernel and USB, necd and its socket,
/// the list and the database, then the clock.
struct Doctor {
    /// Where /proc and /sys are; "/" except when a test points it at a fake tree.
    var systemRoot = ProcessInfo.processInfo.environment["NECCTL_SYSTEM_ROOT"] ?? "/"
    /// The clock the checks compare against.
    var now = Date()
    let options: ConfigOptions

    init(options: ConfigOptions) {
        self.options = options
    }

    /// Runs every check.
    func run() async -> [Finding] {
        var findings: [Finding] = []
        let configuration: NECConfiguration
        do {
            configuration = try options.resolve()
            findings.append(.ok("config", configuration.source.map { "read \($0)" } ?? "no \(NECConfiguration.defaultPath): all defaults"))
        } catch {
            findings.append(.fault("config", error.description, fix: Self.configurationFix(error)))
            var defaults = NECConfiguration()
            options.applyOverrides(to: &defaults)
            configuration = defaults
        }
        let pcsc = pcscChecks(configuration)
        findings += pcsc
        findings.append(pn533Check())
        findings.append(autosuspendCheck())
        let pcscdReachable = pcsc.first { $0.check == "pcscd" }?.status == .ok
        findings.append(await necdCheck(configuration, pcscdReachable: pcscdReachable))
        findings.append(socketCheck(configuration))
        findings += databaseChecks(configuration)
        findings.append(timeZoneCheck(configuration))
        return findings
    }

    /// The fix for a configuration that cannot be loaded: what to do differs by why.
    static func configurationFix(_ error: ConfigurationError) -> String {
        let example = "/usr/share/doc/necd/necd.toml.example"
        switch error {
        case .fileMissing(let path):
            return "no file at \(path): check the --config path, or create the file (\(example) lists every key)"
        case .unreadable:
            return "check the file's owner and mode (root:necd 0640) or run as root: sudo necctl doctor"
        case .syntax, .unknownKey, .wrongType, .badValue:
            return "correct that line of the file (every key is listed in \(example)), then restart necd"
        }
    }

    // MARK: pcscd and readers

    private func pcscChecks(_ configuration: NECConfiguration) -> [Finding] {
        let version = Self.pcscdVersion().map { " (pcsc-lite \($0))" } ?? ""
        let context: PCSCContext
        do {
            context = try PCSCContext.establish()
        } catch {
            return [
                .fault(
                    "pcscd", "not reachable\(version): \(error)",
                    fix: "systemctl enable --now pcscd.socket (apt-get install pcscd if it is missing)"),
                .fault("readers", "not checked: pcscd is not reachable", fix: "fix pcscd first"),
            ]
        }
        defer { try? context.release() }
        var findings: [Finding] = [.ok("pcscd", "running\(version)")]
        do {
            let names = try context.listReaders()
            findings.append(names.isEmpty ? Self.noReaders : Self.readersFinding(names, configuration.readers))
        } catch .noReadersAvailable {
            findings.append(Self.noReaders)
        } catch {
            findings.append(.fault("readers", "pcscd could not list readers: \(error)", fix: "systemctl restart pcscd"))
        }
        return findings
    }

    /// The readers pcscd lists, and a warning for any `[[reader]]` table that matches none of
    /// them: a till reader renamed by a replug or a new model silently becomes an unlabelled till.
    private static func readersFinding(_ names: [String], _ rules: [ReaderRule]) -> Finding {
        let detail = "\(names.count): " + names.joined(separator: ", ")
        let unmatched = rules.filter { rule in !names.contains { rule.matches($0) } }
        guard !unmatched.isEmpty else { return .ok("readers", detail) }
        let described = unmatched.map { rule in
            "match = \"\(rule.match)\"" + (rule.lane.map { " (lane \($0))" } ?? "")
        }
        return .warning(
            "readers", detail + "; no reader matches [[reader]] " + described.joined(separator: ", "),
            fix: "plug that reader in, or correct the match glob in necd.toml to one of these names")
    }

    private static let noReaders = Finding.fault(
        "readers", "pcscd sees no reader",
        fix: "plug the reader in; if lsusb lists it but pcscd does not, see pn533_usb below or apt-get install libccid")

    /// `pcsc-lite version 1.9.9.` from pcscd, else the Debian package's version.
    static func pcscdVersion() -> String? {
        if let outcome = ExternalCommand.run(["pcscd", "--version"], timeout: .seconds(3)),
            let line = outcome.output.split(separator: "\n").first(where: { $0.contains("version") }),
            let word = line.split(separator: " ").last
        {
            return String(word.hasSuffix(".") ? word.dropLast() : word)
        }
        if let outcome = ExternalCommand.run(["dpkg-query", "-W", "-f", "${Version}", "pcscd"], timeout: .seconds(3)),
            outcome.status == 0, !outcome.output.isEmpty
        {
            return outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return nil
    }

    // MARK: Kernel and USB

    private func path(_ absolute: String) -> String {
        systemRoot == "/" ? absolute : systemRoot + absolute
    }

    private func pn533Check() -> Finding {
        let modules = (try? String(contentsOfFile: path("/proc/modules"), encoding: .utf8)) ?? ""
        let names: [String] = modules.split(separator: "\n").map { line in String(line.prefix { $0 != " " }) }
        let loaded = names.filter { $0 == "pn533_usb" || $0 == "pn533" }
        let driver = path("/sys/bus/usb/drivers/pn533_usb")
        let bound = ((try? FileManager.default.contentsOfDirectory(atPath: driver)) ?? [])
            .filter { $0.first?.isNumber == true && $0.contains(":") }
            .sorted()
        let fix = "printf 'blacklist pn533_usb\\nblacklist pn533\\nblacklist nfc\\n' > /etc/modprobe.d/necd-blacklist-pn533.conf"
            + " (make install puts the same file in /usr/lib/modprobe.d); modprobe -r pn533_usb pn533 nfc; unplug and replug the reader"
        if !bound.isEmpty {
            return .fault(
                "pn533", "the kernel's pn533_usb holds a reader (\(bound.joined(separator: ", "))): pcscd cannot use it",
                fix: fix)
        }
        if !loaded.isEmpty {
            return .warning(
                "pn533", "kernel module \(loaded.joined(separator: ", ")) loaded: it grabs ACR122U/PN53x readers when plugged",
                fix: fix)
        }
        return .ok("pn533", "pn533_usb not loaded")
    }

    /// Vendors of contactless readers people put on tills, for readers that are not CCID class.
    static let readerVendors: [String: String] = [
        "072f": "ACS", "076b": "HID Omnikey", "04e6": "Identiv/SCM", "1fc9": "NXP", "0471": "Philips/NXP",
        "04cc": "ST-Ericsson (PN533)", "0c4b": "Reiner SCT", "08e6": "Gemalto", "0ca6": "Castles",
    ]

    /// One USB smart-card reader as sysfs shows it.
    struct USBReader {
        var port: String
        var vendor: String
        var product: String
        var name: String
        var powerControl: String?
    }

    /// USB devices with a CCID interface or a known reader vendor.
    func usbReaders() -> [USBReader] {
        let base = path("/sys/bus/usb/devices")
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted()
        func read(_ file: String) -> String? {
            (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var readers: [USBReader] = []
        for entry in entries where !entry.contains(":") {
            let device = base + "/" + entry
            guard let vendor = read(device + "/idVendor"), let product = read(device + "/idProduct") else { continue }
            let isCCID = entries.contains { interface in
                interface.hasPrefix(entry + ":") && read(base + "/" + interface + "/bInterfaceClass") == "0b"
            }
            guard isCCID || Self.readerVendors[vendor.lowercased()] != nil else { continue }
            let name = [read(device + "/manufacturer"), read(device + "/product")].compactMap { $0 }.joined(separator: " ")
            readers.append(USBReader(
                port: entry, vendor: vendor, product: product,
                name: name.isEmpty ? (Self.readerVendors[vendor.lowercased()] ?? "smart-card reader") : name,
                powerControl: read(device + "/power/control")))
        }
        return readers
    }

    private func autosuspendCheck() -> Finding {
        let readers = usbReaders()
        guard !readers.isEmpty else { return .ok("usb-power", "no USB smart-card reader found to check") }
        let suspended = readers.filter { $0.powerControl == "auto" }
        let described = readers.map { "\($0.vendor):\($0.product) \($0.name) at \($0.port)" }
        if suspended.isEmpty {
            return .ok("usb-power", "autosuspend off for " + described.joined(separator: ", "))
        }
        let ports = suspended.map(\.port)
        return .warning(
            "usb-power",
            "USB autosuspend is on for " + suspended.map { "\($0.vendor):\($0.product) \($0.name) at \($0.port)" }
                .joined(separator: ", ") + ": readers miss taps after idle",
            fix: ports.map { "echo on > /sys/bus/usb/devices/\($0)/power/control" }.joined(separator: "; ")
                + " (for good: a udev rule ATTR{power/control}=\"on\" for the reader)")
    }

    // MARK: necd and its socket

    /// necd's answer to `status`. The reader count is shown only while necd has a pcscd
    /// context and doctor reached pcscd itself: with pcscd down, a daemon's last count is
    /// old news, and "2 readers" beside "pcscd not reachable" sends people the wrong way.
    private func necdCheck(_ configuration: NECConfiguration, pcscdReachable: Bool) async -> Finding {
        let socket = configuration.socket
        let client = NECClient(socketPath: socket)
        let fix = "systemctl enable --now necd.socket necd; journalctl -u necd -e shows why it stopped"
        do {
            let status = try await Self.withTimeout(.seconds(5)) { try await client.status() }
            var parts = ["release \(status.release)", "up \(Self.duration(status.uptime))"]
            parts.append(status.pcscdConnected ? "pcscd connected" : "NO pcscd context")
            if status.pcscdConnected && pcscdReachable {
                parts.append("\(status.readerCount) reader\(status.readerCount == 1 ? "" : "s")")
            } else {
                parts.append("readers unknown while pcscd is unreachable")
            }
            if let seq = status.lastSeq { parts.append("last seq \(seq)") }
            if let clients = status.clients { parts.append("\(clients) client\(clients == 1 ? "" : "s")") }
            let detail = "answering on \(socket): " + parts.joined(separator: ", ")
            if !status.pcscdConnected || !pcscdReachable {
                return .warning("necd", detail, fix: "see the pcscd check; necd reconnects by itself once pcscd runs")
            }
            return .ok("necd", detail)
        } catch let error as NECClientError {
            guard case .cannotConnect = error else {
                return .fault("necd", "not answering on \(socket): \(error.description)", fix: fix)
            }
            // The client's reason names socket calls; ask the socket what is wrong, in words.
            guard let problem = SocketProblem.diagnose(socket, group: configuration.socketGroup) else {
                return .fault("necd", "not answering on \(socket): the connection failed, then worked when checked again", fix: fix)
            }
            switch problem.kind {
            case .missing, .refused:
                return .fault("necd", "not running: \(problem.summary)", fix: fix)
            case .permissionDenied:
                // Not necd's fault: this user may not talk to it (the socket check says whether tills can).
                return .warning("necd", problem.summary, fix: problem.fix + "; or: sudo necctl doctor")
            case .notASocket, .other:
                return .fault("necd", "not answering: \(problem.summary)", fix: problem.fix)
            }
        } catch {
            return .fault("necd", "not answering on \(socket) within 5 s", fix: "systemctl restart necd; " + fix)
        }
    }

    private func socketCheck(_ configuration: NECConfiguration) -> Finding {
        let socket = configuration.socket
        var info = stat()
        guard lstat(socket, &info) == 0 else {
            let code = errno
            if code == EACCES {
                // Its folder hides it from this user: not a fault of the till's setup.
                return .warning(
                    "socket", "\(socket): this user may not look into its folder",
                    fix: "run as root to check the socket: sudo necctl doctor")
            }
            let reason = String(cString: strerror(code))
            return .fault("socket", "\(socket): \(reason)", fix: "systemctl enable --now necd.socket (it creates the socket)")
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            return .fault("socket", "\(socket) is not a socket", fix: "remove it and restart necd.socket")
        }
        let mode = info.st_mode & 0o7777
        let owner = getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) } ?? String(info.st_uid)
        let group = getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } ?? String(info.st_gid)
        let detail = "\(socket) owner \(owner), group \(group), mode \(String(mode, radix: 8))"
        let expectedGroup = configuration.socketGroup
        let fix = "SocketMode=0660 and SocketGroup=\(expectedGroup) in necd.socket (socket_group in necd.toml without systemd), then systemctl restart necd.socket"
        // Connecting to a Unix socket needs write permission on it.
        let anyone = mode & 0o002 != 0
        let groupMayConnect = mode & 0o020 != 0
        var problems: [String] = []
        if !groupMayConnect { problems.append("group \(group) cannot connect (mode \(String(mode, radix: 8)))") }
        if group != expectedGroup { problems.append("group is \(group), not socket_group \(expectedGroup)") }
        // Tills run as users in socket_group: unless everyone may connect, either problem
        // above leaves every till unable to open the socket.
        if !problems.isEmpty && !anyone {
            return .fault("socket", detail + ": no till can connect: " + problems.joined(separator: ", "), fix: fix)
        }
        if anyone { problems.insert("anyone on the machine can connect", at: 0) }
        if problems.isEmpty { return .ok("socket", detail) }
        return .warning("socket", detail + ": " + problems.joined(separator: ", "), fix: fix)
    }

    // MARK: List, database, journal, clock

    private func databaseChecks(_ configuration: NECConfiguration) -> [Finding] {
        let database = configuration.database
        let importFix = "necctl list import FILE (the council's current list)"
        var info = stat()
        guard stat(database, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            return [
                .fault("list", "not checked: no database", fix: importFix),
                .fault("database", "\(database): \(reason)", fix: "\(importFix) creates it; or point --database/--config at the right one"),
                clockFinding(newestEvent: nil),
                .warning("journal", "not checked: no database", fix: "see the database check"),
            ]
        }
        let free = Self.freeSpace(of: database)
        let size = Int64(info.st_size) + Self.fileSize(database + "-wal")
        let sizeText = "\(Self.bytes(size)), \(free.map { Self.bytes($0) + " free" } ?? "free space unknown")"
        guard access(database, R_OK) == 0 else {
            let fix = "run as root or as a member of necd's group: sudo necctl doctor"
            return [
                .warning("list", "not checked: \(database) is not readable by this user", fix: fix),
                .warning("database", "\(database) is not readable by this user (\(sizeText))", fix: fix),
                clockFinding(newestEvent: nil),
                .warning("journal", "not checked: database not readable", fix: fix),
            ]
        }
        let health: DatabaseHealth
        do {
            health = try DatabaseHealth.inspect(path: database)
        } catch {
            let damaged = "\(error)".contains("malformed") || "\(error)".contains("not a database") || "\(error)".contains("corrupt")
            return [
                .fault("list", "not checked: the database cannot be read", fix: "see the database check"),
                .fault(
                    "database", "\(database) cannot be read: \(Self.oneLine(error))",
                    fix: damaged ? Self.damagedFix(database) : "check its owner and mode (necd:necd 0640) and the disk (dmesg)"),
                clockFinding(newestEvent: nil),
                .warning("journal", "not checked: database not readable", fix: "see the database check"),
            ]
        }
        var findings: [Finding] = []
        findings.append(listFinding(health, configuration))
        if !health.isIntact {
            let first = health.quickCheck.prefix(2).joined(separator: "; ")
            findings.append(.fault("database", "\(database) is damaged: \(first)", fix: Self.damagedFix(database)))
        } else if let free, free < 20 << 20 {
            findings.append(.fault(
                "database", "\(database): intact, \(sizeText): the disk is full, every tap will be declined unavailable",
                fix: "free space on that filesystem (journalctl --vacuum-size=100M, old logs, apt-get clean)"))
        } else if let free, free < 200 << 20 {
            findings.append(.warning(
                "database", "\(database): intact, \(sizeText): the disk is nearly full",
                fix: "free space on that filesystem (journalctl --vacuum-size=100M, old logs, apt-get clean)"))
        } else {
            findings.append(.ok("database", "\(database): intact, \(sizeText)"))
        }
        findings.append(clockFinding(newestEvent: health.newestEvent))
        findings.append(journalFinding(health, configuration))
        return findings
    }

    private static func damagedFix(_ database: String) -> String {
        "stop necd, move \(database) aside (keep it for the bug report), start necd and import the list again"
    }

    private func listFinding(_ health: DatabaseHealth, _ configuration: NECConfiguration) -> Finding {
        let importFix = "necctl list import FILE (the council's current list)"
        guard let list = health.list else {
            return .fault("list", health.hasSchema ? "no list imported" : "no necd tables in the database", fix: importFix)
        }
        let age = list.age(at: now)
        let signed = list.signer == nil ? "unsigned" : "signed"
        let detail = "\(list.rows) rows from \(list.file), imported \(Self.duration(age)) ago, \(signed)"
        if configuration.requireSignedLists {
            // necd declines every tap list_untrusted from a list its configuration does not trust.
            let signFix = "import the council's list with its signature: necctl list import FILE --signature FILE.sig"
                + " (signed by a key in trusted_list_keys)"
            guard let signer = list.signer else {
                return .fault(
                    "list", detail + ", but require_signed_lists is true: necd declines every tap list_untrusted",
                    fix: signFix)
            }
            let trusted = configuration.trustedListKeys.map { Data($0).base64EncodedString() }
            if !trusted.contains(signer) {
                return .fault(
                    "list", detail + " by a key not in trusted_list_keys (\(Self.keyPrefix(signer))...)"
                        + ": necd declines every tap list_untrusted",
                    fix: signFix + "; or add its public key to trusted_list_keys if the council really uses it")
            }
        }
        if list.isStale(at: now, policy: configuration.decisionPolicy) {
            let effect = configuration.staleListPolicy == .decline ? "every tap is declined list_stale" : "events say list_stale"
            return .warning(
                "list", detail + ": older than max_list_age (\(configuration.maxListAge) days), \(effect)",
                fix: "import the council's current list: " + importFix)
        }
        return .ok("list", detail)
    }

    /// The start of a base64 public key: enough to tell keys apart, short enough for a line.
    static func keyPrefix(_ key: String) -> String { String(key.prefix(8)) }

    /// An instant in UTC to the second, as the clock and journal findings show it.
    static func utc(_ date: Date) -> String {
        UTCTimestamp.string(secondsSince1970: date.timeIntervalSince1970, fractionalSeconds: false)
    }

    private func clockFinding(newestEvent: Date?) -> Finding {
        let fix = "set the clock: timedatectl set-ntp true (and let the till reach an NTP server)"
        var detail = Self.utc(now)
        if let synchronised = ExternalCommand.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], timeout: .seconds(3)),
            synchronised.status == 0
        {
            let value = synchronised.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if value == "yes" || value == "no" { detail += value == "yes" ? ", NTP synchronised" : ", NOT NTP synchronised" }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        if calendar.component(.year, from: now) < 2024 {
            return .fault("clock", detail + ": the clock is wrong (before 2024)", fix: fix)
        }
        if let newestEvent, newestEvent > now.addingTimeInterval(60) {
            return .fault(
                "clock", detail + ": before the newest stored event (\(Self.utc(newestEvent))); the clock went back",
                fix: fix)
        }
        return .ok("clock", detail)
    }

    private func journalFinding(_ health: DatabaseHealth, _ configuration: NECConfiguration) -> Finding {
        guard health.eventCount > 0, let oldest = health.oldestEvent, let newest = health.newestEvent else {
            return .ok("journal", "no events stored")
        }
        let detail = "\(health.eventCount) events, oldest \(Self.utc(oldest)), newest \(Self.utc(newest))"
        let limit = Double(configuration.eventRetention + 2) * 86_400
        if now.timeIntervalSince(oldest) > limit {
            return .warning(
                "journal", detail + ": older than event_retention (\(configuration.eventRetention) days)",
                fix: "necd prunes old events while it runs: check journalctl -u necd for errors")
        }
        return .ok("journal", detail)
    }

    private func timeZoneCheck(_ configuration: NECConfiguration) -> Finding {
        let zone = configuration.timeZone.identifier
        let origin = configuration.source == nil ? "default" : "configured"
        let system = TimeZone.current.identifier
        let detail = "\(zone) (\(origin)), system zone \(system)"
        let zoneFile = "/usr/share/zoneinfo/\(zone)"
        guard FileManager.default.fileExists(atPath: zoneFile) else {
            return .warning("time-zone", detail + ": no zone data at \(zoneFile)", fix: "apt-get install tzdata")
        }
        return .ok("time-zone", detail)
    }

    // MARK: Formatting and helpers

    static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds))
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" }
        if s < 172_800 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        return "\(s / 86_400) days"
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) bytes" : String(format: "%.1f %@", value, units[unit])
    }

    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Bytes an unprivileged writer may still use on the filesystem holding `path`.
    static func freeSpace(of path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// Why an operation gave up: it took longer than its limit.
    struct TimedOut: Error {}

    /// The result of `operation`, or ``TimedOut`` after `limit`. Does not wait for an
    /// operation that ignores cancellation: a stuck daemon must not make the doctor hang too.
    static func withTimeout<T: Sendable>(
        _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let once = Once()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                if once.claim() { continuation.resume(with: result) }
            }
            Task {
                try? await Task.sleep(for: limit)
                if once.claim() {
                    work.cancel()
                    continuation.resume(throwing: TimedOut())
                }
            }
        }
    }
}

/// True for the first caller of ``claim()`` only: which of two racing tasks resumes a continuation.
final class Once: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { done in
            defer { done = true }
            return !done
        }
    }
}
