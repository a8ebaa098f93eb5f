/// Why a CMD2 select answer holds no usable ITSO shell.
public enum FCIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The FCI is not well-formed BER-TLV.
    case malformed(TLVError)
    /// No `6F` FCI template at the top.
    case missingTemplate
    /// The DF name (`84`) is not the ITSO application's AID.
    case wrongApplication([UInt8])
    /// No `A5` proprietary template, or no shell (`C0`) inside it.
    case missingShell

    /// One line for a technician.
    public var description: String {
        switch self {
        case .malformed(let e): "FCI is malformed: \(e)"
        case .missingTemplate: "FCI has no 6F template"
        case .wrongApplication(let aid): "FCI names application \(Hex.spaced(aid)), not ITSO-1"
        case .missingShell: "FCI has no shell (tag C0 in A5)"
        }
    }
}

/// The File Control Information returned by selecting the ITSO CMD2 application:
/// `6F { 84 AID, A5 { C0 shell, E0 parameters } }`.
public struct ITSOApplicationFCI: Sendable, Equatable {
    /// The DF name (`84`), when present.
    public let dfName: [UInt8]?
    /// The shell bytes (`C0`), in the layout `ShellEnvironment` decodes.
    public let shell: [UInt8]
    /// Where the shell starts in the FCI bytes (for redacting traces).
    public let shellOffset: Int
    /// The raw parameters object (`E0`), when present.
    public let parameters: [UInt8]?

    /// Takes the FCI apart (the response data without the status word).
    /// - Throws: `FCIError` when it does not hold an ITSO shell.
    public init(fci: [UInt8]) throws(FCIError) {
        // Only the path to the shell is parsed: 6F, then 84 and A5 in it, then C0 and E0 in A5.
        let top: [TLV]
        do { top = try TLV.parse(fci) } catch { throw .malformed(error) }
        guard let template = top.first(where: { $0.tag == 0x6F }) else { throw .missingTemplate }
        let inTemplate: [TLV]
        do { inTemplate = try template.children() } catch { throw .malformed(error) }
        var inProprietary: [TLV]? = nil
        if let proprietary = inTemplate.first(where: { $0.tag == 0xA5 }) {
            do { inProprietary = try proprietary.children() } catch { throw .malformed(error) }
        }
        let name = inTemplate.first { $0.tag == 0x84 }?.value
        if let name, name != CMD2.itsoAID { throw .wrongApplication(name) }
        guard let shell = inProprietary?.first(where: { $0.tag == 0xC0 }) else { throw .missingShell }
        self.dfName = name
        self.shell = shell.value
        self.shellOffset = shell.valueOffset
        self.parameters = inProprietary?.first { $0.tag == 0xE0 }?.value
    }
}
