import NECCard

/// Replaces a recording's card numbers with synthetic ones so that it can be attached to a
/// bug report, while it still decodes the same way, fault for fault.
///
/// - The UID (the answer to `FF CA 00 00`, and wherever else the card repeats it, such as
///   the third frame of DESFire GetVersion) becomes one of the same length and kind: the
///   first byte (the manufacturer, NXP's `04`) is kept on 7-, 8- and 10-byte UIDs; a random
///   ID stays a random ID (`08 ...`), a non-unique ID stays one (`xF ...`).
/// - The ISRN in the shell (DESFire file `0x0F`, the CMD2 FCI's tag `C0`) gets OID 9999 and
///   a random ISSN; a non-decimal nibble stays where it was, as it was. The check digit is
///   recomputed, and a wrong one stays wrong by as much; the SECRC is recomputed, and a
///   wrong one stays wrong by the same bits. The MCRN (which may be the issuer's own card
///   number) gets random digits, its `F` padding kept.
/// - A Directory's InstanceID (the 5 bytes after DIRS#, when present and not all zero)
///   gets random bytes.
///
/// The same card gets the same synthetic numbers in every tap a redactor sees, so a
/// recording of three taps of one card still reads as one card.
public struct RecordingRedactor: Sendable {
    private var random: Generator
    private var uids: [[UInt8]: [UInt8]] = [:]
    private var issns: [[UInt8]: [UInt8]] = [:]
    private var mcrns: [[UInt8]: [UInt8]] = [:]
    private var instances: [[UInt8]: [UInt8]] = [:]

    /// The OID synthetic ISRNs carry.
    public static let syntheticOID: [UInt8] = [9, 9, 9, 9]

    /// - Parameter seed: fixes the synthetic numbers (for tests); nil draws them at random.
    public init(seed: UInt64? = nil) {
        random = Generator(seed: seed ?? UInt64.random(in: .min ... .max))
    }

    /// The tap with its card numbers replaced, marked `redacted`.
    public mutating func redact(_ tap: RecordedTap) -> RecordedTap {
        var groups = Self.chains(of: tap.exchanges)
        // First what the card holds, in the places it is known to hold it.
        var originalUID: [UInt8]? = nil
        var originalISRN: [UInt8]? = nil
        var geometry: (entries: Int, sctl: Int)? = nil
        var kept: [Int: Range<Int>] = [:]  // per group, the shell bytes already redacted
        for g in groups.indices {
            let lead = groups[g].command
            if lead.count >= 4, lead[0] == 0xFF, lead[1] == 0xCA, lead[2] == 0x00, groups[g].status == [0x90, 0x00],
               [4, 7, 8, 10].contains(groups[g].data.count) {
                originalUID = groups[g].data
            } else if let range = Self.shellRange(lead: lead, data: groups[g].data) {
                let shell = Array(groups[g].data[range])
                if shell.count >= 11 { originalISRN = Array(shell[5...10]) }
                if shell.count >= 20 { geometry = (Int(shell[18]), Int(shell[19])) }
                groups[g].data.replaceSubrange(range, with: redactShell(shell))
                kept[g] = range
            }
        }
        for g in groups.indices where kept[g] == nil {
            if let geometry, Self.isDirectoryRead(groups[g].command) {
                groups[g].data = redactDirectory(groups[g].data, entries: geometry.entries, sctl: geometry.sctl)
            }
        }
        // Then the same numbers wherever else they appear.
        var replacements: [([UInt8], [UInt8])] = []
        if let originalUID { replacements.append((originalUID, syntheticUID(for: originalUID))) }
        if let originalISRN, let g = kept.keys.first, let range = kept[g] {
            let redacted = Array(groups[g].data[range])
            if redacted.count >= 11, Array(redacted[5...10]) != originalISRN {
                replacements.append((originalISRN, Array(redacted[5...10])))
            }
        }
        for g in groups.indices {
            for (from, to) in replacements {
                groups[g].data = Self.replacing(from, with: to, in: groups[g].data, outside: kept[g])
            }
        }
        var out = tap
        out.exchanges = groups.flatMap { $0.exchanges() }
        out.redacted = true
        return out
    }

    // MARK: The shell

    /// The shell's bytes with the ISRN and MCRN replaced, check digit and SECRC fixed up as
    /// described above; bytes that are no full shell come back unchanged.
    public mutating func redactShell(_ shell: [UInt8]) -> [UInt8] {
        guard shell.count > 5 else { return shell }
        let bitmap = (shell[0] & 0x03) << 4 | shell[1] >> 4
        guard bitmap & 0x01 != 0 else { return shell }  // compact or unknown: no ISRN
        var out = shell
        // The 12 nibbles of bytes 5-10: OID (4), ISSN (7), check digit (1).
        let end = min(shell.count, 11)
        var nibbles: [UInt8] = []
        for i in 5..<end { nibbles += [shell[i] >> 4, shell[i] & 0x0F] }
        let issnKey = Array(nibbles.prefix(11))
        let issn = issns[issnKey] ?? (0..<7).map { _ in random.digit() }
        issns[issnKey] = issn
        var fresh = nibbles
        for i in fresh.indices.prefix(11) where fresh[i] <= 9 {
            fresh[i] = i < 4 ? Self.syntheticOID[i] : issn[i - 4]
        }
        if nibbles.count == 12, nibbles[11] <= 9 {
            let iin: [UInt8] = [6, 3, 3, 5, 9, 7]
            if nibbles.prefix(11).allSatisfy({ $0 <= 9 }) {
                let wrongBy = (Int(nibbles[11]) - Int(Luhn.checkDigit(for: iin + nibbles.prefix(11))) + 10) % 10
                fresh[11] = UInt8((Int(Luhn.checkDigit(for: iin + fresh.prefix(11))) + wrongBy) % 10)
            }
        }
        for (k, i) in (5..<end).enumerated() {
            out[i] = fresh[2 * k] << 4 | (2 * k + 1 < fresh.count ? fresh[2 * k + 1] : shell[i] & 0x0F)
        }
        if bitmap & 0x02 != 0, shell.count >= 30 {
            let key = Array(shell[20..<30])
            let mcrn = mcrns[key] ?? (0..<20).map { _ in random.digit() }
            mcrns[key] = mcrn
            for i in 20..<30 {
                let high = shell[i] >> 4 <= 9 ? mcrn[2 * (i - 20)] : shell[i] >> 4
                let low = shell[i] & 0x0F <= 9 ? mcrn[2 * (i - 20) + 1] : shell[i] & 0x0F
                out[i] = high << 4 | low
            }
        }
        // The SECRC follows the fields it covers; recompute it only where it does.
        let length = Int(shell[0] >> 2) * 4
        if length - 2 > 10, shell.count >= length {
            let stored = UInt16(shell[length - 2]) | UInt16(shell[length - 1]) << 8
            let wrongBits = stored ^ CRCB.checksum(shell[0..<(length - 2)])
            let crc = CRCB.checksum(out[0..<(length - 2)]) ^ wrongBits
            out[length - 2] = UInt8(crc & 0xFF)
            out[length - 1] = UInt8(crc >> 8)
        }
        return out
    }

    // MARK: The directory

    /// The directory with its InstanceID (5 bytes after DIRS#, if present and not zero)
    /// replaced.
    /// - Parameters:
    ///   - directory: the directory bytes, from its first byte.
    ///   - entries: E#, from the shell.
    ///   - sctl: SCTL, from the shell.
    public mutating func redactDirectory(_ directory: [UInt8], entries: Int, sctl: Int) -> [UInt8] {
        let start = 2 + 5 * entries + sctl + 1
        guard directory.count >= start + 5 else { return directory }
        let instance = Array(directory[start..<(start + 5)])
        guard instance.contains(where: { $0 != 0 }) else { return directory }
        let fresh = instances[instance] ?? (0..<5).map { _ in random.byte() }
        instances[instance] = fresh
        var out = directory
        out.replaceSubrange(start..<(start + 5), with: fresh)
        return out
    }

    // MARK: The UID

    /// The synthetic UID that stands for `uid` (the same every time for one redactor).
    public mutating func syntheticUID(for uid: [UInt8]) -> [UInt8] {
        if let known = uids[uid] { return known }
        var fresh: [UInt8]
        repeat {
            fresh = uid.map { _ in random.byte() }
            switch uid.count {
            case 4 where uid[0] == 0x08:
                fresh[0] = 0x08
            case 4 where uid[0] & 0x0F == 0x0F:
                fresh[0] = fresh[0] | 0x0F
            case 4:
                // Neither a random ID (08), a non-unique one (xF), nor the cascade tag (88).
                while fresh[0] == 0x08 || fresh[0] == 0x88 || fresh[0] & 0x0F == 0x0F { fresh[0] = random.byte() }
            default:
                if !uid.isEmpty { fresh[0] = uid[0] }
            }
        } while fresh == uid
        uids[uid] = fresh
        return fresh
    }

    // MARK: Finding things in a tap

    /// A command and its continuation frames (`90 AF`, GET RESPONSE), with their data
    /// joined, so a number split across frames is still found.
    private struct Chain {
        var exchanges_: [RecordedExchange]
        var data: [UInt8]
        /// Per exchange, how many data bytes its response carried (nil: no response).
        var sizes: [Int?]

        var command: [UInt8] { exchanges_[0].command }
        var status: [UInt8] { exchanges_.last?.response.map { Array($0.suffix(2)) } ?? [] }

        func exchanges() -> [RecordedExchange] {
            var offset = 0
            return zip(exchanges_, sizes).map { exchange, size in
                guard let size, let response = exchange.response else { return exchange }
                var copy = exchange
                copy.response = Array(data[offset..<(offset + size)]) + response.suffix(2)
                offset += size
                return copy
            }
        }
    }

    private static func isContinuation(_ command: [UInt8]) -> Bool {
        command == DESFire.additionalFrame || (command.count == 5 && command.prefix(4) == [0x00, 0xC0, 0x00, 0x00])
    }

    private static func chains(of exchanges: [RecordedExchange]) -> [Chain] {
        var chains: [Chain] = []
        for exchange in exchanges {
            let size = exchange.response.map { $0.count - 2 }
            let data = exchange.response.map { Array($0.dropLast(2)) } ?? []
            if isContinuation(exchange.command), !chains.isEmpty {
                chains[chains.count - 1].exchanges_.append(exchange)
                chains[chains.count - 1].data += data
                chains[chains.count - 1].sizes.append(size)
            } else {
                chains.append(Chain(exchanges_: [exchange], data: data, sizes: [size]))
            }
        }
        return chains
    }

    /// Where the shell is in a chain's data: a DESFire read of file `0x0F` from offset 0,
    /// or tag `C0` of a CMD2 select's FCI.
    private static func shellRange(lead: [UInt8], data: [UInt8]) -> Range<Int>? {
        if lead.count >= 12, lead[0] == 0x90, lead[1] == 0xBD, lead[5] == 0x0F, lead[6...8] == [0, 0, 0] {
            return data.isEmpty ? nil : 0..<data.count
        }
        if lead.count >= 5 + CMD2.itsoAID.count, lead[0] == 0x00, lead[1] == 0xA4, lead[2] == 0x04,
           Array(lead[5..<(5 + CMD2.itsoAID.count)]) == CMD2.itsoAID {
            return tagC0(in: data)
        }
        return nil
    }

    /// The value of the first `C0` TLV inside the FCI's `6F` / `A5`.
    private static func tagC0(in fci: [UInt8]) -> Range<Int>? {
        guard let top = try? TLV.parse(fci).first, top.tag == 0x6F,
              let proprietary = try? top.child(0xA5), let shell = try? proprietary.child(0xC0) else { return nil }
        let start = shell.valueOffset
        guard start >= 0, start + shell.value.count <= fci.count else { return nil }
        return start..<(start + shell.value.count)
    }

    /// A DESFire read from offset 0 of a file other than the shell's.
    private static func isDirectoryRead(_ lead: [UInt8]) -> Bool {
        lead.count >= 12 && lead[0] == 0x90 && lead[1] == 0xBD && lead[5] != 0x0F && lead[6...8] == [0, 0, 0]
    }

    private static func replacing(_ from: [UInt8], with to: [UInt8], in data: [UInt8], outside kept: Range<Int>?) -> [UInt8] {
        guard !from.isEmpty, from.count == to.count, data.count >= from.count else { return data }
        var out = data
        var i = 0
        while i + from.count <= out.count {
            let here = i..<(i + from.count)
            if kept.map({ $0.overlaps(here) }) != true, Array(out[here]) == from {
                out.replaceSubrange(here, with: to)
                i += from.count
            } else {
                i += 1
            }
        }
        return out
    }

    /// Seeded, so tests see the same synthetic numbers every run.
    private struct Generator: Sendable {
        var base: SplitMix64
        init(seed: UInt64) { base = SplitMix64(seed: seed) }
        mutating func byte() -> UInt8 { base.nextByte() }
        mutating func digit() -> UInt8 { UInt8(base.next() % 10) }
    }
}
