// NECDaemon: The necd service: configuration, tap pipeline, socket server, systemd integration.
