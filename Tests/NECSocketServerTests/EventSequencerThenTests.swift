@testable import NECSocketServer
import Synchronization
import Testing

/// What runs "once the event is out" (reader feedback) runs after its event is handed
/// over, never before, even when the event waits for another writer.
@Suite("Event sequencer: the work after an event")
struct EventSequencerThenTests {
    /// A sequencer that records what it delivers, and work that records what had been
    /// delivered when it ran.
    final class Recorder: Sendable {
        let log = Log()
        let sequencer: EventSequencer

        final class Log: Sendable {
            let delivered = Mutex<[Int64]>([])
            let seenByWork = Mutex<[[Int64]]>([])
        }

        init(after seq: Int64) {
            let log = self.log
            sequencer = EventSequencer { event in log.delivered.withLock { $0.append(event.seq ?? -1) } }
            sequencer.start(after: seq)
        }

        /// Hands over `seq` (nil: an event that could not be stored; no event when `event` is false) with work.
        func finish(_ ticket: PublishTicket, seq: Int64?, event: Bool = true) {
            let line = event ? EventLine(seq: seq, json: #"{"class":"TAP","seq":\#(seq ?? -1)}"#) : nil
            let log = self.log
            sequencer.finish(ticket, with: line) {
                let now = log.delivered.withLock { $0 }
                log.seenByWork.withLock { $0.append(now) }
            }
        }
    }

    @Test("An event that waits for a lower seq runs its work only once it is delivered")
    func waitsWithItsEvent() {
        let recorder = Recorder(after: 0)
        let first = recorder.sequencer.reserve()
        let second = recorder.sequencer.reserve()
        // The second writer commits seq 2 and hands over first: seq 1 may still come.
        recorder.finish(second, seq: 2)
        #expect(recorder.log.delivered.withLock { $0 } == [])
        #expect(recorder.log.seenByWork.withLock { $0 } == [])
        recorder.sequencer.finish(first, with: EventLine(seq: 1, json: #"{"class":"TAP","seq":1}"#))
        #expect(recorder.log.delivered.withLock { $0 } == [1, 2])
        // It ran once, and by then its event was out.
        #expect(recorder.log.seenByWork.withLock { $0 } == [[1, 2]])
    }

    @Test("An event next in order runs its work at once, after delivering it")
    func nextInOrder() {
        let recorder = Recorder(after: 6)
        recorder.finish(recorder.sequencer.reserve(), seq: 7)
        #expect(recorder.log.seenByWork.withLock { $0 } == [[7]])
    }

    @Test("An event that could not be stored (no seq) is delivered, then its work runs; no event: the work runs at once")
    func unstoredAndNothing() {
        let recorder = Recorder(after: 0)
        let blocker = recorder.sequencer.reserve()
        recorder.finish(recorder.sequencer.reserve(), seq: nil)
        #expect(recorder.log.seenByWork.withLock { $0 } == [[-1]])
        recorder.finish(blocker, seq: nil, event: false)
        #expect(recorder.log.seenByWork.withLock { $0 } == [[-1], [-1]])
    }
}
