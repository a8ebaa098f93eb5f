// VirtualCard: A card emulator that speaks vsmartcard's vpcd protocol, with NEC card models and faults.
//
// - `VirtualShell` encodes an ITSO shell from its fields.
// - `VirtualCardModel` describes a card (chip, UID, shell, faults); `EmulatedCard` answers
//   APDUs for one tap of it.
// - `ReplayedCard` answers as a card recorded by `necctl scan --record` did.
// - `VirtualCardSession` connects to vpcd and serves either; `VirtualCardRunner` wraps
//   it as `tap` and `serve`.
//
// For example, a tap of an expired card held for two seconds on the rig's first reader:
//
//     let card = try VirtualCardModel.from(isrn: "633597 9999 0000 0019", expired: true)
//     let stats = try await VirtualCardRunner.tap(card: card, port: 40960, hold: .seconds(2))
//     // stats.lastAnsweredAt: where a latency measurement starts
