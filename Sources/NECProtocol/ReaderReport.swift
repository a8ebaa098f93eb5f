/// One line of `necctl readers --json`: a reader as pcscd reports it, with the role and
/// lane the configuration gives it. Keys in alphabetical order. Not sent on the socket.
///
/// `{"atr":"3B 8F 80 …","atr_meaning":"…","flags":"CHANGED|PRESENT","lane":"till-1","reader":"ACS ACR1252 01 00","role":"till","state":"present"}`
public struct ReaderReport: Codable, Hashable, Sendable {
    /// The ATR of the card on it, spaced hex, when one is present.
    public var atr: String?
    /// What the ATR says about the card, in words.
    public var atrMeaning: String?
    /// pcscd's state flags, as their names joined by `|`.
    public var flags: String
    /// The configured lane label.
    public var lane: String?
    /// The pcscd reader name.
    public var reader: String
    /// How its taps are treated.
    public var role: ReaderRole
    /// Whether it holds a card.
    public var state: ReaderStatus

    /// Creates a reader line.
    /// - Parameters: the line's keys, see the properties.
    public init(
        reader: String, state: ReaderStatus, role: ReaderRole, lane: String?, atr: String?, atrMeaning: String?,
        flags: String
    ) {
        (self.reader, self.state, self.role, self.lane) = (reader, state, role, lane)
        (self.atr, self.atrMeaning, self.flags) = (atr, atrMeaning, flags)
    }

    enum CodingKeys: String, CodingKey {
        case atr, atrMeaning = "atr_meaning", flags, lane, reader, role, state
    }
}
