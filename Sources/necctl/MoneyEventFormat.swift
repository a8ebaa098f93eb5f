import NECCard
import NECProtocol

/// How `watch` shows protocol 1.1's events to people: charges and refunds (`PAYMENT`),
/// voids (`VOIDED`) and pupils served by hand. Same columns as a card's tap: time, seq,
/// lane, then where a tap has the card the till's transaction id (or `by hand, no card`
/// for a manual tap), what happened in words with the amount in pounds and pence, and
/// the pupil (masked unless the card office asks) with the day's spending and balance.
extension EventFormat {
    /// The card column of a pupil the till picked by hand.
    static let byHand = "by hand, no card"

    /// `payment` with its pupil masked (`******42`).
    static func masked(_ payment: PaymentEvent) -> PaymentEvent {
        var copy = payment
        copy.pupil = ISRN.mask(payment.pupil)
        return copy
    }

    /// `voided` with its pupil masked.
    static func masked(_ voided: VoidedEvent) -> VoidedEvent {
        var copy = voided
        copy.pupil = voided.pupil.map(ISRN.mask)
        return copy
    }

    /// `12:03:10       #57  till-2                txn till2-000981      charged £2.35  pupil ******42  spent today £2.35  £0.15 left today  balance £12.65`
    func line(_ payment: PaymentEvent) -> String {
        var columns = [
            clock(payment.time), Self.right(payment.seq.map { "#\($0)" } ?? "", Self.seqWidth),
            Self.left(payment.lane ?? "-", Self.whereWidth), Self.left("txn " + payment.txn, cardWidth),
        ]
        columns.append(paint(Self.outcome(payment), payment.decision == .authorised ? Self.green : Self.red))
        if !payment.pupil.isEmpty { columns.append("pupil " + (showCardNumbers ? payment.pupil : ISRN.mask(payment.pupil))) }
        if let spent = payment.spentToday { columns.append("spent today " + Pence.pounds(spent)) }
        if let remaining = payment.remainingToday { columns.append(Pence.pounds(remaining) + " left today") }
        if let balance = payment.balance { columns.append("balance " + Pence.pounds(balance)) }
        if payment.listStale == true && payment.reason != .listStale { columns.append(paint("list out of date", Self.yellow)) }
        return columns.joined(separator: "  ")
    }

    /// `12:05:00       #61  till-2                                      voided: the lunch of #42 is released  pupil ******42`
    func line(_ voided: VoidedEvent) -> String {
        var columns = [
            clock(voided.time), Self.right(voided.seq.map { "#\($0)" } ?? "", Self.seqWidth),
            Self.left(voided.lane ?? "-", Self.whereWidth), Self.left("", cardWidth),
        ]
        let what = voided.voided.map { "voided: the lunch of #\($0) is released" } ?? "voided: a lunch is released"
        columns.append(paint(what, Self.yellow))
        if let pupil = voided.pupil { columns.append("pupil " + (showCardNumbers ? pupil : ISRN.mask(pupil))) }
        return columns.joined(separator: "  ")
    }

    /// What happened to the money, in words: `charged £2.35`, `refunded £2.35`,
    /// `charge of £4.00 declined: over the daily limit`.
    static func outcome(_ payment: PaymentEvent) -> String {
        let amount = Pence.pounds(payment.amount)
        let kind = payment.kind == .refund ? "refund" : payment.kind == .charge ? "charge" : words(payment.kind.rawValue)
        switch payment.decision {
        case .authorised:
            return payment.kind == .refund ? "refunded \(amount)" : payment.kind == .charge ? "charged \(amount)" : "\(kind) of \(amount)"
        case .declined:
            return "\(kind) of \(amount) declined: " + (payment.reason.map(reasonWords) ?? "no reason given")
        default:
            return "\(kind) of \(amount): " + words(payment.decision.rawValue)
        }
    }
}

/// Whole pence as people read money: `£2.35`, `£0.05`, `-£1.20`.
enum Pence {
    static func pounds(_ pence: Int) -> String {
        let magnitude = pence.magnitude
        let fraction = magnitude % 100
        return (pence < 0 ? "-£" : "£") + "\(magnitude / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}
