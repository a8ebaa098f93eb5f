import Foundation
import NECHTTPServer
import Testing

@testable import NECConfiguration
@testable import NECDaemon

/// The message `[http]` text raises, or nil when it parses.
private func refusal(_ text: String) -> String? {
    do {
        _ = try NECConfiguration.parse(text, path: "/etc/necd/necd.toml")
        return nil
    } catch {
        return error.description
    }
}

@Suite("Configuration: [http]")
struct HTTPConfigurationTests {
    @Test func noTableMeansNoListener() throws {
        #expect(try NECConfiguration.parse("", path: "/etc/necd/necd.toml").http == nil)
    }

    @Test func aFullTableParses() throws {
        let configuration = try NECConfiguration.parse(
            """
            [http]
            listen = "127.0.0.1:8734"
            allowed_origins = ["http://localhost:8080", "https://till.school.example"]
            token_file = "http.token"
            """, path: "/etc/necd/necd.toml")
        let http = try #require(configuration.http)
        #expect(http.host == "127.0.0.1")
        #expect(http.port == 8734)
        #expect(http.allowedOrigins == ["http://localhost:8080", "https://till.school.example"])
        #expect(http.tokenFile == "/etc/necd/http.token")
        #expect(!http.allowRemote)
        #expect(http.isLoopbackOnly)
    }

    @Test(arguments: ["[::1]:8734", "localhost:1", "127.1.2.3:65535"])
    func loopbackAddressesNeedNoPermission(_ listen: String) {
        #expect(refusal("[http]\nlisten = \"\(listen)\"\ntoken_file = \"/t\"") == nil)
    }

    @Test func anAddressBeyondLoopbackNeedsAllowRemote() {
        let text = "[http]\nlisten = \"0.0.0.0:8734\"\ntoken_file = \"/t\"\n"
        #expect(
            refusal(text)
                == "/etc/necd/necd.toml:2: http.listen: 0.0.0.0 is not a loopback address; set allow_remote = true to listen beyond this machine")
        #expect(refusal(text + "allow_remote = true") == nil)
        #expect(refusal("[http]\nlisten = \"[::]:8734\"\ntoken_file = \"/t\"\nallow_remote = true") == nil)
    }

    @Test(arguments: [
        ("[http]\ntoken_file = \"/t\"", "/etc/necd/necd.toml:1: http.listen: is required"),
        ("[http]\nlisten = \"127.0.0.1:8734\"", "/etc/necd/necd.toml:1: http.token_file: is required"),
        ("[http]\nlisten = \"127.0.0.1\"\ntoken_file = \"/t\"",
         #"/etc/necd/necd.toml:2: http.listen: "127.0.0.1" is not address:port (e.g. "127.0.0.1:8734" or "[::1]:8734"; port 1 to 65535)"#),
        ("[http]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"/t\"",
         #"/etc/necd/necd.toml:2: http.listen: "127.0.0.1:0" is not address:port (e.g. "127.0.0.1:8734" or "[::1]:8734"; port 1 to 65535)"#),
        ("[http]\nlisten = \"school.example:80\"\ntoken_file = \"/t\"",
         #"/etc/necd/necd.toml:2: http.listen: "school.example:80" is not address:port (e.g. "127.0.0.1:8734" or "[::1]:8734"; port 1 to 65535)"#),
        ("[http]\nlisten = \"127.0.0.1:8734\"\ntoken_file = \"/t\"\nallowed_origins = [\"http://till.example/\"]",
         #"/etc/necd/necd.toml:4: http.allowed_origins[1]: "http://till.example/" is not an origin: http:// or https://, a lower-case host, an optional port, nothing after"#),
        ("[http]\nlisten = \"127.0.0.1:8734\"\ntoken_file = \"/t\"\nallowed_origins = \"http://till.example\"",
         "/etc/necd/necd.toml:4: http.allowed_origins: expected an array of strings, found a string"),
        ("[http]\nlisten = \"127.0.0.1:8734\"\ntoken_file = \"/t\"\nport = 80", "/etc/necd/necd.toml:4: http.port: unknown key"),
        ("[[http]]\nlisten = \"127.0.0.1:8734\"", "/etc/necd/necd.toml:1: http: expected one [http] table, found [[http]]"),
    ])
    func badTablesAreRefusedWithTheKey(_ text: String, _ message: String) {
        #expect(refusal(text) == message)
    }

    /// The token: the file's first line, trimmed; a short, empty or missing one refuses to start.
    @Test func theTokenFileIsCheckedAtStart() throws {
        let scratch = ConfigurationScratch()
        func access(_ text: String?) throws -> HTTPAccess {
            let path = scratch.path + "/http.token"
            try? FileManager.default.removeItem(atPath: path)
            if let text { _ = scratch.write("http.token", text) }
            return try HTTPFace.access(HTTPSettings(host: "127.0.0.1", port: 8734, tokenFile: path))
        }
        #expect(try access("  abcdefghijklmnop0123 \r\nsecond line\n").token == "abcdefghijklmnop0123")
        #expect(throws: HTTPAccess.TokenFileError.self) { try access("") }
        #expect(throws: HTTPAccess.TokenFileError.self) { try access("short\n") }
        #expect(throws: HTTPAccess.TokenFileError.self) { try access("has spaces inside it here\n") }
        #expect(throws: HTTPAccess.TokenFileError.self) { try access(nil) }
    }
}
