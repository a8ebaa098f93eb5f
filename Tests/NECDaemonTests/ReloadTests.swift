import Entitlements
import Foundation
import Logging
import NECConfiguration
@testable import NECDaemon
import NECSocketServerTesting
import NECProtocol
import Testing

/// SIGHUP's reload, driven directly on a real configuration file and a real SQLite store:
/// the next decision sees the new settings, the store is the one opened at start, and a
/// bad file changes nothing.
@Suite("Reload: new settings for the next decision, the same store", .timeLimit(.minutes(1)))
struct ReloadTests {
    /// The daemon's state loaded from `necd.toml` saying `toml`, over a store whose list
    /// was imported eight days ago (past the default max_list_age of 7), and the reload
    /// that SIGHUP runs.
    static func daemon(in directory: String, toml: String) throws -> (DaemonState, EntitlementStore, Housekeeping) {
        let path = directory + "/necd.toml"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try NECConfiguration.load(path: path)
        let list = directory + "/list.csv"
        try "card,pupil,entitlement\n\(card),TEST-0001,fsm\n".write(toFile: list, atomically: true, encoding: .utf8)
        let store = try EntitlementStore(path: configuration.database)
        try store.importList(path: list, at: Date().addingTimeInterval(-8 * 86_400))
        let state = DaemonState(configuration: configuration, store: store)
        let housekeeping = Housekeeping(
            configurationPath: path, state: state, notifier: SystemdNotifier(environment: [:]),
            logger: Logger(label: "necd.test.reload"))
        return (state, store, housekeeping)
    }

    static let card = "633597999900000019"

    static let stale = LookupMessage(
        card: CardInfo(isrn: card, media: .unknown), decision: .authorised, kind: .lunch, pupil: "TEST-0001",
        listStale: true)

    @Test func aChangedStaleListPolicyDecidesTheNextLookupOnTheSameStore() async throws {
        try await withTemporaryDirectory { directory in
            let (state, store, housekeeping) = try Self.daemon(
                in: directory, toml: "database = \"necd.sqlite\"\nstale_list_policy = \"allow\"\n")
            let backend = DaemonBackendStore(state: state, registry: ReaderRegistry())
            #expect(try await backend.lookup(card: Self.card) == Self.stale)

            try "database = \"necd.sqlite\"\nstale_list_policy = \"decline\"\n"
                .write(toFile: directory + "/necd.toml", atomically: true, encoding: .utf8)
            housekeeping.reload()

            #expect(state.snapshot.configuration.staleListPolicy == .decline)
            #expect(state.snapshot.policy == DecisionPolicy(stalePolicy: .decline))
            #expect(
                try await backend.lookup(card: Self.card)
                    == LookupMessage(
                        card: CardInfo(isrn: Self.card, media: .unknown), decision: .declined, reason: .listStale,
                        listStale: true))
            // Not reopened: the store opened at start, with its connections.
            #expect(state.snapshot.store === store)
        }
    }

    @Test func theSettingsOfTheStartStayUntilTheNextStartTheOthersApply() async throws {
        try await withTemporaryDirectory { directory in
            let (state, store, housekeeping) = try Self.daemon(
                in: directory, toml: "database = \"necd.sqlite\"\nsocket = \"a.sock\"\nmax_clients = 10\n")
            try """
                database = "other.sqlite"
                socket = "b.sock"
                socket_group = "nogroup"
                max_clients = 20
                max_list_age = 30
                """.write(toFile: directory + "/necd.toml", atomically: true, encoding: .utf8)
            housekeeping.reload()

            let now = state.snapshot.configuration
            #expect(now.database == directory + "/necd.sqlite")
            #expect(now.socket == directory + "/a.sock")
            #expect(now.socketGroup == "necd")
            #expect(now.maxClients == 10)
            #expect(now.maxListAge == 30)
            #expect(state.snapshot.policy == DecisionPolicy(maxListAge: 30))
            // Thirty days allow the eight-day-old list: the next lookup says it is fresh.
            let backend = DaemonBackendStore(state: state, registry: ReaderRegistry())
            #expect(
                try await backend.lookup(card: Self.card)
                    == LookupMessage(
                        card: CardInfo(isrn: Self.card, media: .unknown), decision: .authorised, kind: .lunch,
                        pupil: "TEST-0001"))
            #expect(state.snapshot.store === store)
        }
    }

    @Test func aBadFileOnReloadKeepsTheSettingsInForce() async throws {
        try await withTemporaryDirectory { directory in
            let (state, store, housekeeping) = try Self.daemon(
                in: directory, toml: "database = \"necd.sqlite\"\nmax_list_age = 7\n")
            let before = state.snapshot.configuration
            let backend = DaemonBackendStore(state: state, registry: ReaderRegistry())

            try "database = \"necd.sqlite\"\nstale_list_policy = \"refuse\"\n"
                .write(toFile: directory + "/necd.toml", atomically: true, encoding: .utf8)
            housekeeping.reload()

            #expect(state.snapshot.configuration == before)
            #expect(state.snapshot.policy == DecisionPolicy())
            #expect(try await backend.lookup(card: Self.card) == Self.stale)
            #expect(state.snapshot.store === store)
        }
    }
}
