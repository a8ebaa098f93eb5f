import ArgumentParser
import Foundation
import NECCard
import NECConfiguration
import NECProtocol
import PCSC

#if canImport(Glibc)
import Glibc
#endif

/// `necctl debuginfo`: one text file with everything a developer asks for first in a bug
/// report, with card numbers, UIDs, pupil references and keys masked (see ``Redactor``).
struct DebugInfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debuginfo",
        abstract: "Write one text file for a bug report: versions, services, logs, readers, USB, doctor, configuration.",
        discussion: """
            Card numbers (ISRNs), chip UIDs, pupil references and keys are masked in everything collected. \
            Read the file before you send it. Run it as root to include the system journal.
            With --redact FILE, masks FILE (a log or a list you mean to attach) and prints it instead.
            """
    )

    @Option(help: ArgumentHelp("The file to write (default necd-debuginfo-HOST-DATE.txt here; '-' for standard output).", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("Only mask FILE ('-' for standard input) and print it; a .csv file has its pupil and card columns masked.", valueName: "file"))
    var redact: String?

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let redactor = Redactor()
        if let redact {
            try redactFile(redact, redactor)
            return
        }
        let text = await DebugReport(options: options).collect(redactor: redactor)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.dateFormat = "yyyyMMdd-HHmmss"
        let path = output ?? "necd-debuginfo-\(host)-\(day.string(from: Date())).txt"
        if path == "-" {
            Output.write(Array(text.utf8))
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            printError("necctl: cannot write \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(2)
        }
        let lines = text.reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
        printOut("wrote \(path) (\(lines) lines); read it, then attach it to the bug report")
    }

    private func redactFile(_ path: String, _ redactor: Redactor) throws {
        let data: Data
        if path == "-" {
            do {
                data = try FileHandle.standardInput.readToEnd() ?? Data()
            } catch {
                printError("necctl: cannot read standard input: \(error.localizedDescription)")
                throw ExitCode(2)
            }
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                printError("necctl: cannot read \(path)")
                throw ExitCode(2)
            }
            data = contents
        }
        let text = String(decoding: data, as: UTF8.self)
        let masked = path.lowercased().hasSuffix(".csv") ? redactor.redactCSV(text) : redactor.redact(text)
        Output.write(Array(masked.utf8))
    }
}

/// Collects the sections of the debug-info file, every one of them through the redactor.
struct DebugReport {
    let options: ConfigOptions

    func collect(redactor: Redactor) async -> String {
        var sections: [(String, String)] = []
        sections.append(("versions", versions()))
        if ExternalCommand.locate("systemctl") != nil {
            sections.append(("systemctl status", command(["systemctl", "status", "--no-pager", "--full", "necd", "necd.socket", "pcscd.socket", "pcscd"])))
        }
        if ExternalCommand.locate("journalctl") != nil {
            sections.append((
                "journal (today)",
                command(["journalctl", "--no-pager", "-u", "necd", "-u", "pcscd", "--since", "today", "-n", "3000"], timeout: .seconds(20))))
        }
        sections.append(("readers (PC/SC)", readers()))
        sections.append(("USB devices", usbDevices()))
        sections.append(("kernel modules of interest", modules()))
        let findings = await Doctor(options: options).run()
        let summary = DoctorSummary(findings)
        sections.append((
            "necctl doctor",
            (findings.map { $0.text(colour: false) } + [summary.text, "exit \(summary.exitCode)"]).joined(separator: "\n")))
        sections.append(configurationFile())
        let header = """
            necd debug information, written \(UTCTimestamp.string(secondsSince1970: Date().timeIntervalSince1970, fractionalSeconds: false)) by necctl \(ProtocolVersion.release)
            Card numbers, chip UIDs, pupil references and keys are masked. Read it before sending it.
            """
        // The header is ours and names what is masked, so it alone is not redacted.
        let body = sections.map { "\n===== \($0.0) =====\n" + $0.1.trimmingCharacters(in: .newlines) + "\n" }.joined()
        return header + "\n" + redactor.redact(body)
    }

    private func command(_ arguments: [String], timeout: Duration = .seconds(10)) -> String {
        let shown = "$ " + arguments.joined(separator: " ")
        guard let outcome = ExternalCommand.run(arguments, timeout: timeout) else {
            return shown + "\n(not available)"
        }
        var text = shown + "\n" + outcome.output
        if outcome.timedOut { text += "\n(stopped after \(timeout))" } else if let status = outcome.status, status != 0 {
            text += "\n(exit \(status))"
        }
        return text
    }

    private func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func versions() -> String {
        var lines = ["necctl          \(ProtocolVersion.release)"]
        let necd = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("necd").path,
        ].first { FileManager.default.isExecutableFile(atPath: $0) } ?? ExternalCommand.locate("necd")
        if let necd, let outcome = ExternalCommand.run([necd, "--version"], timeout: .seconds(5)) {
            lines.append("necd            " + outcome.output.trimmingCharacters(in: .whitespacesAndNewlines) + "  (\(necd))")
        } else {
            lines.append("necd            not found")
        }
        lines.append("pcscd           " + (Doctor.pcscdVersion() ?? "not found"))
        if let packages = ExternalCommand.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\n",
             "pcscd", "libpcsclite1", "libccid", "libsqlite3-0", "vsmartcard-vpcd", "necd"], timeout: .seconds(5))
        {
            lines.append("packages:\n" + packages.output.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        lines.append("kernel          " + (read("/proc/version") ?? "unknown"))
        lines.append("debian          " + (read("/etc/debian_version") ?? "not Debian"))
        if let release = read("/etc/os-release"),
            let pretty = release.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") })
        {
            lines.append("os              " + pretty.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
        }
        return lines.joined(separator: "\n")
    }

    private func readers() -> String {
        let context: PCSCContext
        do {
            context = try PCSCContext.establish()
        } catch {
            return "pcscd not reachable: \(error)"
        }
        defer { try? context.release() }
        let names: [String]
        do {
            names = try context.listReaders()
        } catch .noReadersAvailable {
            return "no readers"
        } catch {
            return "pcscd could not list readers: \(error)"
        }
        var states = names.map { ReaderState(reader: $0) }
        try? context.statusChange(&states, timeout: 0)
        return states.map { state in
            var line = "\(state.reader): \(ReaderStateName.of(state.eventState)) [\(state.eventState)]"
            if state.eventState.contains(.present) && !state.atr.isEmpty {
                line += "\n  ATR " + Hex.spaced(state.atr)
            }
            return line
        }.joined(separator: "\n")
    }

    private func usbDevices() -> String {
        if ExternalCommand.locate("lsusb") != nil {
            return command(["lsusb"]) + "\n\n" + command(["lsusb", "-t"])
        }
        let base = "/sys/bus/usb/devices"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: base) else {
            return "no lsusb and no \(base) (no USB on this machine?)"
        }
        var lines = ["(lsusb not installed: apt-get install usbutils; from \(base))"]
        for entry in entries.sorted() where !entry.contains(":") {
            let device = base + "/" + entry
            guard let vendor = read(device + "/idVendor"), let product = read(device + "/idProduct") else { continue }
            let name = [read(device + "/manufacturer"), read(device + "/product")].compactMap { $0 }.joined(separator: " ")
            let power = read(device + "/power/control").map { " power/control=\($0)" } ?? ""
            let drivers = entries.filter { $0.hasPrefix(entry + ":") }.compactMap { interface -> String? in
                let link = try? FileManager.default.destinationOfSymbolicLink(atPath: base + "/" + interface + "/driver")
                return link.map { URL(fileURLWithPath: $0).lastPathComponent }
            }
            let driverText = drivers.isEmpty ? "" : " drivers=" + Set(drivers).sorted().joined(separator: ",")
            lines.append("\(entry)  \(vendor):\(product)  \(name)\(power)\(driverText)")
        }
        return lines.joined(separator: "\n")
    }

    private func modules() -> String {
        let interesting = ["pn533", "pn533_usb", "pn532_uart", "nfc", "port100", "nxp_nci", "st21nfca", "usbhid"]
        let loaded = (read("/proc/modules") ?? "").split(separator: "\n").filter { line in
            interesting.contains(String(line.split(separator: " ").first ?? ""))
        }
        var text = loaded.isEmpty ? "none of \(interesting.joined(separator: ", ")) loaded" : loaded.joined(separator: "\n")
        // modprobe.d(5) reads all of these; /etc overrides /run, which overrides /usr/lib and /lib.
        let directories = ["/etc/modprobe.d", "/run/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d"]
        let blacklists = directories.flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted().flatMap { file in
                (read(directory + "/" + file) ?? "").split(separator: "\n")
                    .filter { $0.contains("pn533") || $0.contains("nfc") }
                    .map { "\(directory)/\(file): \($0)" }
            }
        }
        text += "\n" + (blacklists.isEmpty ? "no modprobe.d line mentions pn533 or nfc" : blacklists.joined(separator: "\n"))
        return text
    }

    private func configurationFile() -> (String, String) {
        let path = options.config ?? NECConfiguration.defaultPath
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            let exists = FileManager.default.fileExists(atPath: path)
            return ("configuration \(path)", exists ? "(not readable by this user)" : "(no such file: all defaults)")
        }
        var body = text
        if options.database != nil || options.socket != nil {
            body += "\n# overridden on the command line: "
                + [options.database.map { "--database \($0)" }, options.socket.map { "--socket \($0)" }]
                .compactMap { $0 }.joined(separator: " ")
        }
        return ("configuration \(path)", body)
    }
}
