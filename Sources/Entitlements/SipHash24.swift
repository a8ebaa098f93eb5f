/// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit pseudo-random function.
/// The importer keys it with 128 random bits per import to fingerprint each row as both
/// passes read it: without the key nobody can make a changed row fingerprint the same.
struct SipHash24 {
    private var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64
    /// Bytes not yet making a full 8-byte word, little-endian in the low bits.
    private var tail: UInt64 = 0
    private var tailCount = 0
    private var length = 0

    init(k0: UInt64, k1: UInt64) {
        v0 = k0 ^ 0x736f_6d65_7073_6575
        v1 = k1 ^ 0x646f_7261_6e64_6f6d
        v2 = k0 ^ 0x6c79_6765_6e65_7261
        v3 = k1 ^ 0x7465_6462_7974_6573
    }

    private mutating func round() {
        v0 &+= v1; v1 = v1.rotatedLeft(13); v1 ^= v0; v0 = v0.rotatedLeft(32)
        v2 &+= v3; v3 = v3.rotatedLeft(16); v3 ^= v2
        v0 &+= v3; v3 = v3.rotatedLeft(21); v3 ^= v0
        v2 &+= v1; v1 = v1.rotatedLeft(17); v1 ^= v2; v2 = v2.rotatedLeft(32)
    }

    private mutating func compress(_ m: UInt64) {
        v3 ^= m
        round()
        round()
        v0 ^= m
    }

    mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        length &+= bytes.count
        var i = 0
        let n = bytes.count
        // Finish a word left incomplete by an earlier update.
        while tailCount != 0 && i < n {
            tail |= UInt64(bytes[i]) << (8 * UInt64(tailCount))
            tailCount += 1
            i += 1
            if tailCount == 8 {
                compress(tail)
                tail = 0
                tailCount = 0
            }
        }
        while n - i >= 8 {
            var m: UInt64 = 0
            for j in 0..<8 { m |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
            compress(m)
            i += 8
        }
        while i < n {
            tail |= UInt64(bytes[i]) << (8 * UInt64(tailCount))
            tailCount += 1
            i += 1
        }
    }

    mutating func update(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { update($0.bindMemory(to: UInt8.self)) }
    }

    func finalize() -> UInt64 {
        var s = self
        s.compress(s.tail | UInt64(truncatingIfNeeded: s.length) << 56)
        s.v2 ^= 0xFF
        s.round()
        s.round()
        s.round()
        s.round()
        return s.v0 ^ s.v1 ^ s.v2 ^ s.v3
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotatedLeft(_ n: UInt64) -> UInt64 { self << n | self >> (64 - n) }
}
