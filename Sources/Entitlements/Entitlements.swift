// Entitlements: The SQLite entitlement store, CSV list import, signatures, decision rules and event journal.
