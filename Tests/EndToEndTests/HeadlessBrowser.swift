import Foundation
import Glibc
import NECTestSupport
import Testing

/// A real headless Chromium (Debian's `chromium` through `chromium-driver` and
/// `python3-selenium`), run by `scripts/browser-driver` as a child process, which also
/// serves a folder over HTTP on two loopback ports: two origins, so a test can load one
/// page from an origin necd allows and from one it does not.
final class HeadlessBrowser {
    /// The driver: its standard error has Chromium's and selenium's complaints.
    let driver: ChildProcess
    /// The static servers' ports, each its own origin `http://127.0.0.1:PORT`.
    let ports: [UInt16]
    private let control: LineSocket
    private let controlPath: String

    /// A failed command, with what the tab's console said.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts the driver and Chromium, serving `directory`.
    init(serving directory: String) async throws {
        controlPath = FileManager.default.temporaryDirectory.appendingPathComponent("necd-browser-\(UUID().uuidString).sock").path
        let script = BuiltProducts.packageRoot.appendingPathComponent("scripts/browser-driver").path
        driver = try ChildProcess(script, ["--control", controlPath, "--serve", directory])
        // Chromium takes a few seconds to start, longer on a loaded machine.
        let lines = await driver.waitForLines(1, timeout: .seconds(90))
        guard let first = lines.first,
            let object = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
            let serving = object["serving"] as? [Int], serving.count == 2
        else {
            throw Failure(description: "browser-driver did not start: \(driver.stderr)")
        }
        ports = serving.map { UInt16($0) }
        control = try LineSocket(path: controlPath)
    }

    deinit {
        try? control.send(#"{"op":"quit"}"#)
        _ = control.readLine(timeout: .seconds(10))
        control.close()
        driver.stop()
        unlink(controlPath)
    }

    /// The origin of static server `index` (0 or 1).
    func origin(_ index: Int) -> String { "http://127.0.0.1:\(ports[index])" }

    /// Sends one command and returns its `value`; a refusal throws, with the tab's console.
    @discardableResult
    private func command(_ fields: [String: Any], answerWithin timeout: Duration = .seconds(30)) throws -> Any? {
        let line = String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self)
        try control.send(line)
        guard let answer = control.readObject(timeout: timeout) else {
            throw Failure(description: "browser-driver did not answer \(line); stderr: \(driver.stderr)")
        }
        guard answer["ok"] as? Bool == true else {
            let console = fields["op"] as? String == "log" ? [] : consoleLog()
            throw Failure(description: "\(answer["error"] ?? "failed"); the tab's console: \(console)")
        }
        return answer["value"] is NSNull ? nil : answer["value"]
    }

    /// Loads `url` in the tab.
    func open(_ url: String) throws {
        try command(["op": "open", "url": url])
    }

    /// The value of a JavaScript expression in the tab.
    func value(_ expression: String) throws -> Any? {
        try command(["op": "eval", "script": expression])
    }

    /// Waits until a JavaScript expression is truthy and returns its value; throws (with
    /// the tab's console) when it is not within `timeout`.
    @discardableResult
    func wait(until expression: String, timeout: Duration) throws -> Any? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        return try command(["op": "wait", "script": expression, "timeout": seconds], answerWithin: timeout + .seconds(30))
    }

    /// Cuts the tab off the network (no new connection, an open one stays), or lets it back.
    func setOffline(_ offline: Bool) throws {
        try command(["op": "offline", "value": offline])
    }

    /// Saves a PNG of the tab.
    func screenshot(_ path: String) throws {
        try command(["op": "screenshot", "path": path])
    }

    /// The tab's console messages so far (the browser's own included: a refused WebSocket
    /// handshake shows there with its HTTP status).
    func consoleLog() -> [String] {
        (try? command(["op": "log"])) as? [String] ?? []
    }
}
