/// Says in words what a command APDU asks and what its response means.
public enum APDUMeaning {
    /// The command in words: "GET DATA (UID)", "read file 0x0F (shell)",
    /// "select ITSO application A0 02 16", "select ITSO-1 application (CMD2)".
    public static func describe(command c: [UInt8]) -> String {
        guard c.count >= 4 else { return "malformed command (\(c.count) bytes)" }
        let data = c.count > 5 ? Array(c[5..<min(c.count, 5 + Int(c[4]))]) : []
        switch (c[0], c[1]) {
        case (0xFF, 0xCA): return c[2] == 0x00 ? "GET DATA (UID)" : "GET DATA (historical bytes)"
        case (0x90, 0x5A):
            if data == DESFire.itsoAIDWire { return "select ITSO application A0 02 16" }
            if data == [0, 0, 0] { return "select DESFire card level" }
            return "select DESFire application \(Hex.spaced(data.reversed()))"
        case (0x90, 0xBD):
            guard let file = data.first else { return "read file" }
            return "read file 0x\(Hex.string([file])) (\(fileName(file)))"
        case (0x90, 0xAF): return "additional frame"
        case (0x90, 0x60): return "get version"
        case (0x90, 0x6A): return "list applications"
        case (0x90, 0xF5):
            guard let file = data.first else { return "get file settings" }
            return "get file settings 0x\(Hex.string([file]))"
        case (0x00, 0xA4) where c[2] == 0x04:
            if data == CMD2.itsoAID { return "select ITSO-1 application (CMD2)" }
            return "select application \(Hex.spaced(data))"
        case (0x00, 0xC0): return "GET RESPONSE"
        case (0x90, let ins): return "DESFire command \(Hex.string([ins]))"
        default: return "command \(Hex.spaced(c.prefix(4)))"
        }
    }

    /// The exchange in words: "GET DATA (UID): ok", "read file 0x0F (shell): ok",
    /// "select ITSO application: application not found (91 A0)".
    public static func describe(command: [UInt8], response: [UInt8]) -> String {
        let what = describe(command: command)
        guard let sw = StatusWord(response: response) else {
            return "\(what): malformed response (\(response.count) bytes)"
        }
        if sw.isSuccess { return "\(what): ok" }
        if sw == .desfireAdditionalFrame { return "\(what): ok, more data follows (91 AF)" }
        if sw.sw1 == 0x61 { return "\(what): ok, \(sw.meaning) (\(sw.hex))" }
        // Failures name the command without its parameters, as technicians read them.
        let short = what == "select ITSO application A0 02 16" ? "select ITSO application" : what
        return "\(short): \(sw.meaning) (\(sw.hex))"
    }

    /// ITSO's use of the DESFire files in its application.
    static func fileName(_ file: UInt8) -> String {
        switch file {
        case 0x0F: "shell"
        case 0x00: "directory"
        case 0x01: "log"
        case 0x02...0x0E: "product"
        default: "not an ITSO file"
        }
    }

    /// The response in spaced hex, with the OID and the first four ISSN digits (shell bytes
    /// 5-8) shown as `**` when the exchange carried a shell: a DESFire read of file `0x0F`
    /// from offset 0, or a CMD2 select with its FCI.
    public static func redact(command: [UInt8], response: [UInt8]) -> String {
        var hidden = Set<Int>()
        let data = Array(response.dropLast(2))
        var shellStart: Int? = nil
        if command.count >= 12, command[0] == 0x90, command[1] == 0xBD, command[5] == DESFire.shellFile,
           command[6] == 0, command[7] == 0, command[8] == 0 {
            shellStart = 0
        } else if command.count >= 5, command[0] == 0x00, command[1] == 0xA4,
                  let fci = try? ITSOApplicationFCI(fci: data) {
            shellStart = fci.shellOffset
        }
        if let start = shellStart {
            for i in (start + 5)...(start + 8) where i < data.count { hidden.insert(i) }
        }
        var out: [String] = []
        for (i, b) in response.enumerated() {
            out.append(hidden.contains(i) ? "**" : Hex.string([b]))
        }
        return out.joined(separator: " ")
    }
}
