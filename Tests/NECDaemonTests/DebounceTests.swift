import NECDaemon
import Testing

/// `Debounce` on instants the test makes (milliseconds after `start`): no clock decides these tests.
@Suite("Debounce: one decision per card per reader within the window")
struct DebounceTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func aCardHeldOrLaidAgainWithinTheWindowIsAdmittedOnce() {
        var debounce = Debounce(window: .seconds(2))
        var admitted: [Bool] = []
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(0)))
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(1999)))
        // Without a removal the window runs from the decision.
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(2000)))
        #expect(admitted == [true, false, true])
    }

    @Test func theWindowRunsFromTheRemoval() {
        var debounce = Debounce(window: .seconds(2))
        var admitted: [Bool] = []
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(0)))
        debounce.removed(reader: "R1", at: at(5000))
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(6500)))
        // Lifted again: the window now runs from the second removal.
        debounce.removed(reader: "R1", at: at(6600))
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(8599)))
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(8600)))
        #expect(admitted == [true, false, false, true])
    }

    @Test func anotherCardOrAnotherReaderIsANewTap() {
        var debounce = Debounce(window: .seconds(2))
        var admitted: [Bool] = []
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(0)))
        admitted.append(debounce.admit(card: "A", reader: "R2", at: at(100)))
        admitted.append(debounce.admit(card: "B", reader: "R1", at: at(200)))
        // R1 now remembers B: A again is new there; R2 still remembers A.
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(300)))
        admitted.append(debounce.admit(card: "A", reader: "R2", at: at(400)))
        #expect(admitted == [true, true, true, true, false])
    }

    @Test func aRemovalOnAReaderWithNoTapChangesNothing() {
        var debounce = Debounce(window: .seconds(2))
        var admitted: [Bool] = []
        debounce.removed(reader: "R1", at: at(0))
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(100)))
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(200)))
        #expect(admitted == [true, false])
    }

    @Test func aChangedWindowAppliesToTheNextTap() {
        var debounce = Debounce(window: .seconds(2))
        var admitted: [Bool] = []
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(0)))
        debounce.window = .seconds(10)
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(5000)))
        // With no window every tap is new.
        debounce.window = .zero
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(5000)))
        admitted.append(debounce.admit(card: "A", reader: "R1", at: at(5000)))
        #expect(admitted == [true, false, true, true])
    }
}
