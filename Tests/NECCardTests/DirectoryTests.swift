import PropertyBased
import Testing
@testable import NECCard

/// Flipso's demo cards (synthetic; nec-cards.md, "The ITSO Directory on DESFire").
enum FlipsoDemo {
    static let blockedShell = hex("18 11 63 35 97 02 26 02 00 00 29 07 04 02 2B 26 40 10 08 07 00 00 44 C7")
    static let blockedDirectory = hex("00 31 03 8A 00 2B 26 01 81 C0 2B 26 03 88 40 AB 26")
        + [UInt8](repeating: 0, count: 20) + hex("04 EE 1A EB 02 FF 4F 00 00 00 00 00 11")
    static let activeShell = hex("18 11 63 35 97 02 87 07 00 00 79 07 04 01 36 7F A0 10 08 07 00 00 2C 82")
    static let activeDirectory = hex("00 21 04 7E 01 00 00 03 DA D3 2A 70 03 DA D3 2A 74")
        + [UInt8](repeating: 0, count: 20) + hex("8C EE 76 E9 83 1F F0 00 00 00 00 00 08 00 00 4E 30 F3")
}

@Suite struct DirectoryTests {
    @Test func flipsoBlockedDemoDecodes() throws {
        let shell = try ShellEnvironment(decoding: FlipsoDemo.blockedShell)
        let geometry = try #require(shell.geometry)
        #expect(geometry == (try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7)))
        #expect(FlipsoDemo.blockedDirectory.count == 50)
        let d = try ITSODirectory(decoding: FlipsoDemo.blockedDirectory, geometry: geometry)
        #expect(d.isBlocked == true)
        #expect(d.bitmap == 0x03)
        #expect(d.logConfiguration == 1)
        #expect(d.lastEntryIsLog == true)
        #expect(d.formatRevision == 1)
        #expect(d.dirLength == 0)
        #expect(d.sequence == 0x11)
        #expect(d.instance == nil)
        #expect(d.shellIteration == nil)
        #expect(d.entries.count == 8)
        #expect(d.entries[0] == hex("03 8A 00 2B 26"))
        #expect(d.entries[1] == hex("01 81 C0 2B 26"))
        #expect(d.entries[2] == hex("03 88 40 AB 26"))
        #expect(d.entries[7] == hex("04 EE 1A EB 02"))
        // SCTL 7 bytes of 4-bit entries (S = 16): FF 4F 00 00 00 00 00.
        #expect(d.sectorChain == [15, 15, 4, 15] + [Int](repeating: 0, count: 10))
    }

    @Test func flipsoActiveDemoDecodesWithInstanceID() throws {
        let shell = try ShellEnvironment(decoding: FlipsoDemo.activeShell)
        let geometry = try #require(shell.geometry)
        #expect(FlipsoDemo.activeDirectory.count == 55)
        let d = try ITSODirectory(decoding: FlipsoDemo.activeDirectory, geometry: geometry)
        #expect(d.isBlocked == false)
        #expect(d.bitmap == 0x02)
        #expect(d.lastEntryIsLog == true)
        #expect(d.sequence == 0x08)
        #expect(d.instance == ITSODirectory.InstanceID(kid: 0, shellIteration: 0, isam: 0x004E_30F3))
        #expect(d.shellIteration == 0)
        #expect(d.entries[0] == hex("04 7E 01 00 00"))
        #expect(d.entries[7] == hex("8C EE 76 E9 83"))
        #expect(d.sectorChain == [1, 15, 15] + [Int](repeating: 0, count: 11))
    }

    @Test func blockedBitIsTheLowBitOfTheBitmapOnly() throws {
        let geometry = try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7)
        // dir[1] & 0x10 is the blocked bit; bits 0x20 and 0x40 are the log code.
        for (byte1, blocked, log) in [(UInt8(0x10), true, UInt8(0)), (0x20, false, 1), (0x41, false, 2), (0x71, true, 3), (0x01, false, 0)] {
            let d = try ITSODirectory(decoding: with(FlipsoDemo.activeDirectory, 1, byte1), geometry: geometry)
            #expect(d.isBlocked == blocked, "dir[1] = \(byte1)")
            #expect(d.logConfiguration == log, "dir[1] = \(byte1)")
        }
        // The two bitmap bits in byte 0 are not the blocked bit.
        let high = try ITSODirectory(decoding: with(FlipsoDemo.activeDirectory, 0, 0x03), geometry: geometry)
        #expect(high.bitmap == 0x32)
        #expect(high.isBlocked == false)
    }

    @Test func sequenceWrapsAt255ForTheNewerCopy() throws {
        #expect(ITSODirectory.isNewer(0x00, than: 0xFF))
        #expect(!ITSODirectory.isNewer(0xFF, than: 0x00))
        #expect(ITSODirectory.isNewer(0x12, than: 0x11))
        #expect(!ITSODirectory.isNewer(0x11, than: 0x11))
        #expect(ITSODirectory.isNewer(0x7F, than: 0x00))
        #expect(!ITSODirectory.isNewer(0x80, than: 0x00))
        let geometry = try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7)
        func copy(_ sequence: UInt8, blocked: Bool) throws -> ITSODirectory {
            try ITSODirectory(decoding: with(with(FlipsoDemo.activeDirectory, 49, sequence), 1, blocked ? 0x31 : 0x21), geometry: geometry)
        }
        // S-2 holds 00, S-1 holds FF: 00 is the newer (FF, then wrap to 00).
        let wrapped = try #require(ITSODirectory.live(try copy(0x00, blocked: true), try copy(0xFF, blocked: false)))
        #expect(wrapped.copy == 0)
        #expect(wrapped.directory.sequence == 0x00)
        #expect(wrapped.directory.isBlocked == true)
        let plain = try #require(ITSODirectory.live(try copy(0x10, blocked: true), try copy(0x11, blocked: false)))
        #expect(plain.copy == 1)
        #expect(plain.directory.isBlocked == false)
        let same = try #require(ITSODirectory.live(try copy(0x05, blocked: true), try copy(0x05, blocked: false)))
        #expect(same.copy == 1)
        #expect(ITSODirectory.live(nil, try copy(0x05, blocked: true))?.copy == 1)
        #expect(ITSODirectory.live(try copy(0x05, blocked: true), nil)?.copy == 0)
        #expect(ITSODirectory.live(nil, nil) == nil)
    }

    @Test func largeGeometryHasSixBitChainEntries() throws {
        let large = try CardGeometry(sectorSize: 80, sectorCount: 64, directoryEntries: 16, sctl: 48)
        #expect(large.sectorChainEntryBits == 6)
        #expect(try CardGeometry(sectorSize: 48, sectorCount: 32, directoryEntries: 8, sctl: 20).sectorChainEntryBits == 5)
        #expect(try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7).sectorChainEntryBits == 4)
        #expect(try CardGeometry(sectorSize: 64, sectorCount: 33, directoryEntries: 8, sctl: 7).sectorChainEntryBits == 6)
        #expect(large.directoryMinimumLength == 2 + 80 + 48 + 1)
        #expect(large.cmd2DirectorySectors == [62, 63])
        // Chain entries 63, 1, 62 packed 6 bits each: 111111 000001 111110 -> FC 1F 80.
        var bytes = [UInt8](repeating: 0, count: 131)
        bytes[1] = 0x21
        bytes[82] = 0xFC
        bytes[83] = 0x1F
        bytes[84] = 0x80
        bytes[130] = 0x2A
        let d = try ITSODirectory(decoding: bytes, geometry: large)
        #expect(d.entries.count == 16)
        #expect(d.sectorChain.count == 63)
        #expect(Array(d.sectorChain.prefix(4)) == [63, 1, 62, 0])
        #expect(d.sequence == 0x2A)
        #expect(d.instance == nil)
        // With the 4-bit width of a 16-sector card the same bytes would read otherwise.
        #expect(throws: DirectoryError.truncated(needed: 131, available: 130)) {
            try ITSODirectory(decoding: bytes.dropLast(), geometry: large)
        }
    }

    @Test func hostileDirectoriesAreRefusedWithReasons() throws {
        let geometry = try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7)
        #expect(throws: DirectoryError.truncated(needed: 50, available: 49)) {
            try ITSODirectory(decoding: FlipsoDemo.blockedDirectory.dropLast(), geometry: geometry)
        }
        #expect(throws: DirectoryError.truncated(needed: 50, available: 0)) {
            try ITSODirectory(decoding: [], geometry: geometry)
        }
        // DIRLength 1 block (4 bytes) cannot hold the 50 bytes the geometry needs.
        #expect(throws: DirectoryError.badDirLength(blocks: 1, needed: 50)) {
            try ITSODirectory(decoding: with(FlipsoDemo.blockedDirectory, 0, 0x04), geometry: geometry)
        }
        let long = try ITSODirectory(decoding: with(FlipsoDemo.blockedDirectory, 0, 0x34), geometry: geometry)
        #expect(long.dirLength == 13)
        // E# from the shell decides where DIRS# is: 9 entries need 55 bytes.
        let more = try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 9, sctl: 7)
        #expect(throws: DirectoryError.truncated(needed: 55, available: 50)) {
            try ITSODirectory(decoding: FlipsoDemo.blockedDirectory, geometry: more)
        }
    }

    @Test func geometryIsValidated() {
        for (b, s, e, t) in [(UInt8(0), UInt8(16), UInt8(8), UInt8(7)), (64, 3, 8, 7), (64, 16, 0, 7), (64, 16, 8, 0), (64, 16, 8, 65)] {
            #expect(throws: GeometryError.impossible(sectorSize: b, sectorCount: s, directoryEntries: e, sctl: t)) {
                try CardGeometry(sectorSize: b, sectorCount: s, directoryEntries: e, sctl: t)
            }
        }
    }

    @Test func desfireSectorsAreCountedFromTheShellFile() throws {
        let usual = try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7)
        #expect(usual.desfireFile(sector: usual.directorySector, shellFile: 0x0F) == 0x00)
        #expect(usual.desfireFile(sector: 14, shellFile: 0x0F) == 0x01)
        #expect(usual.desfireFile(sector: 1, shellFile: 0x0F) == 0x0E)
        #expect(usual.desfireFile(sector: 0, shellFile: 0x0F) == 0x0F)
        // A shell in file 0x00 counts upwards: shell_fid + 1 < S.
        #expect(usual.desfireFile(sector: 15, shellFile: 0x00) == 0x0F)
        #expect(usual.desfireFile(sector: 3, shellFile: 0x02) == 0x05)
        let small = try CardGeometry(sectorSize: 64, sectorCount: 8, directoryEntries: 4, sctl: 3)
        #expect(small.desfireFile(sector: 7, shellFile: 0x0F) == 0x08)
        // Out of DESFire's 32 files, or of the card: no file.
        let wide = try CardGeometry(sectorSize: 48, sectorCount: 32, directoryEntries: 8, sctl: 20)
        #expect(wide.desfireFile(sector: 31, shellFile: 0x0F) == nil)
        #expect(usual.desfireFile(sector: 16, shellFile: 0x0F) == nil)
        #expect(usual.desfireFile(sector: -1, shellFile: 0x0F) == nil)
    }

    @Test func hostileDirectoryBytesNeverCrash() async {
        let geometries = Gen.uint8().array(of: 4...4)
        await propertyCheck(count: 800, input: geometries, Gen.uint8().array(of: 0...400)) { g, bytes in
            guard let geometry = try? CardGeometry(sectorSize: g[0], sectorCount: g[1], directoryEntries: g[2], sctl: g[3]) else { return }
            if let d = try? ITSODirectory(decoding: bytes, geometry: geometry) {
                #expect(d.entries.count == Int(geometry.directoryEntries))
                #expect(d.sequence == bytes[geometry.directorySequenceOffset])
                #expect(d.sectorChain.allSatisfy { $0 >= 0 && $0 < (1 << geometry.sectorChainEntryBits) })
            } else {
                #expect(bytes.count < geometry.directoryMinimumLength || bytes[0] >> 2 != 0)
            }
            _ = geometry.desfireFile(sector: geometry.directorySector, shellFile: bytes.first ?? 0x0F)
        }
    }

    @Test func hostileShellAndDirectoryTogetherNeverCrash() async {
        // A shell with random geometry and tail, then a random directory, through the reader.
        await propertyCheck(count: 400, input: Gen.uint8().array(of: 0...40), Gen.uint8().array(of: 0...120)) { shellTail, dir in
            var shell = Array(FlipsoDemo.activeShell.prefix(16)) + shellTail
            if shell.count >= 24 { shell = resealed(shell) }
            var card = ScriptedTransport([
                Commands.getUID: [nxpUID + [0x90, 0x00]],
                Commands.selectITSO: [[0x91, 0x00]],
                Commands.readShell: [shell + [0x91, 0x00]],
                DESFire.readData(file: 0x00): [dir + [0x91, 0x00]],
            ])
            for policy in [CardReader.DirectoryPolicy.inform, .require] {
                if let id = try? CardReader.read(atr: ATRs.desfire, transport: &card, directory: policy) {
                    #expect(id.apduCount <= 4)
                }
            }
        }
    }
}
