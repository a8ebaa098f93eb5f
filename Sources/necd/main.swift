// necd daemon entry point.
