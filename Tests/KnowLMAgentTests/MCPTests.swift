import Foundation
import Testing
import KnowLMCore
@testable import KnowLMAgent
import KnowLMKnowledge
import KnowLMRuntime

/// MCP against peers nobody here wrote: a server and a client made with the official Python
/// SDK (`mcp` on PyPI, installed by scripts/test.sh into .venv-test).
@Suite(.serialized)
struct MCPTests {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Python with the `mcp` package: $KNOWLM_TEST_PYTHON, else .venv-test/bin/python.
    static func python() throws -> String {
        let path = ProcessInfo.processInfo.environment["KNOWLM_TEST_PYTHON"]
            ?? packageRoot.appendingPathComponent(".venv-test/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: path), "no Python with the mcp package at \(path) (scripts/test.sh makes it)")
        return path
    }

    static func fixture(_ name: String) throws -> String {
        try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)).path
    }

    @Test func callsToolsOfAPythonMCPServer() async throws {
        let server = MCPServerConfig(name: "peer", command: try Self.python(), args: [try Self.fixture("mcp_peer_server.py")])
        // The peer's Python start-up competes with the model tests for 2 cores: allow it time.
        let connection = try await MCPConnection.start(server, timeout: .seconds(120))
        let tools = try await connection.tools()
        #expect(Set(tools.map(\.name)) == ["country_facts", "fail_always"])
        let registry = ToolRegistry(tools)
        let ok = await registry.run("country_facts", arguments: .object([("country", .string("Freedonia"))]))
        #expect(ok.outcome == .ok && ok.observation.contains("Fredville"), "\(ok.observation)")
        let failed = await registry.run("fail_always", arguments: .object([("reason", .string("testing"))]))
        #expect(failed.outcome == .error, "\(failed.observation)")

        // The agent with only that server's tools: its first action calls one, under a grammar
        // built from the schema the Python server declared.
        let store = ModelStore()
        let model = try LocalModel.load(path: try store.resolve(ModelStore.defaultGenerator))
        var options = AgentOptions()
        options.maxSteps = 3
        options.verify = false
        let agent = try Agent(model: model, registry: ToolRegistry(tools.filter { $0.name == "country_facts" }), options: options)
        let run = await agent.run("What is the capital of Freedonia?")
        let first = try #require(run.steps.first)
        guard case .call(_, let tool, let arguments) = first.action else { Issue.record("no tool call"); return }
        #expect(tool == "country_facts")
        #expect(arguments["country"]?.stringValue != nil)
        #expect(first.result?.outcome == .ok, "\(first.result?.observation ?? "")")
        await connection.close()
    }

    @Test func aPythonMCPClientUsesKnowlmMCP() throws {
        let knowlm = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("knowlm")
        try #require(FileManager.default.isExecutableFile(atPath: knowlm.path), "build the knowlm product first (scripts/test.sh does)")
        let scratch = try ScratchFolder()
        _ = try scratch.booksKnowledgeBase()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.python())
        process.arguments = [try Self.fixture("mcp_peer_client.py"), "kg_neighbors", #"{"entity": "Dune"}"#,
                             knowlm.path, "mcp", "--kb", scratch.kbURL.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let result = try JSONValue.parse(String(decoding: data, as: UTF8.self))
        #expect(result["tools"] == .array(["ask", "detect", "extract", "kb_search", "kg_neighbors", "kg_query"].map { .string($0) }))
        #expect(result["is_error"] == .bool(false))
        #expect(result["text"]?.stringValue?.contains("Frank Herbert") == true, "\(result)")
    }
}
