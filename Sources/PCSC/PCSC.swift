// PCSC: Typed Swift binding to libpcsclite: contexts, reader states, card connections, named errors, ReaderMonitor.
