/* libpcsclite for Swift. Not API: only the PCSC module imports this.
 *
 * A C target rather than a pkg-config system library because pkg-config adds
 * -pthread, which SwiftPM rejects with a warning on every build. pcsc-lite's own
 * headers include <pcsclite.h> and <wintypes.h> unprefixed, hence the
 * -I/usr/include/PCSC in Package.swift.
 */
#ifndef NECD_CPCSC_H
#define NECD_CPCSC_H

#include <PCSC/winscard.h>
#include <PCSC/reader.h>

/* The protocol control information SCardTransmit needs for an active protocol
 * (SCARD_PROTOCOL_T0, _T1 or _RAW), or NULL for any other value. pcsc-lite
 * exports these as data symbols; a function keeps Swift from copying them. */
const SCARD_IO_REQUEST *necd_pcsc_pci(DWORD protocol);

#endif
