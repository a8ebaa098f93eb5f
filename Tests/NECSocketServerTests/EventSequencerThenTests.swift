@testable import NECSocketServer
import Synchronization
import Testing

/// What runs "once the event is queued for the watchers" (reader feedback) runs after
/// its event is handed over, never before, even when the event waits for another writer.
@Suite("Event sequencer: the work after an event")
struct EventSequencerThenTests {
    private static func line(_ seq: Int64?) -> EventLine {
        EventLine(seq: seq, json: #"{"class":"TAP","seq":\#(seq ?? -1)}"#)
    }

    @Test("An event that waits for a lower seq runs its work only once it is delivered")
    func waitsWithItsEvent() {
        let delivered = Mutex<[Int64]>([])
        let seenByWork = Mutex<[[Int64]]>([])
        let sequencer = EventSequencer { event in delivered.withLock { $0.append(event.seq ?? -1) } }
        sequencer.start(after: 0)
        let first = sequencer.reserve()
        let second = sequencer.reserve()
        // The second writer commits seq 2 and hands over first: seq 1 may still come.
        sequencer.finish(second, with: Self.line(2)) {
            seenByWork.withLock { $0.append(delivered.withLock { $0 }) }
        }
        #expect(delivered.withLock { $0 } == [])
        #expect(seenByWork.withLock { $0 } == [])
        sequencer.finish(first, with: Self.line(1))
        #expect(delivered.withLock { $0 } == [1, 2])
        // It ran once, and by then its event was out.
        #expect(seenByWork.withLock { $0 } == [[1, 2]])
    }

    @Test("An event next in order runs its work at once, after delivering it")
    func nextInOrder() {
        let delivered = Mutex<[Int64]>([])
        let seenByWork = Mutex<[[Int64]]>([])
        let sequencer = EventSequencer { event in delivered.withLock { $0.append(event.seq ?? -1) } }
        sequencer.start(after: 6)
        let ticket = sequencer.reserve()
        sequencer.finish(ticket, with: Self.line(7)) { seenByWork.withLock { $0.append(delivered.withLock { $0 }) } }
        #expect(seenByWork.withLock { $0 } == [[7]])
    }

    @Test("An event that could not be stored (no seq) is delivered, then its work runs; no event: the work runs at once")
    func unstoredAndNothing() {
        let delivered = Mutex<[Int64]>([])
        let seenByWork = Mutex<[[Int64]]>([])
        let sequencer = EventSequencer { event in delivered.withLock { $0.append(event.seq ?? -1) } }
        sequencer.start(after: 0)
        let blocker = sequencer.reserve()
        let unstored = sequencer.reserve()
        sequencer.finish(unstored, with: Self.line(nil)) { seenByWork.withLock { $0.append(delivered.withLock { $0 }) } }
        #expect(seenByWork.withLock { $0 } == [[-1]])
        sequencer.finish(blocker, with: nil) { seenByWork.withLock { $0.append(delivered.withLock { $0 }) } }
        #expect(seenByWork.withLock { $0 } == [[-1], [-1]])
    }
}
