import Foundation
import KnowLMCore
import MCP
import SystemPackage

/// An MCP server to start, as other MCP clients declare them:
/// `{"mcpServers": {"name": {"command": "…", "args": […], "env": {…}}}}`.
public struct MCPServerConfig: Sendable, Equatable {
    public var name: String
    public var command: String
    public var args: [String]
    public var env: [String: String]
    public init(name: String, command: String, args: [String] = [], env: [String: String] = [:]) {
        self.name = name; self.command = command; self.args = args; self.env = env
    }

    /// The servers of a config file, in name order.
    public static func load(_ path: String) throws -> [MCPServerConfig] {
        guard let data = FileManager.default.contents(atPath: path) else { throw AgentError.invalidToolFile("cannot read \(path)") }
        let root: JSONValue
        do { root = try JSONValue.parse(String(decoding: data, as: UTF8.self)) } catch {
            throw AgentError.invalidToolFile("\(path) is not valid JSON: \(error)")
        }
        guard let servers = root["mcpServers"]?.objectValue else { throw AgentError.invalidToolFile("\(path) has no \"mcpServers\" object") }
        return try servers.map { entry in
            guard let command = entry.value["command"]?.stringValue, !command.isEmpty else {
                throw AgentError.invalidToolFile("MCP server \(entry.key) in \(path) has no \"command\"")
            }
            let args = (entry.value["args"]?.arrayValue ?? []).compactMap(\.stringValue)
            var env: [String: String] = [:]
            for member in entry.value["env"]?.objectValue ?? [] { if let v = member.value.stringValue { env[member.key] = v } }
            return MCPServerConfig(name: entry.key, command: command, args: args, env: env)
        }.sorted { $0.name < $1.name }
    }
}

/// JSON between this package's `JSONValue` and the MCP SDK's `Value` (through JSON text).
enum MCPJSON {
    static func value(_ json: JSONValue) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(json.serialized().utf8))
    }
    static func json(_ value: Value) throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try JSONValue.parse(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// A running MCP server process, spoken to over its standard input and output. The SDK has no
/// process launcher: the process is started here, and stopped by `close()` or when this goes.
public final class MCPConnection: @unchecked Sendable {
    public let config: MCPServerConfig
    let process: Process
    let client: Client
    private let toServer: Pipe
    private let fromServer: Pipe

    private init(config: MCPServerConfig, process: Process, client: Client, toServer: Pipe, fromServer: Pipe) {
        self.config = config; self.process = process; self.client = client; self.toServer = toServer; self.fromServer = fromServer
    }

    /// Starts the server and completes the MCP handshake within `timeout`.
    public static func start(_ config: MCPServerConfig, timeout: Duration = .seconds(30)) async throws -> MCPConnection {
        let process = Process()
        if config.command.contains("/") {
            process.executableURL = URL(fileURLWithPath: config.command)
            process.arguments = config.args
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [config.command] + config.args
        }
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in config.env { environment[k] = v }
        process.environment = environment
        let toServer = Pipe(), fromServer = Pipe()
        process.standardInput = toServer
        process.standardOutput = fromServer
        process.standardError = FileHandle.standardError
        do { try process.run() } catch {
            throw ToolError("cannot start MCP server \(config.name) (\(config.command)): \(error.localizedDescription)")
        }
        let transport = StdioTransport(input: FileDescriptor(rawValue: fromServer.fileHandleForReading.fileDescriptor),
                                       output: FileDescriptor(rawValue: toServer.fileHandleForWriting.fileDescriptor))
        let client = Client(name: "knowlm", version: "0.1.0")
        let connection = MCPConnection(config: config, process: process, client: client, toServer: toServer, fromServer: fromServer)
        switch await ToolRegistry.withTimeout(timeout, { _ = try await client.connect(transport: transport) }) {
        case .finished: return connection
        case .failed(let error):
            await connection.close()
            throw ToolError("MCP server \(config.name) did not complete the handshake: \(error.localizedDescription)")
        case .timedOut, .cancelled:
            await connection.close()
            throw ToolError("MCP server \(config.name) did not answer within \(ToolRegistry.describe(timeout))")
        }
    }

    /// The server's tools, as tools the agent can call.
    public func tools() async throws -> [MCPTool] {
        var all: [MCP.Tool] = []
        var cursor: String?
        repeat {
            let page = try await client.listTools(cursor: cursor)
            all += page.tools
            cursor = page.nextCursor
        } while cursor != nil && all.count < 1000
        return try all.map { tool in
            MCPTool(connection: self, name: tool.name, description: tool.description ?? "",
                    parameters: try MCPJSON.json(tool.inputSchema))
        }
    }

    public func close() async {
        await client.disconnect()
        if process.isRunning { process.terminate() }
        try? toServer.fileHandleForWriting.close()
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// A tool of an MCP server.
public struct MCPTool: KnowLMAgent.Tool {
    let connection: MCPConnection
    public let name: String
    public let description: String
    public let parameters: JSONValue
    public var kind: ToolKind { .external }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        var members: [String: Value] = [:]
        for member in arguments.objectValue ?? [] { members[member.key] = try MCPJSON.value(member.value) }
        let result = try await connection.client.callTool(name: name, arguments: members)
        var texts: [String] = []
        for item in result.content {
            switch item {
            case .text(let text, _, _): texts.append(text)
            case .image(_, let mimeType, _, _): texts.append("[an image, \(mimeType)]")
            default: texts.append("[non-text content]")
            }
        }
        let text = texts.joined(separator: "\n")
        if result.isError == true { throw ToolError(text.isEmpty ? "\(name) failed" : text) }
        return .text(text)
    }
}

/// Serves tools over MCP on standard input and output (`knowlm mcp`): other agents list and
/// call them as they would any MCP server's.
public enum MCPToolServer {
    public static func serve(_ registry: ToolRegistry, name: String = "knowlm", version: String = "0.1.0") async throws {
        let server = Server(name: name, version: version, capabilities: .init(tools: .init(listChanged: false)))
        let listed = try registry.tools.map { tool in
            MCP.Tool(name: tool.name, description: tool.description, inputSchema: try MCPJSON.value(tool.parameters))
        }
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: listed) }
        await server.withMethodHandler(CallTool.self) { params in
            var members: [(key: String, value: JSONValue)] = []
            for (key, value) in (params.arguments ?? [:]).sorted(by: { $0.key < $1.key }) {
                members.append((key, try MCPJSON.json(value)))
            }
            let result = await registry.run(params.name, arguments: .object(members))
            return .init(content: [.text(text: result.observation, annotations: nil, _meta: nil)], isError: result.outcome != .ok)
        }
        try await server.start(transport: StdioTransport())
        await server.waitUntilCompleted()
    }
}

/// `detect` as a tool (for `knowlm mcp`): the claim-by-claim verification of an answer.
public struct DetectTool: KnowLMAgent.Tool {
    public let detector: HallucinationDetector
    public init(detector: HallucinationDetector) { self.detector = detector }
    public var name: String { "detect" }
    public var description: String { Self.summary }
    public var kind: ToolKind { .knowledge }
    public var parameters: JSONValue { Self.schema }
    public static let summary = "Check an answer claim by claim against the knowledge base (hallucination detection)."
    public static let schema = ParameterSchema.object(
        [("question", ParameterSchema.string("The question")), ("answer", ParameterSchema.string("The answer to check"))],
        required: ["answer"])
    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        guard let answer = arguments["answer"]?.stringValue else { throw ToolError("detect needs an \"answer\"") }
        let verification = try await detector.verify(question: arguments["question"]?.stringValue ?? "", answer: answer)
        return .text(try verification.jsonText())
    }
}
