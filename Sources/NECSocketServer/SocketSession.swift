import Logging
import NECProtocol
import NIOCore

/// One client's requests, answered in order. Answers go through the client's outbox,
/// behind anything already queued, so a `WATCH` answer always precedes its events.
struct SocketSession: Sendable {
    let outbox: SocketOutbox
    let inbox: SocketInbox
    let registry: SocketClientRegistry
    let backend: any DaemonBackend
    let configuration: SocketServerConfiguration
    /// The client, as the kernel vouches for it; handed to requests that store who asked.
    let peer: SocketPeer?
    let logger: Logger

    /// Answers requests until the client stops sending, breaks the line limit, or the connection closes.
    func serve() async {
        send(VersionMessage(release: configuration.release))
        var watching = false
        while true {
            switch await inbox.next() {
            case .line(let line):
                watching = await answer(line, watching: watching)
                inbox.answered()
            case .end:
                // Every request sent before end of input is answered; a client that only
                // closed its sending side while watching still gets its events.
                if !watching { outbox.finish() }
                return
            case .tooLong(let limit):
                logger.debug("client sent a line over the limit; closing")
                send(ErrorMessage(message: "line longer than \(limit) bytes; closing"))
                outbox.finish()
                return
            case .closed:
                outbox.close()
                return
            }
        }
    }

    /// Answers one request line.
    /// - Returns: whether the client now watches.
    private func answer(_ line: [UInt8], watching: Bool) async -> Bool {
        let request: Request
        do {
            request = try Request.parse(line: line)
        } catch {
            send(ErrorMessage(message: error.description))
            return watching
        }
        switch request {
        case .watch(enable: true, let since):
            return await startWatching(since: since)
        case .watch(enable: false, _):
            registry.stopWatching(outbox)
            send(WatchMessage(enable: false))
            return false
        case .readers:
            send(await backend.readers())
        case .status:
            var status = await backend.status()
            status.clients = registry.count
            send(status)
        case .lookup(let card):
            do {
                send(try await backend.lookup(card: card))
            } catch {
                refuse(error, command: "lookup")
            }
        case .void(let seq):
            do {
                send(try await backend.void(seq: seq))
            } catch {
                refuse(error, command: "void")
            }
        case .redeem(let pupil, let lane):
            await answerWithEvent(command: request.command) {
                try await backend.redeem(pupil: pupil, lane: lane, peer: peer)
            }
        case .charge(let pupil, let amount, let txn, let lane):
            await answerWithEvent(command: request.command) {
                try await backend.charge(pupil: pupil, amount: amount, txn: txn, lane: lane, peer: peer)
            }
        case .refund(let txn):
            await answerWithEvent(command: request.command) {
                try await backend.refund(txn: txn, peer: peer)
            }
        }
        return watching
    }

    /// Starts (or restarts) the stream. The seam rule: hold live events first, replay
    /// stored ones after `since` page by page, then release the held events newer than
    /// the last replayed, and go live. Nothing is missed and nothing is sent twice.
    private func startWatching(since: Int64?) async -> Bool {
        registry.beginCatchingUp(outbox)
        var cursor: Int64
        if let since {
            // A `since` beyond the newest stored event means the journal was reset (a new
            // state database): run from its end, and say so, or the client would wait for
            // seqs it will not see for a long time.
            let newest = await backend.status().lastSeq ?? 0
            cursor = min(since, newest)
            send(WatchMessage(enable: true, since: cursor))
            do {
                while true {
                    let page = try await backend.storedEvents(after: cursor, limit: configuration.replayPageSize)
                    for event in page {
                        guard let seq = event.seq, seq > cursor else { continue }
                        let bytes = ByteBuffer(bytes: event.line)
                        guard await outbox.offerWhenRoom(bytes) else { return false }
                        cursor = seq
                    }
                    if page.count < configuration.replayPageSize { break }
                }
            } catch {
                registry.stopWatching(outbox)
                logger.error("replay failed", metadata: ["error": "\(error)"])
                send(ErrorMessage(message: "watch: stored events could not be read"))
                return false
            }
        } else {
            // A plain watch runs from now: after the newest stored event.
            cursor = await backend.status().lastSeq ?? 0
            send(WatchMessage(enable: true, since: cursor))
        }
        return registry.goLive(outbox, after: cursor)
    }

    /// Sends the requester the event line the backend stored (and published to every
    /// watcher), byte for byte as a replay would send it.
    private func answerWithEvent(command: String, _ decide: () async throws -> EventLine) async {
        do {
            send(line: try await decide().line)
        } catch {
            refuse(error, command: command)
        }
    }

    private func refuse(_ error: any Error, command: String) {
        if let refusal = error as? RequestRefusal {
            // A backend may quote what the client sent; it reaches a person's screen clean.
            send(ErrorMessage(message: EchoedText.safe(refusal.message, keepingQuotes: true)))
        } else {
            logger.error("request failed", metadata: ["cmd": "\(command)", "error": "\(error)"])
            send(ErrorMessage(message: "\(command): internal error, see the daemon's log"))
        }
    }

    /// Queues a message. An answer that passes the bound drops the client, like an event would.
    private func send(_ message: some Encodable) {
        send(line: MessageCoding.line(message))
    }

    /// Queues an encoded line, with its `\n`.
    private func send(line: [UInt8]) {
        if outbox.offer(ByteBuffer(bytes: line)) == .overflowed {
            logger.notice("client dropped: its backlog passed the bound")
            registry.remove(outbox)
        }
    }
}
