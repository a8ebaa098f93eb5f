import Foundation
import GRDB
import NECTestSupport
import Testing

/// `necctl doctor` against real pcscd (the rig's), real SQLite files and a real (absent)
/// socket. Serialized: one test stops pcscd, which the others must not see.
@Suite(.serialized)
struct DoctorTests {
    /// A configuration in a scratch directory, with its socket and database beside it.
    private func config(_ scratch: Scratch, extra: String = "") throws -> String {
        try scratch.write("necd.toml", """
            socket = "necd.sock"
            database = "necd.sqlite"
            \(extra)
            """)
    }

    @Test(.needsRig)
    func pcscdStoppedIsAFaultAndExits2() async throws {
        try await PcscdLock.withPcscdToItself {
            let scratch = try Scratch()
            let path = try config(scratch)
            try await VirtualReaders.pcscd("kill")
            let result: ChildProcess.Result
            do {
                result = try await ChildProcess.necctl(["doctor", "--json", "--config", path])
            }
            try await VirtualReaders.pcscd("start")
            #expect(result.status == 2)
            let lines = try doctorLines(result.stdout)
            #expect(lines["pcscd"]?.status == "fault")
            #expect(lines["pcscd"]?.fix?.contains("pcscd") == true)
            #expect(lines["readers"]?.status == "fault")
            #expect(lines["summary"]?.status == "fault")

            // And with pcscd back, the same checks are ok and list the rig's readers.
            let again = try await ChildProcess.necctl(["doctor", "--json", "--config", path])
            let healed = try doctorLines(again.stdout)
            #expect(healed["pcscd"]?.status == "ok")
            #expect(healed["readers"]?.status == "ok")
            for reader in VirtualReaders.readers {
                #expect(healed["readers"]?.detail?.contains(reader) == true)
            }
        }
    }

    @Test(.needsRig)
    func readerTableThatMatchesNoReaderIsAWarning() async throws {
        try await PcscdLock.withPcscdRunning {
            let scratch = try Scratch()
            let matching = try config(scratch, extra: "[[reader]]\nmatch = \"\(VirtualReaders.readers[0])\"\nlane = \"till-1\"")
            let good = try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", matching]).stdout)
            #expect(good["readers"]?.status == "ok", "\(good["readers"]?.detail ?? "")")

            let stale = try config(scratch, extra: "[[reader]]\nmatch = \"ACS ACR1252*\"\nlane = \"till-9\"")
            let lines = try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", stale]).stdout)
            let readers = try #require(lines["readers"])
            #expect(readers.status == "warning")
            #expect(readers.detail?.contains("match = \"ACS ACR1252*\" (lane till-9)") == true)
        }
    }

    @Test func necdNotRunningIsAFault() async throws {
        let scratch = try Scratch()
        let result = try await ChildProcess.necctl(["doctor", "--json", "--config", try config(scratch)])
        #expect(result.status == 2)
        let lines = try doctorLines(result.stdout)
        let necd = try #require(lines["necd"])
        #expect(necd.status == "fault")
        #expect(necd.detail?.contains("not running") == true)
        #expect(necd.detail?.contains(scratch.file("necd.sock")) == true)
        #expect(lines["socket"]?.status == "fault")
        // Every line is a check with a status; not-ok ones carry a fix.
        for line in lines.values where line.check != "summary" {
            #expect(["ok", "warning", "fault"].contains(line.status))
            #expect((line.status == "ok") == (line.fix == nil), "\(line.check)")
        }
    }

    @Test func humanOutputSaysFaultAndTheFix() async throws {
        let scratch = try Scratch()
        let result = try await ChildProcess.necctl(["doctor", "--config", try config(scratch)])
        #expect(result.status == 2)
        #expect(result.stdout.contains("FAULT   necd"))
        #expect(result.stdout.contains("fix: systemctl enable --now necd.socket"))
        #expect(!result.stdout.contains("\u{1B}["), "no colour when standard output is not a terminal")
        #expect(result.stdout.split(separator: "\n").last?.contains("fault") == true)
    }

    @Test func missingDatabaseAndListAreFaultsWithTheImportFix() async throws {
        let scratch = try Scratch()
        let result = try await ChildProcess.necctl(["doctor", "--json", "--config", try config(scratch)])
        let lines = try doctorLines(result.stdout)
        #expect(lines["database"]?.status == "fault")
        #expect(lines["list"]?.status == "fault")
        #expect(lines["list"]?.fix?.contains("necctl list import") == true)
    }

    @Test func freshListIsOkAndStaleListIsAWarning() async throws {
        let scratch = try Scratch()
        let path = try config(scratch)
        let database = scratch.file("necd.sqlite")
        try await importGeneratedList(rows: 200, into: database, scratch: scratch)

        let fresh = try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", path]).stdout)
        #expect(fresh["list"]?.status == "ok")
        #expect(fresh["list"]?.detail?.contains("200 rows") == true)
        #expect(fresh["database"]?.status == "ok")
        #expect(fresh["database"]?.detail?.contains("intact") == true)

        // Eight days old, with the default max_list_age of 7.
        let queue = try DatabaseQueue(path: database)
        let eightDaysAgo = Int64((Date().timeIntervalSince1970 - 8 * 86_400) * 1000)
        try await queue.write { db in
            try db.execute(sql: "UPDATE list_version SET imported_at_ms = ? WHERE state = 'current'", arguments: [eightDaysAgo])
        }
        try queue.close()
        let stale = try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", path]).stdout)
        let list = try #require(stale["list"])
        #expect(list.status == "warning")
        #expect(list.detail?.contains("max_list_age (7 days)") == true)
        #expect(list.fix?.contains("necctl list import") == true)

        // A longer max_list_age in the configuration makes the same list fresh again.
        let relaxed = try config(scratch, extra: "max_list_age = 30")
        let ok = try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", relaxed]).stdout)
        #expect(ok["list"]?.status == "ok")
    }

    @Test func corruptedDatabaseIsAFault() async throws {
        let scratch = try Scratch()
        let path = try config(scratch)
        let database = scratch.file("necd.sqlite")
        try await importGeneratedList(rows: 3000, into: database, scratch: scratch)
        #expect(!FileManager.default.fileExists(atPath: database + "-wal") || Self.size(database + "-wal") == 0)

        // Overwrite four pages in the middle of the file.
        let size = Self.size(database)
        #expect(size > 64 * 1024)
        let handle = try #require(FileHandle(forUpdatingAtPath: database))
        try handle.seek(toOffset: UInt64(size / 2 / 4096 * 4096))
        handle.write(Data(repeating: 0xA5, count: 4 * 4096))
        try handle.close()

        let result = try await ChildProcess.necctl(["doctor", "--json", "--config", path])
        #expect(result.status == 2)
        let lines = try doctorLines(result.stdout)
        let check = try #require(lines["database"])
        #expect(check.status == "fault", "\(check.detail ?? "")")
        #expect(check.fix?.contains("move \(database) aside") == true)
    }

    @Test func configurationErrorIsAFaultAndTheRestStillRuns() async throws {
        let scratch = try Scratch()
        let path = try scratch.write("necd.toml", "max_list_age = \"seven\"\n")
        let result = try await ChildProcess.necctl(["doctor", "--json", "--config", path, "--socket", scratch.file("s.sock")])
        #expect(result.status == 2)
        let lines = try doctorLines(result.stdout)
        #expect(lines["config"]?.status == "fault")
        #expect(lines["config"]?.detail?.contains("necd.toml:1") == true)
        #expect(lines["necd"]?.detail?.contains(scratch.file("s.sock")) == true)
        #expect(lines["summary"] != nil)
    }

    @Test func pn533AndAutosuspendFromAFakeSysfs() async throws {
        let scratch = try Scratch()
        let root = scratch.file("root")
        let fm = FileManager.default
        func put(_ path: String, _ text: String) throws {
            let full = root + path
            try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try (text + "\n").write(toFile: full, atomically: true, encoding: .utf8)
        }
        try put("/proc/modules", "nfc 139264 1 pn533, Live 0x0\npn533_usb 20480 0 - Live 0x0\npn533 45056 1 pn533_usb, Live 0x0")
        try fm.createDirectory(atPath: root + "/sys/bus/usb/drivers/pn533_usb/1-1:1.0", withIntermediateDirectories: true)
        try put("/sys/bus/usb/drivers/pn533_usb/bind", "")
        // An ACR122U (PN533, vendor class) with autosuspend on, a CCID reader with it off,
        // and a keyboard that is neither.
        try put("/sys/bus/usb/devices/1-1/idVendor", "072f")
        try put("/sys/bus/usb/devices/1-1/idProduct", "2200")
        try put("/sys/bus/usb/devices/1-1/product", "ACR122U PICC Interface")
        try put("/sys/bus/usb/devices/1-1/power/control", "auto")
        try put("/sys/bus/usb/devices/1-1:1.0/bInterfaceClass", "ff")
        try put("/sys/bus/usb/devices/1-2/idVendor", "1234")
        try put("/sys/bus/usb/devices/1-2/idProduct", "5678")
        try put("/sys/bus/usb/devices/1-2/power/control", "on")
        try put("/sys/bus/usb/devices/1-2:1.0/bInterfaceClass", "0b")
        try put("/sys/bus/usb/devices/1-3/idVendor", "046d")
        try put("/sys/bus/usb/devices/1-3/idProduct", "c31c")
        try put("/sys/bus/usb/devices/1-3/power/control", "auto")
        try put("/sys/bus/usb/devices/1-3:1.0/bInterfaceClass", "03")

        let result = try await ChildProcess.necctl(
            ["doctor", "--json", "--config", try config(scratch)], environment: ["NECCTL_SYSTEM_ROOT": root])
        let lines = try doctorLines(result.stdout)
        let pn533 = try #require(lines["pn533"])
        #expect(pn533.status == "fault")
        #expect(pn533.detail?.contains("1-1:1.0") == true)
        #expect(pn533.fix?.contains("blacklist pn533_usb") == true)
        let power = try #require(lines["usb-power"])
        #expect(power.status == "warning")
        #expect(power.detail?.contains("072f:2200") == true)
        #expect(power.detail?.contains("1234:5678") == false, "the CCID reader has autosuspend off")
        #expect(power.detail?.contains("046d") == false, "a keyboard is not a reader")
        #expect(power.fix?.contains("echo on > /sys/bus/usb/devices/1-1/power/control") == true)

        // Module loaded but holding nothing: a warning, since it grabs the next PN53x plugged in.
        try fm.removeItem(atPath: root + "/sys/bus/usb/drivers/pn533_usb/1-1:1.0")
        let loaded = try doctorLines(
            try await ChildProcess.necctl(["doctor", "--json", "--config", try config(scratch)], environment: ["NECCTL_SYSTEM_ROOT": root]).stdout)
        #expect(loaded["pn533"]?.status == "warning")
    }

    /// Needs necd (the lead's daemon pipeline): NECD_TEST_DAEMON=1 and .build/debug/necd.
    @Test(.needsDaemon)
    func healthyTillExits0() async throws {
        try await PcscdLock.withPcscdRunning {
            let scratch = try Scratch()
            let group = String(cString: getgrgid(getgid()).pointee.gr_name)
            let path = try config(scratch, extra: "socket_group = \"\(group)\"")
            try await importGeneratedList(rows: 100, into: scratch.file("necd.sqlite"), scratch: scratch)
            let daemon = try ChildProcess(BuiltProducts.executable("necd"), ["--config", path])
            defer { daemon.stop() }
            try await waitForDaemon(config: path)
            let result = try await ChildProcess.necctl(["doctor", "--json", "--config", path])
            let lines = try doctorLines(result.stdout)
            for line in lines.values where line.status != "ok" {
                Issue.record("\(line.check): \(line.status): \(line.detail ?? "") (fix: \(line.fix ?? ""))")
            }
            #expect(result.status == 0)
            #expect(lines["necd"]?.detail?.contains("release") == true)
        }
    }

    /// pcscd stops under a running necd: doctor must not go on reporting the daemon's last
    /// reader count beside "pcscd not reachable".
    @Test(.needsDaemon)
    func noReaderCountWhilePcscdIsDown() async throws {
        try await PcscdLock.withPcscdToItself {
            let scratch = try Scratch()
            let group = String(cString: getgrgid(getgid()).pointee.gr_name)
            let path = try config(scratch, extra: "socket_group = \"\(group)\"")
            try await importGeneratedList(rows: 10, into: scratch.file("necd.sqlite"), scratch: scratch)
            let daemon = try ChildProcess(BuiltProducts.executable("necd"), ["--config", path])
            defer { daemon.stop() }
            try await waitForDaemon(config: path)
            // necd has seen the rig's readers before pcscd goes.
            let before = try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", path]).stdout)
            #expect(before["necd"]?.detail?.contains("\(VirtualReaders.readers.count) readers") == true, "\(before["necd"]?.detail ?? "")")

            try await VirtualReaders.pcscd("kill")
            let result: ChildProcess.Result
            do {
                result = try await ChildProcess.necctl(["doctor", "--json", "--config", path])
            }
            try await VirtualReaders.pcscd("start")
            let lines = try doctorLines(result.stdout)
            #expect(lines["pcscd"]?.status == "fault")
            let necd = try #require(lines["necd"])
            #expect(necd.status == "warning")
            let detail = necd.detail ?? ""
            #expect(detail.contains("readers unknown while pcscd is unreachable"), "\(detail)")
            #expect(detail.range(of: #"\b[0-9]+ readers?\b"#, options: .regularExpression) == nil, "a reader count while pcscd is down: \(detail)")
        }
    }

    private static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
}

/// Polls `necctl doctor` until necd answers on its socket (at most 20 s).
func waitForDaemon(config: String) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        let result = try await ChildProcess.necctl(["doctor", "--json", "--config", config])
        if (try? doctorLines(result.stdout))?["necd"]?.status != "fault" { return }
        try await Task.sleep(for: .milliseconds(200))
    }
    Issue.record("necd did not answer within 20 s")
}
