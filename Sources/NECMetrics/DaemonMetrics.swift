import Prometheus

/// Every metric necd exports, defined here and nowhere else (names prefixed `necd_`).
///
/// The tap pipeline counts taps, failed reads and timings as they happen; the gauges
/// (readers, pcscd, the list, clients) are set from the daemon's state just before each
/// scrape (``refresh(_:)``). Costs a lock and an add per event, and no thread.
///
/// A ledger, when there is one, adds `necd_ledger_online` and `necd_ledger_queue` here.
public final class DaemonMetrics: Sendable {
    /// What the gauges show, read from the daemon at scrape time.
    public struct Gauges: Sendable {
        /// Readers by state name (`empty`, `present`, `unavailable`); each state in
        /// ``DaemonMetrics/readerStates`` is exported, 0 when absent.
        public var readers: [String: Int]
        /// Whether pcscd answers.
        public var pcscdUp: Bool
        /// Seconds since the list in force was imported; nil with no list.
        public var listAgeSeconds: Double?
        /// Rows of the list in force; 0 with no list.
        public var listRows: Int
        /// Clients connected now, Unix socket and WebSocket.
        public var socketClients: Int

        /// - Parameters: see the properties.
        public init(readers: [String: Int], pcscdUp: Bool, listAgeSeconds: Double?, listRows: Int, socketClients: Int) {
            self.readers = readers
            self.pcscdUp = pcscdUp
            self.listAgeSeconds = listAgeSeconds
            self.listRows = listRows
            self.socketClients = socketClients
        }
    }

    /// The reader states `necd_readers{state}` always has.
    public static let readerStates = ["empty", "present", "unavailable"]

    /// Seconds, for both histograms: a card read takes tens of milliseconds, a slow
    /// database or a many-block card some hundreds.
    static let buckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
    ]

    private let registry = PrometheusCollectorRegistry()
    private let cardRead: DurationHistogram
    private let tapToEvent: DurationHistogram
    private let pcscdUp: Gauge
    private let listAge: Gauge
    private let listRows: Gauge
    private let socketClients: Gauge

    /// The metrics' names and help texts, `necd_` and the name given.
    private static func name(_ metric: String, _ unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "necd", metricName: metric, unitName: unit, helpText: help)
    }

    static var taps: MetricNameDescriptor { name("taps", "total", help: "Card taps decided, by event class, decision and reason") }
    static var readFailures: MetricNameDescriptor { name("card_read_failures", "total", help: "Card reads that gave no identity, by cause") }
    static var readers: MetricNameDescriptor { name("readers", "", help: "Readers pcscd lists, by state") }

    public init() {
        cardRead = registry.makeDurationHistogram(
            descriptor: Self.name(
                "card_read", "seconds", help: "Time from a card seen on a reader to its identity read (or the read failed)"),
            labels: [], buckets: Self.buckets)
        tapToEvent = registry.makeDurationHistogram(
            descriptor: Self.name(
                "tap_to_event", "seconds", help: "Time from a card seen on a reader to its event handed to the clients"),
            labels: [], buckets: Self.buckets)
        pcscdUp = registry.makeGauge(descriptor: Self.name("pcscd", "up", help: "1 while pcscd answers, else 0"))
        listAge = registry.makeGauge(
            descriptor: Self.name("list_age", "seconds", help: "Seconds since the entitlement list in force was imported"))
        listRows = registry.makeGauge(descriptor: Self.name("list", "rows", help: "Rows of the entitlement list in force"))
        socketClients = registry.makeGauge(
            descriptor: Self.name("socket", "clients", help: "Clients connected now, on the Unix socket and over WebSocket"))
        for state in Self.readerStates { _ = readers(state) }
    }

    /// Counts a decided card tap (stored or not): its event's `class`, `decision` and `reason`
    /// (`none` when it has none).
    public func tap(class eventClass: String, decision: String, reason: String?) {
        registry.makeCounter(
            descriptor: Self.taps, labels: [("class", eventClass), ("decision", decision), ("reason", reason ?? "none")]
        ).increment()
    }

    /// Counts a card read that gave no identity, by cause (`card_left`, `removed`, ...).
    public func cardReadFailed(cause: String) {
        registry.makeCounter(descriptor: Self.readFailures, labels: [("cause", cause)]).increment()
    }

    /// Records how long a card read took.
    public func cardRead(took duration: Duration) { cardRead.record(duration) }

    /// Records how long a tap took from the card seen to its event handed to the clients.
    public func tapToEvent(took duration: Duration) { tapToEvent.record(duration) }

    /// Sets the gauges, then writes every metric in Prometheus's text format (0.0.4).
    public func exposition(_ gauges: Gauges) -> [UInt8] {
        for state in Self.readerStates { readers(state).set(to: Double(gauges.readers[state] ?? 0)) }
        pcscdUp.set(to: gauges.pcscdUp ? 1 : 0)
        listAge.set(to: gauges.listAgeSeconds ?? 0)
        listRows.set(to: Double(gauges.listRows))
        socketClients.set(to: Double(gauges.socketClients))
        return registry.emitToBuffer()
    }

    private func readers(_ state: String) -> Gauge {
        registry.makeGauge(descriptor: Self.readers, labels: [("state", state)])
    }
}
