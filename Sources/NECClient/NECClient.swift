// NECClient: A Swift client for necd's socket: connect, watch with since, reconnect, partial lines.
