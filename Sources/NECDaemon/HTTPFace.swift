import Foundation
import Logging
import NECConfiguration
import NECHTTPServer
import NECMetrics
import NECSocketServer

/// Makes necd's HTTP listener from `[http]`: reads the token file, and feeds `/metrics`
/// the gauges from the daemon's state at each scrape.
enum HTTPFace {
    /// The HTTP server for `settings`.
    /// - Throws: `Daemon.StartupError` when the token file cannot be used.
    static func server(
        _ settings: HTTPSettings, sessions: SocketServer, state: DaemonState, registry: ReaderRegistry,
        metrics: DaemonMetrics, logger: Logger
    ) throws -> HTTPServer {
        let access: HTTPAccess
        do {
            access = try self.access(settings)
        } catch {
            throw Daemon.StartupError(description: "[http]: \(error)")
        }
        if !settings.isLoopbackOnly {
            logger.warning("http.listen \(settings.listen) is reachable from other machines (allow_remote = true)")
        }
        return HTTPServer(
            endpoint: .init(host: settings.host, port: settings.port), access: access, sessions: sessions,
            metrics: {
                let list = try? state.snapshot.store.listStatus()
                var readers: [String: Int] = [:]
                for reader in registry.readers { readers[reader.entry.state.rawValue, default: 0] += 1 }
                return metrics.exposition(.init(
                    readers: readers, pcscdUp: registry.pcscdConnected, listAgeSeconds: list?.age(),
                    listRows: list?.rows ?? 0, socketClients: sessions.clientCount))
            },
            logger: logger,
            onListening: { port in logger.info("http listening on \(settings.host):\(port)") }
        )
    }

    /// The token (read from `token_file` now) and the allowed origins.
    static func access(_ settings: HTTPSettings) throws -> HTTPAccess {
        let text: String
        do {
            text = try String(contentsOfFile: settings.tokenFile, encoding: .utf8)
        } catch {
            throw HTTPAccess.TokenFileError(description: "cannot read the token file \(settings.tokenFile): \(reason(error))")
        }
        return HTTPAccess(
            token: try HTTPAccess.token(fromFile: text, path: settings.tokenFile),
            allowedOrigins: Set(settings.allowedOrigins))
    }

    private static func reason(_ error: any Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let code = underlying?.code, underlying?.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(code)))
        }
        return error.localizedDescription
    }
}
