/// ITSO on an ISO 7816 microprocessor card (CMD2).
public enum CMD2 {
    /// The ITSO CMD2 AID: RID `A0 00 00 02 16` + ASCII `ITSO-1`.
    public static let itsoAID: [UInt8] = [0xA0, 0x00, 0x00, 0x02, 0x16] + Array("ITSO-1".utf8)

    /// SELECT by DF name, returning the FCI: `00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00`.
    public static let selectITSO: [UInt8] = [0x00, 0xA4, 0x04, 0x00, UInt8(itsoAID.count)] + itsoAID + [0x00]

    /// GET RESPONSE for `length` bytes (after `61 xx` on T=0).
    public static func getResponse(_ length: UInt8) -> [UInt8] { [0x00, 0xC0, 0x00, 0x00, length] }

    /// Sends `command` and follows `61 xx` with GET RESPONSE, appending each part.
    /// - Throws: `ExchangeError` for an answer with no status word or too many frames;
    ///   transport errors unchanged.
    public static func transceive(
        _ command: [UInt8], over transport: inout some APDUTransport, frameLimit: Int = DESFire.defaultFrameLimit
    ) throws -> ChainedResponse {
        try ChainedResponse.collect(command, over: &transport, frameLimit: frameLimit) { sw in
            sw.sw1 == 0x61 ? getResponse(sw.sw2) : nil
        }
    }
}
