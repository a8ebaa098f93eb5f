import Foundation
import NECTestSupport
import Testing

/// The repository root, found from this file's path.
private let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

private func contents(_ relativePath: String) throws -> String {
    try String(contentsOfFile: repositoryRoot + "/" + relativePath, encoding: .utf8)
}

/// Runs a command to completion, returning its exit status and both outputs.
private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
    let scratch = ConfigurationScratch()
    let errorPath = scratch.write("stderr", "")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    // A file, not a second pipe: a command filling a pipe nobody reads yet would block.
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    process.environment = ProcessInfo.processInfo.environment.merging(["SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"]) { $1 }
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), errors)
}

/// `[Section]` → key → values, in order; enough of systemd's unit syntax for assertions.
private func unitSettings(_ text: String) -> [String: [String: [String]]] {
    var sections: [String: [String: [String]]] = [:]
    var section = ""
    for raw in text.split(separator: "\n") {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
        if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()); continue }
        guard let equals = line.firstIndex(of: "=") else { continue }
        sections[section, default: [:]][String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
    }
    return sections
}

private let systemdAnalyze = TestGate.tool("systemd-analyze")

@Suite("systemd units")
struct SystemdUnitFilesTests {
    @Test("necd.service and necd.socket say what the design needs")
    func unitContents() throws {
        let service = unitSettings(try contents("systemd/necd.service"))
        let socket = unitSettings(try contents("systemd/necd.socket"))
        #expect(service["Service"]?["Type"] == ["notify"])
        #expect(service["Service"]?["NotifyAccess"] == ["main"])
        #expect(service["Service"]?["WatchdogSec"]?.isEmpty == false)
        #expect(service["Service"]?["ExecStart"] == ["/usr/sbin/necd"])
        #expect(service["Service"]?["ExecReload"] == ["/bin/kill -HUP $MAINPID"])
        #expect(service["Service"]?["User"] == ["necd"])
        #expect(service["Service"]?["StateDirectory"] == ["necd"])
        #expect(service["Service"]?["RuntimeDirectory"] == ["necd"])
        #expect(service["Service"]?["RuntimeDirectoryPreserve"] == ["yes"])
        #expect(service["Service"]?["RestrictAddressFamilies"] == ["AF_UNIX"])
        // max_clients' 256 clients and necd's own descriptors fit, with room to spare.
        #expect(service["Service"]?["LimitNOFILE"] == ["4096"])
        #expect(service["Unit"]?["Wants"]?.contains("pcscd.socket") == true)
        #expect(service["Unit"]?["After"]?.contains("pcscd.socket") == true)
        #expect(socket["Socket"]?["ListenStream"] == ["/run/necd/necd.sock"])
        #expect(socket["Socket"]?["SocketMode"] == ["0660"])
        #expect(socket["Socket"]?["SocketGroup"] == ["necd"])
        #expect(socket["Socket"]?["Accept"] == ["no"])
    }

    @Test(
        "systemd-analyze verify accepts the units",
        .needs(tool: "systemd-analyze", package: "systemd"))
    func verify() throws {
        // verify insists that ExecStart's binary exists; point it at a stub in a scratch copy
        // rather than needing necd installed.
        let scratch = ConfigurationScratch()
        let stub = scratch.write("necd-stub", "#!/bin/sh\nexit 0\n")
        chmod(stub, 0o755)
        let service = try contents("systemd/necd.service")
            .replacingOccurrences(of: "ExecStart=/usr/sbin/necd", with: "ExecStart=" + stub)
        let servicePath = scratch.write("necd.service", service)
        let socketPath = scratch.write("necd.socket", try contents("systemd/necd.socket"))
        let result = try run(systemdAnalyze!, ["verify", "--man=no", servicePath, socketPath])
        #expect(result.status == 0, "systemd-analyze verify: \(result.errors)")
        // pcscd.socket is only pulled in with Wants=, so its absence is not the units' fault.
        let complaints = result.errors.split(separator: "\n").filter { !$0.contains("pcscd.socket") }
        #expect(complaints.isEmpty, "systemd-analyze verify: \(result.errors)")
    }

    @Test(
        "systemd-analyze security rates necd.service at 2.0 or better",
        .needs(tool: "systemd-analyze", package: "systemd"))
    func securityExposure() throws {
        let result = try run(
            systemdAnalyze!, ["security", "--offline=true", "--no-pager", repositoryRoot + "/systemd/necd.service"])
        let line = try #require(
            result.output.split(separator: "\n").first { $0.contains("Overall exposure level") },
            "no rating in: \(result.output)\(result.errors)")
        // "→ Overall exposure level for necd.service: 0.2 SAFE 😀"; without a UTF-8 locale the
        // face is ":-}", so read the number after "necd.service:", not after the last colon.
        let afterName = line.range(of: "necd.service:").map { line[$0.upperBound...] }
        let rating = afterName?.split(separator: " ").first.flatMap { Double($0) }
        let value = try #require(rating, "cannot read a rating from \(line)")
        #expect(value <= 2.0, "exposure \(value): \(line)")
    }

    @Test("sysusers, tmpfiles and the polkit rule are well formed")
    func supportingFiles() throws {
        let users = try contents("systemd/necd.sysusers").split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(users.count == 1)
        #expect(users.first?.hasPrefix("u necd ") == true)

        let directories = try contents("systemd/necd.tmpfiles").split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        for line in directories {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            #expect(fields.count == 6, "tmpfiles line: \(line)")
            #expect(fields.first == "d")
            #expect(fields.count > 2 && fields[2].count == 4 && fields[2].allSatisfy { ("0"..."7").contains($0) })
        }
        #expect(directories.contains { $0.hasPrefix("d /var/lib/necd 0700 necd necd") })
        #expect(directories.contains { $0.hasPrefix("d /run/necd ") })

        let rule = try contents("systemd/50-necd-pcscd.rules")
        #expect(rule.contains("\"org.debian.pcsc-lite.access_pcsc\""))
        #expect(rule.contains("\"org.debian.pcsc-lite.access_card\""))
        #expect(rule.contains("subject.user == \"necd\""))
        #expect(rule.contains("polkit.Result.YES"))
        // Balanced brackets catch the commonest hand-editing slip in a JavaScript rule.
        for (open, close) in [("(", ")"), ("{", "}")] {
            #expect(rule.components(separatedBy: open).count == rule.components(separatedBy: close).count)
        }
    }

    @Test(
        "The polkit rule is valid JavaScript",
        .needs(tool: "node", package: "nodejs"))
    func polkitRuleRuns() throws {
        // Evaluate the rule with stand-ins for polkit's objects and ask it three questions.
        let script = """
            const fs = require("fs");
            let rules = [];
            const polkit = { addRule: (f) => rules.push(f), Result: { YES: "yes", NOT_HANDLED: undefined } };
            eval(fs.readFileSync(process.argv[1], "utf8"));
            const ask = (id, user) => rules.map((f) => f({ id }, { user })).find((r) => r !== undefined) ?? "no";
            console.log([ask("org.debian.pcsc-lite.access_pcsc", "necd"), ask("org.debian.pcsc-lite.access_card", "necd"),
                         ask("org.debian.pcsc-lite.access_pcsc", "nobody"), ask("org.freedesktop.login1.reboot", "necd")].join(" "));
            """
        let result = try run(TestGate.tool("node")!, ["-e", script, repositoryRoot + "/systemd/50-necd-pcscd.rules"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == "yes yes no no\n")
    }
}

/// One parsed udev rule line: its key/operator/value triples.
private struct UdevRule {
    struct Assignment { var key: String; var op: String; var value: String }
    var line: Int
    var assignments: [Assignment]
}

/// A strict reader for the subset of udev rule syntax the file uses: `KEY{attr}OP"value"`
/// joined by commas. It refuses anything else, so a typo fails the test.
private func parseUdevRules(_ text: String) throws -> [UdevRule] {
    let keys: Set<String> = ["ACTION", "SUBSYSTEM", "SUBSYSTEMS", "ENV", "ATTR", "ATTRS", "TEST", "GOTO", "LABEL", "GROUP", "MODE", "TAG", "RUN", "DRIVER", "DRIVERS", "KERNEL"]
    var rules: [UdevRule] = []
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { continue }
        #expect(!line.hasSuffix("\\"), "line \(index + 1): no continuation lines")
        var assignments: [UdevRule.Assignment] = []
        var rest = Substring(line)
        while !rest.isEmpty {
            let keyEnd = rest.firstIndex { !($0.isUppercase || $0 == "_") } ?? rest.endIndex
            let key = String(rest[..<keyEnd])
            try #require(keys.contains(key), "line \(index + 1): unknown key \(key)")
            rest = rest[keyEnd...]
            var attribute = ""
            if rest.hasPrefix("{") {
                let close = try #require(rest.firstIndex(of: "}"), "line \(index + 1): unclosed {")
                attribute = String(rest[rest.index(after: rest.startIndex)..<close])
                rest = rest[rest.index(after: close)...]
            }
            let op = try #require(["==", "!=", "+=", "-=", ":=", "="].first { rest.hasPrefix($0) }, "line \(index + 1): no operator after \(key)")
            rest = rest.dropFirst(op.count)
            try #require(rest.hasPrefix("\""), "line \(index + 1): value of \(key) is not quoted")
            rest = rest.dropFirst()
            let close = try #require(rest.firstIndex(of: "\""), "line \(index + 1): unterminated value")
            let value = String(rest[..<close])
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
            if rest.hasPrefix(",") { rest = rest.dropFirst().drop { $0 == " " } } else {
                try #require(rest.isEmpty, "line \(index + 1): junk after \(key): \(rest)")
            }
            assignments.append(.init(key: attribute.isEmpty ? key : "\(key){\(attribute)}", op: op, value: value))
        }
        rules.append(UdevRule(line: index + 1, assignments: assignments))
    }
    return rules
}

@Suite("udev and modprobe files")
struct UdevFilesTests {
    static let rulesFile = "udev/95-necd-readers.rules"

    @Test("Every rule parses, GOTOs land, and autosuspend is turned off")
    func rulesSyntax() throws {
        let rules = try parseUdevRules(try contents(Self.rulesFile))
        let labels = Set(rules.flatMap { $0.assignments.filter { $0.key == "LABEL" }.map(\.value) })
        let gotos = Set(rules.flatMap { $0.assignments.filter { $0.key == "GOTO" }.map(\.value) })
        #expect(!gotos.isEmpty && gotos.isSubset(of: labels))
        #expect(rules.contains { rule in
            rule.assignments.contains { $0.key == "ATTR{power/control}" && $0.op == "=" && $0.value == "on" }
                && rule.assignments.contains { $0.key == "TEST" && $0.value == "power/control" }
        })
        // Nothing here should change who may open the device: see the file's header.
        #expect(!rules.contains { $0.assignments.contains { ["GROUP", "MODE", "TAG"].contains($0.key) } })
    }

    @Test("VID:PID pairs are lower-case hex, unique, and include the readers docs/hardware.md names")
    func vendorAndProductIDs() throws {
        let rules = try parseUdevRules(try contents(Self.rulesFile))
        var pairs: [String] = []
        for rule in rules {
            let vendor = rule.assignments.first { $0.key == "ATTR{idVendor}" }
            let product = rule.assignments.first { $0.key == "ATTR{idProduct}" }
            #expect((vendor == nil) == (product == nil), "line \(rule.line): vendor and product go together")
            guard let vendor, let product else { continue }
            for id in [vendor.value, product.value] {
                #expect(id.count == 4 && id.allSatisfy { "0123456789abcdef".contains($0) }, "line \(rule.line): \(id) is not 4 lower-case hex digits")
            }
            #expect(vendor.op == "==" && product.op == "==")
            #expect(rule.assignments.contains { $0.key == "ENV{NECD_READER}" && $0.op == "=" && $0.value == "1" })
            pairs.append("\(vendor.value):\(product.value)")
        }
        #expect(Set(pairs).count == pairs.count, "duplicate VID:PID")
        for known in ["072f:2200", "072f:223b", "072f:2224", "076b:5022", "076b:5422", "076b:5427", "04e6:5790"] {
            #expect(pairs.contains(known), "\(known) missing")
        }
    }

    @Test(
        "Every VID:PID is a reader libccid supports",
        .needs("needs libccid's reader list (apt-get install libccid; pcscd brings it)") {
            FileManager.default.fileExists(atPath: "/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist")
        })
    func pairsAreInLibccid() throws {
        let plist = try Data(contentsOf: URL(fileURLWithPath: "/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist"))
        let dictionary = try #require(try PropertyListSerialization.propertyList(from: plist, format: nil) as? [String: Any])
        let vendors = try #require(dictionary["ifdVendorID"] as? [String])
        let products = try #require(dictionary["ifdProductID"] as? [String])
        let supported = Set(zip(vendors, products).map { "\($0.dropFirst(2)):\($1.dropFirst(2))".lowercased() })
        let rules = try parseUdevRules(try contents(Self.rulesFile))
        for rule in rules {
            guard let vendor = rule.assignments.first(where: { $0.key == "ATTR{idVendor}" })?.value,
                let product = rule.assignments.first(where: { $0.key == "ATTR{idProduct}" })?.value
            else { continue }
            #expect(supported.contains("\(vendor):\(product)"), "line \(rule.line): \(vendor):\(product) is not in libccid's list")
        }
    }

    @Test("The rules sort after libccid's, which would turn autosuspend back on")
    func ordering() throws {
        let name = URL(fileURLWithPath: Self.rulesFile).lastPathComponent
        #expect(name > "92-libccid.rules")
        #expect(name.hasSuffix(".rules"))
    }

    @Test(
        "udevadm reads the rules without a complaint, and complains about a broken copy",
        .needs(tool: "udevadm", package: "udev"), .needs(tool: "unshare", package: "util-linux"))
    func udevadmReadsTheRules() throws {
        let rules = try contents(Self.rulesFile)
        let shipped = try udevadmComplaints(about: rules)
        #expect(shipped.complaints.isEmpty, "udevadm: \(shipped.complaints)")
        // The check must catch a slip, or its silence above proves nothing: an unclosed
        // quote and a GOTO to no label, each a line udev would drop.
        let broken = try udevadmComplaints(about: rules + """
            ATTR{idVendor}=="072f, ENV{NECD_READER}="1"
            GOTO="necd_readers_nowhere"

            """)
        let lines = rules.split(separator: "\n", omittingEmptySubsequences: false).count
        #expect(broken.complaints.contains { $0.line == lines }, "\(broken.output)")
        #expect(broken.complaints.contains { $0.line == lines + 1 && $0.message.contains("no matching label") }, "\(broken.output)")
    }

    @Test("The modprobe file blacklists exactly the kernel NFC modules")
    func blacklist() throws {
        let lines = try contents("udev/blacklist-pn533.conf").split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(lines == ["blacklist pn533_usb", "blacklist pn533", "blacklist nfc"])
    }
}

/// What udevadm says, reading `rules` as the only file in /etc/udev/rules.d, about lines of
/// that file. udev 252 (Debian 12) has no `udevadm verify` (254 has),
/// but `udevadm test` reads every rules file, reporting each line it cannot use, before it
/// looks for the device; given none, it stops there having run nothing. The file goes in
/// through a tmpfs in a private mount namespace, so the machine's udev never sees it.
private func udevadmComplaints(about rules: String) throws -> (complaints: [(line: Int, message: String)], output: String) {
    let scratch = ConfigurationScratch()
    let file = scratch.write("95-necd-readers.rules", rules)
    let installed = "/etc/udev/rules.d/95-necd-readers.rules"
    let script = """
        mount -t tmpfs necd-udev-check /etc/udev/rules.d && cp "$1" \(installed) && exec udevadm test /necd-no-such-device
        """
    let unshare = try #require(TestGate.tool("unshare"))
    let mapRoot = geteuid() == 0 ? [] : ["--map-root-user"]
    let result = try run(unshare, ["--mount", "--propagation", "private"] + mapRoot + ["/bin/sh", "-c", script, "sh", file])
    let output = result.output + result.errors
    try #require(output.contains("Reading rules file: \(installed)"), "udevadm did not read the rules: \(output)")
    try #require(output.contains("Failed to open device"), "udevadm did not stop at the device: \(output)")
    // "/etc/udev/rules.d/95-necd-readers.rules:12 Invalid key/value pair, ignoring."
    let complaints = output.split(separator: "\n").compactMap { line -> (line: Int, message: String)? in
        guard line.hasPrefix(installed + ":") else { return nil }
        let rest = line.dropFirst(installed.count + 1)
        let digits = rest.prefix { $0.isNumber }
        return Int(digits).map { ($0, String(rest.dropFirst(digits.count))) }
    }
    return (complaints, output)
}
