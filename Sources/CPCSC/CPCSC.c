/* See include/CPCSC.h. */
#include <stddef.h>

#include "CPCSC.h"

const SCARD_IO_REQUEST *necd_pcsc_pci(DWORD protocol)
{
	switch (protocol) {
	case SCARD_PROTOCOL_T0:
		return SCARD_PCI_T0;
	case SCARD_PROTOCOL_T1:
		return SCARD_PCI_T1;
	case SCARD_PROTOCOL_RAW:
		return SCARD_PCI_RAW;
	default:
		return NULL;
	}
}
