// VirtualCard: A card emulator that speaks vsmartcard's vpcd protocol, with NEC card models and faults.
