// PCSC: a thin, typed Swift binding to libpcsclite (contexts, reader states, card
// connections, named errors) and `ReaderMonitor`, the reader loop a daemon needs.
//
// Every call here blocks the calling thread for as long as pcscd takes; call them from
// a dedicated thread (as `ReaderMonitor` does), never from the cooperative pool or NIO.

internal import CPCSC

/// A connection to pcscd (`SCARDCONTEXT`).
///
/// A context is a plain handle: copies share it, and ``release()`` ends it for all
/// copies. pcsc-lite is thread safe, but it serialises calls on one context, so a call
/// made while another thread waits in ``statusChange(_:timeout:)`` on the same context
/// waits too; ``cancel()`` is the exception and is meant to be called from another thread.
public struct PCSCContext: Sendable, Hashable {
    /// The raw `SCARDCONTEXT` value.
    public let handle: Int

    /// Establishes a context with pcscd (`SCardEstablishContext`, system scope).
    ///
    /// - Throws: ``PCSCError/noService`` when pcscd is not running,
    ///   ``PCSCError/securityViolation`` when polkit refuses.
    public static func establish() throws(PCSCError) -> PCSCContext {
        var context: SCARDCONTEXT = 0
        try check(SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), nil, nil, &context))
        return PCSCContext(handle: context)
    }

    /// Ends the context (`SCardReleaseContext`). Card connections made on it end too.
    public func release() throws(PCSCError) {
        try check(SCardReleaseContext(handle))
    }

    /// Whether pcscd still accepts this context (`SCardIsValidContext`).
    public var isValid: Bool {
        SCardIsValidContext(handle) == SCARD_S_SUCCESS
    }

    /// The names of the readers pcscd knows now (`SCardListReaders`).
    ///
    /// - Returns: the reader names in pcscd's order; empty when there are none
    ///   (pcsc-lite reports that as `SCARD_E_NO_READERS_AVAILABLE`).
    public func listReaders() throws(PCSCError) -> [String] {
        var length: DWORD = 0
        do {
            try check(SCardListReaders(handle, nil, nil, &length))
        } catch .noReadersAvailable {
            return []
        }
        // The list can grow between the two calls; retry once with the new length.
        for _ in 0..<2 {
            var buffer = [CChar](repeating: 0, count: Int(length))
            let returnCode = SCardListReaders(handle, nil, &buffer, &length)
            switch PCSCError(returnCode: returnCode) {
            case nil:
                return Self.splitMultiString(buffer.prefix(Int(length)))
            case .noReadersAvailable:
                return []
            case .insufficientBuffer:
                continue
            case let error?:
                throw error
            }
        }
        throw .insufficientBuffer
    }

    /// Waits until the state of one of the readers differs from what the caller knows
    /// (`SCardGetStatusChange`).
    ///
    /// Put ``ReaderState/plugAndPlayNotification`` last in `states` to wake when a
    /// reader is added or removed.
    ///
    /// - Parameters:
    ///   - states: what the caller knows (``ReaderState/currentState``,
    ///     ``ReaderState/currentEventCount``); on return each holds pcscd's view in
    ///     ``ReaderState/eventState``, ``ReaderState/eventCount`` and ``ReaderState/atr``.
    ///   - timeout: milliseconds to wait, or `nil` to wait without limit (`INFINITE`).
    /// - Throws: ``PCSCError/timeout``; ``PCSCError/cancelled`` after ``cancel()``;
    ///   ``PCSCError/communicationError`` if pcscd dies meanwhile.
    public func statusChange(_ states: inout [ReaderState], timeout milliseconds: UInt32? = nil) throws(PCSCError) {
        // NUL-terminated copies of the names outlive the call; the C structs point into them.
        let names = states.map { state in
            let utf8 = Array(state.reader.utf8CString)
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
            copy.initialize(from: utf8, count: utf8.count)
            return copy
        }
        defer { names.forEach { $0.deallocate() } }
        var cStates = states.indices.map { index in
            var cState = SCARD_READERSTATE()
            cState.szReader = UnsafePointer(names[index])
            cState.dwCurrentState = DWORD(states[index].rawCurrentState)
            return cState
        }
        let returnCode = SCardGetStatusChange(
            handle, DWORD(milliseconds ?? UInt32(INFINITE)), &cStates, DWORD(cStates.count))
        try check(returnCode)
        for index in states.indices {
            var cState = cStates[index]
            let atrLength = min(Int(cState.cbAtr), Int(MAX_ATR_SIZE))
            let atr = withUnsafeBytes(of: &cState.rgbAtr) { Array($0.prefix(atrLength)) }
            states[index].update(rawEventState: UInt32(truncatingIfNeeded: cState.dwEventState), atr: atr)
        }
    }

    /// Makes a ``statusChange(_:timeout:)`` waiting on this context in another thread
    /// return ``PCSCError/cancelled`` (`SCardCancel`). A call that has not yet begun to
    /// wait is not affected.
    public func cancel() throws(PCSCError) {
        try check(SCardCancel(handle))
    }

    /// Connects to the card on a reader (`SCardConnect`).
    ///
    /// - Parameters:
    ///   - reader: the reader's name as listed.
    ///   - share: whether other programs may use the card meanwhile.
    ///   - protocols: the protocols acceptable; the card and reader pick one.
    /// - Throws: ``PCSCError/noSmartCard``, ``PCSCError/removedCard``,
    ///   ``PCSCError/unresponsiveCard``, ``PCSCError/unknownReader``, ...
    public func connect(
        reader: String, share: ShareMode = .shared, protocols: CardProtocols = .any
    ) throws(PCSCError) -> CardConnection {
        var card: SCARDHANDLE = 0
        var active: DWORD = 0
        try check(SCardConnect(handle, reader, DWORD(share.rawValue), DWORD(protocols.rawValue), &card, &active))
        return CardConnection(handle: card, activeProtocol: CardProtocols(rawValue: UInt32(truncatingIfNeeded: active)))
    }

    /// Splits a PC/SC multi-string (names ended by NUL, list ended by an empty name).
    static func splitMultiString(_ bytes: some Collection<CChar>) -> [String] {
        bytes.split(separator: 0, omittingEmptySubsequences: true).map { name in
            String(decoding: name.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

/// What the states in `SCARD_READERSTATE.dwCurrentState` / `dwEventState` say about a
/// reader (the low 16 bits; the high 16 bits are the event count, kept apart).
public struct ReaderStateFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The raw `SCARD_STATE_*` bits.
    public let rawValue: UInt32

    /// Wraps raw `SCARD_STATE_*` bits.
    /// - Parameter rawValue: the bits; only the low 16 bits are states.
    public init(rawValue: UInt32) { self.rawValue = rawValue & 0xFFFF }

    /// `SCARD_STATE_UNAWARE` is no bit at all: "tell me the state now".
    public static let unaware: ReaderStateFlags = []
    /// `SCARD_STATE_IGNORE`: skip this entry.
    public static let ignore = ReaderStateFlags(rawValue: 0x0001)
    /// `SCARD_STATE_CHANGED`: the state differs from the current state given.
    public static let changed = ReaderStateFlags(rawValue: 0x0002)
    /// `SCARD_STATE_UNKNOWN`: no reader by that name (it was removed).
    public static let unknown = ReaderStateFlags(rawValue: 0x0004)
    /// `SCARD_STATE_UNAVAILABLE`: the reader's state cannot be read.
    public static let unavailable = ReaderStateFlags(rawValue: 0x0008)
    /// `SCARD_STATE_EMPTY`: no card.
    public static let empty = ReaderStateFlags(rawValue: 0x0010)
    /// `SCARD_STATE_PRESENT`: a card is on the reader.
    public static let present = ReaderStateFlags(rawValue: 0x0020)
    /// `SCARD_STATE_ATRMATCH`: the card's ATR matches the one given.
    public static let atrMatch = ReaderStateFlags(rawValue: 0x0040)
    /// `SCARD_STATE_EXCLUSIVE`: another program holds the card exclusively.
    public static let exclusive = ReaderStateFlags(rawValue: 0x0080)
    /// `SCARD_STATE_INUSE`: a program is connected to the card.
    public static let inUse = ReaderStateFlags(rawValue: 0x0100)
    /// `SCARD_STATE_MUTE`: the card does not answer.
    public static let mute = ReaderStateFlags(rawValue: 0x0200)
    /// `SCARD_STATE_UNPOWERED`: the card is not powered.
    public static let unpowered = ReaderStateFlags(rawValue: 0x0400)

    private static let names: [(ReaderStateFlags, String)] = [
        (.ignore, "IGNORE"), (.changed, "CHANGED"), (.unknown, "UNKNOWN"),
        (.unavailable, "UNAVAILABLE"), (.empty, "EMPTY"), (.present, "PRESENT"),
        (.atrMatch, "ATRMATCH"), (.exclusive, "EXCLUSIVE"), (.inUse, "INUSE"),
        (.mute, "MUTE"), (.unpowered, "UNPOWERED"),
    ]

    /// The set bits by their `SCARD_STATE_` suffix, such as `PRESENT|INUSE`.
    public var description: String {
        let set = Self.names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "UNAWARE" : set.joined(separator: "|")
    }
}

/// One entry of the list `SCardGetStatusChange` waits on.
public struct ReaderState: Sendable, Hashable {
    /// The name pcsc-lite reserves for "readers were added or removed" (`\\?PnP?\Notification`).
    public static let plugAndPlayNotification = #"\\?PnP?\Notification"#

    /// The reader's name, or ``plugAndPlayNotification``.
    public var reader: String
    /// The state the caller knows; ``ReaderStateFlags/unaware`` to ask for the state now.
    public var currentState: ReaderStateFlags
    /// The event count the caller knows (for the PnP entry: the number of readers).
    public var currentEventCount: UInt16
    /// The state pcscd reported in the last wait.
    public private(set) var eventState: ReaderStateFlags = []
    /// The count of card insertions and removals pcscd reported (the high 16 bits of
    /// `dwEventState`); for the PnP entry, the number of readers.
    public private(set) var eventCount: UInt16 = 0
    /// The card's ATR as last reported; empty when no card.
    public private(set) var atr: [UInt8] = []

    /// A state entry for a reader.
    /// - Parameters:
    ///   - reader: the reader's name, or ``plugAndPlayNotification``.
    ///   - currentState: what the caller knows; `.unaware` returns the state at once.
    ///   - currentEventCount: the event count the caller knows.
    public init(reader: String, currentState: ReaderStateFlags = .unaware, currentEventCount: UInt16 = 0) {
        self.reader = reader
        self.currentState = currentState
        self.currentEventCount = currentEventCount
    }

    /// Takes the reported state as known, so the next wait returns only on a new change.
    public mutating func acknowledge() {
        currentState = eventState.subtracting(.changed)
        currentEventCount = eventCount
    }

    var rawCurrentState: UInt32 {
        currentState.rawValue | UInt32(currentEventCount) << 16
    }

    mutating func update(rawEventState: UInt32, atr: [UInt8]) {
        eventState = ReaderStateFlags(rawValue: rawEventState)
        eventCount = UInt16(truncatingIfNeeded: rawEventState >> 16)
        self.atr = atr
    }
}

/// How a connection shares the card (`SCARD_SHARE_*`).
public enum ShareMode: UInt32, Sendable {
    /// `SCARD_SHARE_EXCLUSIVE`: nobody else may connect meanwhile.
    case exclusive = 1
    /// `SCARD_SHARE_SHARED`: others may connect too.
    case shared = 2
    /// `SCARD_SHARE_DIRECT`: talk to the reader, with or without a card.
    case direct = 3
}

/// Card protocols (`SCARD_PROTOCOL_*`): the set offered when connecting, or the one in use.
public struct CardProtocols: OptionSet, Sendable, Hashable {
    /// The raw `SCARD_PROTOCOL_*` bits.
    public let rawValue: UInt32
    /// Wraps raw `SCARD_PROTOCOL_*` bits.
    /// - Parameter rawValue: the bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `SCARD_PROTOCOL_T0`.
    public static let t0 = CardProtocols(rawValue: 0x0001)
    /// `SCARD_PROTOCOL_T1`.
    public static let t1 = CardProtocols(rawValue: 0x0002)
    /// `SCARD_PROTOCOL_RAW`.
    public static let raw = CardProtocols(rawValue: 0x0004)
    /// `SCARD_PROTOCOL_ANY`: T=0 or T=1, whichever the card offers.
    public static let any: CardProtocols = [.t0, .t1]
}

/// What to do with the card when disconnecting (`SCARD_*_CARD`).
public enum Disposition: UInt32, Sendable {
    /// `SCARD_LEAVE_CARD`: nothing; the next connection finds the card as it is.
    case leave = 0
    /// `SCARD_RESET_CARD`: warm reset.
    case reset = 1
    /// `SCARD_UNPOWER_CARD`: power the card down.
    case unpower = 2
    /// `SCARD_EJECT_CARD`: eject, where the reader can.
    case eject = 3
}

/// The card's state as `SCardStatus` reports it (`SCARD_ABSENT`, `SCARD_PRESENT`, ...;
/// pcsc-lite sets bits, e.g. PRESENT|POWERED|NEGOTIABLE for a card in use over T=1).
public struct CardState: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public let rawValue: UInt32
    /// Wraps raw bits.
    /// - Parameter rawValue: the bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `SCARD_UNKNOWN`.
    public static let unknown = CardState(rawValue: 0x0001)
    /// `SCARD_ABSENT`.
    public static let absent = CardState(rawValue: 0x0002)
    /// `SCARD_PRESENT`.
    public static let present = CardState(rawValue: 0x0004)
    /// `SCARD_SWALLOWED`: present but not powered.
    public static let swallowed = CardState(rawValue: 0x0008)
    /// `SCARD_POWERED`.
    public static let powered = CardState(rawValue: 0x0010)
    /// `SCARD_NEGOTIABLE`: ready for protocol negotiation.
    public static let negotiable = CardState(rawValue: 0x0020)
    /// `SCARD_SPECIFIC`: a protocol has been set.
    public static let specific = CardState(rawValue: 0x0040)
}

/// What `SCardStatus` says about a connected card.
public struct CardStatus: Sendable, Hashable {
    /// The reader's name.
    public var reader: String
    /// The card's state.
    public var state: CardState
    /// The protocol in use.
    public var activeProtocol: CardProtocols
    /// The card's ATR.
    public var atr: [UInt8]
}

/// A connection to a card (`SCARDHANDLE`), made by ``PCSCContext/connect(reader:share:protocols:)``.
///
/// Ends with ``disconnect(_:)``, or when its context is released.
public struct CardConnection: Sendable, Hashable {
    /// The raw `SCARDHANDLE` value.
    public let handle: Int
    /// The protocol the card and reader agreed on (T=0 or T=1; vpcd and contactless
    /// readers give T=1).
    public let activeProtocol: CardProtocols

    /// Sends one command APDU and returns the response, status word included (`SCardTransmit`).
    ///
    /// The name and shape match `NECCard.APDUTransport`, so conforming takes an empty extension.
    /// - Parameter command: the command APDU.
    /// - Returns: the response data followed by SW1 SW2.
    /// - Throws: ``PCSCError/removedCard`` when the card left, ``PCSCError/resetCard``, ...
    public func transmit(_ command: [UInt8]) throws(PCSCError) -> [UInt8] {
        guard let pci = necd_pcsc_pci(DWORD(activeProtocol.rawValue)) else {
            throw .protocolMismatch
        }
        // Big enough for an extended APDU's answer, so SCARD_E_INSUFFICIENT_BUFFER cannot happen.
        let capacity = 4 + 3 + 65536 + 3 + 2  // MAX_BUFFER_SIZE_EXTENDED
        var thrown: PCSCError?
        let response = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            var length = DWORD(capacity)
            let returnCode = SCardTransmit(handle, pci, command, DWORD(command.count), nil, buffer.baseAddress, &length)
            thrown = PCSCError(returnCode: returnCode)
            count = thrown == nil ? min(Int(length), capacity) : 0
        }
        if let thrown { throw thrown }
        return response
    }

    /// Reads the reader name, card state, protocol and ATR (`SCardStatus`).
    public func status() throws(PCSCError) -> CardStatus {
        var nameLength = DWORD(MAX_READERNAME) + 1
        var name = [CChar](repeating: 0, count: Int(nameLength))
        var state: DWORD = 0
        var active: DWORD = 0
        var atr = [UInt8](repeating: 0, count: Int(MAX_ATR_SIZE))
        var atrLength = DWORD(MAX_ATR_SIZE)
        try check(SCardStatus(handle, &name, &nameLength, &state, &active, &atr, &atrLength))
        return CardStatus(
            reader: PCSCContext.splitMultiString(name.prefix(Int(nameLength))).first ?? "",
            // pcsc-lite puts the reader's event count in the high 16 bits here too (measured: 0x10034).
            state: CardState(rawValue: UInt32(truncatingIfNeeded: state) & 0xFFFF),
            activeProtocol: CardProtocols(rawValue: UInt32(truncatingIfNeeded: active)),
            atr: Array(atr.prefix(min(Int(atrLength), atr.count))))
    }

    /// Ends the connection (`SCardDisconnect`).
    /// - Parameter disposition: what to do with the card; `.leave` suits a tap.
    public func disconnect(_ disposition: Disposition = .leave) throws(PCSCError) {
        try check(SCardDisconnect(handle, DWORD(disposition.rawValue)))
    }
}
