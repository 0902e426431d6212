import Foundation
import Hummingbird
import HummingbirdTesting
import KnowLMCore
import KnowLMKnowledge
@testable import KnowLMServer
import Testing

/// The web page in a real browser (Debian's headless Chromium, installed by scripts/test.sh):
/// it sends the instruction, streams the answer into the page, and the screenshot is taken.
@Suite struct WebPageTests {
    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func streamedAnswerAppearsInThePage() async throws {
        let browser = try #require(Self.chromium, "headless Chromium is needed (apt-get install chromium; scripts/test.sh does it)")
        var config = ServerConfiguration()
        config.port = 0
        let model = ScriptedModel(reply: "Rivers of Europe: Danube, Rhine, Loire.")
        let app = buildApplication(configuration: config, backends: try backends(model))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let screenshot = folder.appendingPathComponent("page.png")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let url = "http://127.0.0.1:\(port)/?instruction=Name%20three%20rivers%20of%20Europe.&run=1"
            let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                          "--user-data-dir=\(folder.path)/profile", "--virtual-time-budget=8000", "--window-size=1100,700"]
            // Under a loaded machine Chromium's virtual-time budget can run out before the
            // streamed reply has arrived: load the page again (up to three times) before judging.
            var dom = ""
            for _ in 0..<3 {
                dom = try await Self.run(browser, common + ["--dump-dom", url])
                if dom.contains("tokens in") { break }
            }
            #expect(dom.contains("Rivers of Europe: Danube, Rhine, Loire."), "page text: \(dom.suffix(600))")
            #expect(dom.contains("tokens in"))
            _ = try await Self.run(browser, common + ["--screenshot=\(screenshot.path)", url])
        }
        let png = try Data(contentsOf: screenshot)
        #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        // Keep a copy to look at when the environment asks for it.
        if let keep = ProcessInfo.processInfo.environment["KNOWLM_KEEP_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(at: screenshot, to: URL(fileURLWithPath: keep))
        }
        #expect(model.prompts.first?.contains("Name three rivers of Europe.") == true)
    }

    /// Runs the browser under `timeout` (120 s) and returns what it printed. The wait happens
    /// on a thread of its own: blocking a Swift concurrency thread would starve the server the
    /// page is talking to.
    static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
                process.arguments = ["120", executable] + arguments
                let output = Pipe()
                process.standardOutput = output
                process.standardError = FileHandle.nullDevice
                do {
                    try process.run()
                    let data = output.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }
}
