import NECDaemon
import Testing

/// `Debounce` on instants the test makes (milliseconds after `start`): no clock decides these tests.
@Suite("Debounce: one decision per card per reader within the window")
struct DebounceTests {
    /// One thing that happens on a reader, `ms` milliseconds after `start`.
    enum Step {
        case tap(String, on: String, ms: Int)
        case removed(from: String, ms: Int)
        case window(Duration)
    }

    let start = ContinuousClock.now

    /// Plays `steps` into a debounce with a 2 s window; what each tap's `admit` said.
    func admitted(_ steps: [Step]) -> [Bool] {
        var debounce = Debounce(window: .seconds(2))
        var answers: [Bool] = []
        for step in steps {
            switch step {
            case .tap(let card, let reader, let ms): answers.append(debounce.admit(card: card, reader: reader, at: start + .milliseconds(ms)))
            case .removed(let reader, let ms): debounce.removed(reader: reader, at: start + .milliseconds(ms))
            case .window(let window): debounce.window = window
            }
        }
        return answers
    }

    @Test func aCardHeldOrLaidAgainWithinTheWindowIsAdmittedOnce() {
        // Without a removal the window runs from the decision.
        #expect(admitted([.tap("A", on: "R1", ms: 0), .tap("A", on: "R1", ms: 1999), .tap("A", on: "R1", ms: 2000)]) == [true, false, true])
    }

    @Test func theWindowRunsFromTheRemoval() {
        let steps: [Step] = [
            .tap("A", on: "R1", ms: 0), .removed(from: "R1", ms: 5000), .tap("A", on: "R1", ms: 6500),
            // Lifted again: the window now runs from the second removal.
            .removed(from: "R1", ms: 6600), .tap("A", on: "R1", ms: 8599), .tap("A", on: "R1", ms: 8600),
        ]
        #expect(admitted(steps) == [true, false, false, true])
    }

    @Test func anotherCardOrAnotherReaderIsANewTap() {
        let steps: [Step] = [
            .tap("A", on: "R1", ms: 0), .tap("A", on: "R2", ms: 100), .tap("B", on: "R1", ms: 200),
            // R1 now remembers B: A again is new there; R2 still remembers A.
            .tap("A", on: "R1", ms: 300), .tap("A", on: "R2", ms: 400),
        ]
        #expect(admitted(steps) == [true, true, true, true, false])
    }

    /// The rig's two-reader case, on instants: a lift on one reader neither opens nor
    /// moves the window of another.
    @Test func aRemovalOnOneReaderLeavesAnotherReadersWindowAlone() {
        let steps: [Step] = [
            .tap("A", on: "R1", ms: 0), .removed(from: "R1", ms: 500), .tap("A", on: "R2", ms: 600),
            // R2's lift at 1500 does not restart R1's window, which ran from R1's lift at 500.
            .removed(from: "R2", ms: 1500), .tap("A", on: "R1", ms: 2499), .tap("A", on: "R1", ms: 2500),
            .tap("A", on: "R2", ms: 3499), .tap("A", on: "R2", ms: 3500),
        ]
        #expect(admitted(steps) == [true, true, false, true, false, true])
    }

    @Test func aRemovalOnAReaderWithNoTapChangesNothing() {
        #expect(admitted([.removed(from: "R1", ms: 0), .tap("A", on: "R1", ms: 100), .tap("A", on: "R1", ms: 200)]) == [true, false])
    }

    @Test func aChangedWindowAppliesToTheNextTap() {
        let steps: [Step] = [
            .tap("A", on: "R1", ms: 0), .window(.seconds(10)), .tap("A", on: "R1", ms: 5000),
            // With no window every tap is new.
            .window(.zero), .tap("A", on: "R1", ms: 5000), .tap("A", on: "R1", ms: 5000),
        ]
        #expect(admitted(steps) == [true, false, true, true])
    }
}
