import Foundation
import Hummingbird
import HummingbirdTesting
import KnowLMCore
import KnowLMRemote
@testable import KnowLMServer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The remote backend against a real `knowlm serve` on loopback (a scripted model behind it):
/// streaming, the server's errors, retries on 429, refused connections and timeouts.
@Suite struct RemoteModelTests {
    func live(_ model: ScriptedModel, parallel: Int = 4, maxQueued: Int = 16,
              _ body: @escaping @Sendable (Int, any TestClientProtocol) async throws -> Void) async throws {
        var config = ServerConfiguration()
        config.port = 0
        config.parallel = parallel
        config.maxQueued = maxQueued
        let app = buildApplication(configuration: config, backends: try backends(model))
        try await app.test(.live) { client in try await body(try #require(client.port), client) }
    }

    @Test func streamsACompletion() async throws {
        try await live(ScriptedModel(reply: "Paris is the capital.")) { port, _ in
            let remote = RemoteModel(endpoint: "http://127.0.0.1:\(port)", model: "scripted")
            var pieces: [String] = []
            var result: GenerationResult?
            var parameters = GenerateParameters.greedy(maxTokens: 64)
            parameters.stop = [" capital"]
            for try await event in remote.generate(prompt: "Where?", parameters: parameters) {
                switch event {
                case .token(_, let text, _): pieces.append(text)
                case .done(let r): result = r
                }
            }
            #expect(pieces.count > 1)
            #expect(pieces.joined() == "Paris is the")
            #expect(result?.text == "Paris is the")
            #expect(result?.promptTokenCount == "Where?".utf8.count)
            #expect(result?.stopReason == .stopString)
            // The async form: the blocking one would hold a Swift concurrency thread that the
            // in-process server may need to answer (a 10 s stall when the other is busy too).
            let listed = try await RemoteModel.firstModel(endpoint: "http://127.0.0.1:\(port)/v1", apiKey: nil)
            #expect(listed == "scripted")
        }
    }

    @Test func serverErrorsAreReportedNotRetried() async throws {
        try await live(ScriptedModel()) { port, _ in
            let remote = RemoteModel(endpoint: "http://127.0.0.1:\(port)/v1", model: "no-such-model")
            await #expect(throws: RemoteError.self) {
                _ = try await remote.complete(prompt: "x", parameters: .greedy(maxTokens: 4))
            }
            do {
                _ = try await remote.complete(prompt: "x", parameters: .greedy(maxTokens: 4))
            } catch let RemoteError.http(_, status, message) {
                #expect(status == 404)
                #expect(message.contains("no-such-model"))
            }
        }
    }

    /// A busy server answers 429; the remote model waits and tries again, and gets its text.
    @Test func retriesAfter429() async throws {
        let model = ScriptedModel(reply: String(repeating: "z", count: 40), delay: 0.02)
        try await live(model, parallel: 1, maxQueued: 0) { port, client in
            let busy = RemoteModel(endpoint: "http://127.0.0.1:\(port)/v1", model: "scripted")
            let first = Task { try await busy.complete(prompt: "first", parameters: .greedy(maxTokens: 40)) }
            try await waitUntilBusy(client)
            let remote = RemoteModel(endpoint: "http://127.0.0.1:\(port)/v1", model: "scripted")
            remote.backoff = 0.4
            let second = try await remote.complete(prompt: "second", parameters: .greedy(maxTokens: 3))
            #expect(second.text == "zzz")
            #expect(try await first.value.text.count == 40)
            #expect(model.prompts.count == 2)  // the refused attempts never reached the model
        }
    }

    @Test func refusedConnectionsAndTimeoutsAreClear() async throws {
        // A port nothing listens on: bind one, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let closedPort = Int(UInt16(bigEndian: address.sin_port))
        close(fd)
        let refused = RemoteModel(endpoint: "http://127.0.0.1:\(closedPort)/v1", model: "m")
        do {
            _ = try await refused.complete(prompt: "x", parameters: .greedy(maxTokens: 2))
            Issue.record("a refused connection must throw")
        } catch let error as RemoteError {
            guard case .connection = error else { Issue.record("expected a connection error, got \(error)"); return }
            #expect(error.localizedDescription.contains("127.0.0.1:\(closedPort)"))
        }

        try await live(ScriptedModel(reply: String(repeating: "s", count: 100), delay: 0.05)) { port, _ in
            let slow = RemoteModel(endpoint: "http://127.0.0.1:\(port)/v1", model: "scripted")
            slow.timeout = 0.5
            do {
                _ = try await slow.complete(prompt: "x", parameters: .greedy(maxTokens: 100))
                Issue.record("a completion past the timeout must throw")
            } catch let error as RemoteError {
                guard case .timeout = error else { Issue.record("expected a timeout, got \(error)"); return }
            }
        }
    }
}
