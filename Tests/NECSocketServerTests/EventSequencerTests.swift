@testable import NECSocketServer
import Synchronization
import PropertyBased
import Testing

/// An event line with this `seq`.
private func event(_ seq: Int64) -> EventLine {
    EventLine(seq: seq, json: #"{"class":"TAP","seq":\#(seq)}"#)
}

@Suite("Event sequencer: every interleaving publishes in seq order")
struct EventSequencerTests {
    /// Writers take tickets, commit (taking the next seq) and hand over in random orders;
    /// what comes out is every event, in seq order, with nothing held once all are done.
    @Test(arguments: 0..<200)
    func randomInterleavings(seed: Int) {
        // Seeded (xoshiro256**), so a failing interleaving can be replayed by its seed.
        var random = Xoshiro(seed: (UInt64(seed) &+ 1, 0x9E37_79B9_7F4A_7C15, 0xBF58_476D_1CE4_E5B9, 0x94D0_49BB_1331_11EB))
        let delivered = Mutex<[Int64]>([])
        let sequencer = EventSequencer { event in delivered.withLock { $0.append(event.seq ?? -1) } }
        sequencer.start(after: 0)
        enum Step { case reserve, commit, finish }
        struct Writer { var ticket: PublishTicket?; var seq: Int64?; var done = false }
        var writers = Array(repeating: Writer(), count: 1 + Int(random.next() % 8))
        var nextSeq: Int64 = 1
        var committedOrder: [Int64] = []
        while writers.contains(where: { !$0.done }) {
            let index = Int(random.next() % UInt64(writers.count))
            guard !writers[index].done else { continue }
            if writers[index].ticket == nil {
                writers[index].ticket = sequencer.reserve()
            } else if writers[index].seq == nil {
                writers[index].seq = nextSeq
                committedOrder.append(nextSeq)
                nextSeq += 1
            } else {
                sequencer.finish(writers[index].ticket, with: event(writers[index].seq!))
                writers[index].done = true
            }
        }
        #expect(delivered.withLock { $0 } == committedOrder.sorted())
    }
}

