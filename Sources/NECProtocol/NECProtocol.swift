// NECProtocol: The socket protocol v1 messages and framing, shared by necd and its clients.
