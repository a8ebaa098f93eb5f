@testable import NECDaemon
import Testing
import ProtocolMapping

@Suite("Reader registry: what `readers` and `status` report")
struct ReaderRegistryTests {
    typealias Entry = ReaderRegistry.Entry

    func listed(_ registry: ReaderRegistry) -> [String] {
        registry.readers.map { "\($0.name)=\($0.entry.state)" }
    }

    @Test func startsWithNoPcscdAndNoReaders() {
        let registry = ReaderRegistry()
        #expect(!registry.pcscdConnected)
        #expect(registry.readers.isEmpty)
    }

    @Test func readersAreSortedByNameAndKeepTheirCardsATR() {
        let registry = ReaderRegistry()
        registry.set("Reader B", state: .empty)
        registry.set("Reader A", state: .present, atr: [0x3B, 0x8F])
        #expect(listed(registry) == ["Reader A=present", "Reader B=empty"])
        #expect(registry.readers.first?.entry == Entry(state: .present, atr: [0x3B, 0x8F]))
        registry.markEmpty("Reader A")
        #expect(registry.readers.first?.entry == Entry(state: .empty, atr: nil))
    }

    @Test func aCardLeavingAnUnknownReaderAddsNoReader() {
        let registry = ReaderRegistry()
        registry.markEmpty("Reader A")
        #expect(registry.readers.isEmpty)
    }

    @Test func aRemovedReaderIsForgotten() {
        let registry = ReaderRegistry()
        registry.set("Reader A", state: .empty)
        registry.set("Reader B", state: .empty)
        registry.remove("Reader A")
        registry.remove("Reader C")
        #expect(listed(registry) == ["Reader B=empty"])
    }

    /// Losing pcscd makes every reader unavailable and names, sorted, those that changed;
    /// a reader already unavailable is not named again, nor is anything on reconnecting.
    @Test func losingPcscdMakesEveryReaderUnavailable() {
        let registry = ReaderRegistry()
        #expect(registry.setPCSCDConnected(true) == [])
        registry.set("Reader C", state: .present, atr: [0x3B])
        registry.set("Reader A", state: .empty)
        registry.set("Reader B", state: .unavailable)
        #expect(registry.setPCSCDConnected(false) == ["Reader A", "Reader C"])
        #expect(!registry.pcscdConnected)
        #expect(registry.readers.map(\.entry) == Array(repeating: Entry(state: .unavailable, atr: nil), count: 3))
        #expect(registry.setPCSCDConnected(false) == [])
        #expect(registry.setPCSCDConnected(true) == [])
        #expect(registry.pcscdConnected)
        #expect(listed(registry) == ["Reader A=unavailable", "Reader B=unavailable", "Reader C=unavailable"])
    }
}
