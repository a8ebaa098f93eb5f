/* libpcsclite for Swift. Not API: only the PCSC module imports this. */
#ifndef NECD_CPCSC_SHIM_H
#define NECD_CPCSC_SHIM_H
#include <PCSC/winscard.h>
#include <PCSC/reader.h>
#endif
