import Foundation
import NECCard
import NECCardReading
import PCSC
import Testing
import VirtualCard

/// Exactly which commands each card model is sent, through the real pcscd and vpcd: the
/// virtual card logs every command it receives. `.skip` is a tap with
/// `check_card_blocked = false` (the default), `.require` one with it true, `.inform`
/// `necctl scan`. Nothing beyond the shell and the Directory is ever asked for.
extension LivePCSCTests {
    @Suite(.serialized) struct ReadCommands {
        static let uid = hex("FF CA 00 00 00")
        static let selectDESFire = hex("90 5A 00 00 03 16 02 A0 00")
        static let readShell = hex("90 BD 00 00 07 0F 00 00 00 00 00 00 00")
        static let selectCMD2 = hex("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00")
        static let reselectCMD2 = hex("00 A4 04 0C 0B A0 00 00 02 16 49 54 53 4F 2D 31")
        static let readBinary = hex("00 B0 81 00 00")
        static let more = hex("90 AF 00 00 00")
        static let shell = VirtualShell(isrn: VirtualCardModel.sampleISRN, expiry: VirtualCardModel.futureExpiry)

        static func hex(_ text: String) -> [UInt8] { Hex.bytes(text)! }
        static func selectSector(_ n: UInt8) -> [UInt8] { [0x00, 0xA4, 0x00, 0x00, 0x02, 0x01, n, 0x00] }

        /// Reads `model` once on the rig's second reader with `policy`, and returns what the
        /// card was sent and the identity.
        func read(_ model: VirtualCardModel, _ policy: CardReader.DirectoryPolicy) async throws -> ([[UInt8]], CardIdentity) {
            let reader = Rig.readers[1]
            let session = try await VirtualCardSession.insert(model, port: Rig.ports[1])
            let context = try PCSCContext.establish()
            defer { try? context.release() }
            try Cards().waitFor(reader, present: true, on: context)
            let connection = try context.connect(reader: reader)
            var transport = PCSCTransport(connection)
            let identity = try CardReader.read(atr: model.atr, transport: &transport, directory: policy)
            try? connection.disconnect(.leave)
            let stats = await session.remove()
            try Cards().waitFor(reader, present: false, on: context)
            return (stats.commands, identity)
        }

        @Test func desfireReadsTheShellAndOnlyWithTheCheckItsDirectoryInFile00() async throws {
            let model = VirtualCardModel.desfireITSO(shell: Self.shell)
            let base = [Self.uid, Self.selectDESFire, Self.readShell]
            let (plain, plainID) = try await read(model, .skip)
            #expect(plain == base)
            #expect(plainID.apduCount == 3)
            #expect(plainID.cardBlocked == nil)
            // The standard shell's geometry (E# 8, SCTL 16) puts DIRS# at byte 58: the
            // daemon's read asks for 59 bytes (one frame), scan for the InstanceID too.
            let (checked, checkedID) = try await read(model, .require)
            #expect(checked == base + [Self.hex("90 BD 00 00 07 00 00 00 00 3B 00 00 00")])
            #expect(checkedID.apduCount == 4)
            #expect(checkedID.cardBlocked == false)
            let (scanned, scannedID) = try await read(model, .inform)
            #expect(scanned == base + [Self.hex("90 BD 00 00 07 00 00 00 00 40 00 00 00"), Self.more])
            guard case .read(let directory, let location) = scannedID.directory else {
                Issue.record("no directory: \(scannedID.directory)")
                return
            }
            #expect(location == "DESFire file 0x00")
            #expect(directory.sequence == 1)
            #expect(directory.shellIteration == 1)
        }

        @Test func desfireDirectoryIsLocatedFromTheShellsGeometry() async throws {
            // S = 8: the Directory is sector 7, file 0x0F - 7 = 0x08; a blocked card.
            var shell = Self.shell
            shell.geometry = VirtualShell.Geometry(sectorSize: 64, sectorCount: 8, directoryEntries: 4, sctl: 3)
            let model = VirtualCardModel.desfireITSO(shell: shell).withDirectory(.blockedCard)
            let (sent, id) = try await read(model, .require)
            // 2 + 20 + 3 + 1 = 26 bytes, and the InstanceID fits the frame: 31.
            #expect(sent == [Self.uid, Self.selectDESFire, Self.readShell, Self.hex("90 BD 00 00 07 08 00 00 00 1F 00 00 00")])
            #expect(id.cardBlocked == true)
            #expect(id.isReadable)
        }

        @Test func cmd2ReadsBothDirectoryCopiesAndTakesTheNewer() async throws {
            // S-2 (sector 14) holds DIRS# 00 and is blocked; S-1 holds FF: 00 is newer.
            let model = VirtualCardModel.cmd2ITSO(shell: Self.shell)
                .withDirectory(VirtualDirectory(sequence: 0xFF), otherCopy: VirtualDirectory(blocked: true, sequence: 0x00))
            let base = [Self.uid, Self.selectDESFire, Self.selectCMD2]
            let (plain, _) = try await read(model, .skip)
            #expect(plain == base)
            for policy in [CardReader.DirectoryPolicy.require, .inform] {
                let (sent, id) = try await read(model, policy)
                #expect(sent == base + [Self.selectSector(14), Self.readBinary, Self.reselectCMD2, Self.selectSector(15), Self.readBinary])
                #expect(id.cardBlocked == true)
                guard case .read(let directory, let location) = id.directory else {
                    Issue.record("no directory: \(id.directory)")
                    continue
                }
                #expect(location == "CMD2 sector 14")
                #expect(directory.sequence == 0x00)
            }
        }

        @Test func cmd2WithEightyByteSectorsAndSixtyFourOfThem() async throws {
            var truth = VirtualCardTruth()
            truth.largeGeometry = true
            let large = truth.apply(to: .cmd2ITSO(shell: Self.shell))
                .withDirectory(VirtualDirectory(sequence: 2), otherCopy: VirtualDirectory(sequence: 1))
            let (sent, id) = try await read(large, .require)
            #expect(sent == [Self.uid, Self.selectDESFire, Self.selectCMD2, Self.selectSector(62), Self.readBinary,
                             Self.reselectCMD2, Self.selectSector(63), Self.readBinary])
            guard case .read(let directory, let location) = id.directory else {
                Issue.record("no directory: \(id.directory)")
                return
            }
            #expect(location == "CMD2 sector 63")
            #expect(directory.entries.count == 16)
            #expect(directory.sectorChain.count == 63)
            #expect(id.cardBlocked == false)
            // Sector 62 empty: its SELECT fails, nothing is read from it, the copy in 63 is live.
            let (oneCopy, oneID) = try await read(large.withDirectory(VirtualDirectory(blocked: true)), .require)
            #expect(oneCopy == [Self.uid, Self.selectDESFire, Self.selectCMD2, Self.selectSector(62),
                                Self.reselectCMD2, Self.selectSector(63), Self.readBinary])
            #expect(oneID.cardBlocked == true)
        }

        @Test func classicCardsAreAskedForTheirUIDAlone() async throws {
            for model in [VirtualCardModel.classic1K(), .classic4K()] {
                for policy in [CardReader.DirectoryPolicy.skip, .require, .inform] {
                    let (sent, id) = try await read(model, policy)
                    #expect(sent == [Self.uid], "\(model) \(policy)")
                    #expect(id.media == .classic)
                    #expect(id.uidHex == "11223344")
                    #expect(id.isReadable)
                    #expect(id.cardBlocked == nil)
                }
            }
        }

        @Test func randomIDCardsOfEveryGenerationAreNeverIdentifiedByTheirID() async throws {
            for generation in VirtualCardModel.DESFireGeneration.allCases {
                let withShell = VirtualCardModel.desfireRandomUID(shell: Self.shell, generation: generation)
                let (sent, id) = try await read(withShell, .skip)
                #expect(sent == [Self.uid, Self.selectDESFire, Self.readShell])
                #expect(id.uidRandom)
                #expect(id.uid?.count == 4)
                #expect(id.uid?.first == 0x08)
                #expect(id.identifyingUIDHex == nil)
                #expect(id.isrn == VirtualCardModel.sampleISRN)
                #expect(id.isReadable)
                let (_, bare) = try await read(.desfireRandomUID(generation: generation), .skip)
                #expect(bare.unreadableReason == "random UID and no ISRN")
            }
        }
    }
}
