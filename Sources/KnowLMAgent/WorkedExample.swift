import Foundation
import KnowLMCore
import KnowLMKnowledge

/// A worked trajectory shown to the planner: a task, its actions and observations. Built-in
/// ones come from `Prompts/agent_examples.en.json`; past successful runs from the log.
struct WorkedExample: Sendable {
    var task: String
    var steps: [(action: AgentAction, observation: String?)]
    /// Functions the example declares itself (caller-answered); nil when it uses built-in tools.
    var declaredTools: [ClientTool]?

    var toolNames: Set<String> {
        Set(steps.compactMap { if case .call(_, let tool, _) = $0.action { return tool } else { return nil } })
    }

    /// The prompt block: the tools the example uses (or declares), the task and its steps.
    func block(registry: ToolRegistry, thoughtFirst: Bool) -> [String: Any] {
        let tools: [any Tool] = declaredTools ?? toolNames.sorted().compactMap { registry.tool(named: $0) }
        return [
            "tools": tools.map { ["signature": Agent.signature($0.name, $0.parameters), "description": $0.description] },
            "task": task,
            "steps": steps.map {
                ["action": $0.action.json(thoughtFirst: thoughtFirst), "observation": $0.observation ?? "", "hasObservation": $0.observation != nil]
            },
        ]
    }

    static func builtIn() throws -> [WorkedExample] {
        let data = try PromptLibrary.resource(named: "agent_examples.en.json")
        let root = try JSONValue.parse(String(decoding: data, as: UTF8.self))
        guard let list = root["examples"]?.arrayValue else { throw AgentError.invalidToolFile("agent_examples.en.json has no \"examples\" list") }
        return try list.map { item in
            guard let task = item["task"]?.stringValue else { throw AgentError.invalidToolFile("an agent example has no task") }
            var steps: [(AgentAction, String?)] = []
            for step in item["steps"]?.arrayValue ?? [] {
                steps.append((.call(thought: step["thought"]?.stringValue ?? "", tool: step["tool"]?.stringValue ?? "",
                                    arguments: step["arguments"] ?? .object([])), step["observation"]?.stringValue))
            }
            if let call = item["call"] {
                steps.append((.call(thought: call["thought"]?.stringValue ?? "", tool: call["tool"]?.stringValue ?? "",
                                    arguments: call["arguments"] ?? .object([])), nil))
            }
            if let final = item["final"] {
                steps.append((.finish(thought: final["thought"]?.stringValue ?? "", answer: final["answer"]?.stringValue ?? ""), nil))
            }
            let declared = try item["tools"]?.arrayValue.map { tools in
                try tools.map { tool -> ClientTool in
                    guard let name = tool["name"]?.stringValue else { throw AgentError.invalidToolFile("an example tool has no name") }
                    return ClientTool(name: name, description: tool["description"]?.stringValue ?? "",
                                      parameters: tool["parameters"] ?? .object([]))
                }
            }
            return WorkedExample(task: task, steps: steps, declaredTools: declared)
        }
    }

    /// A past run from the log, if it ended with an answer after calling at least one tool
    /// successfully.
    init?(past run: AgentRunRecord, steps records: [AgentStepRecord]) {
        guard run.outcome == "answered" else { return nil }
        var steps: [(AgentAction, String?)] = []
        for record in records {
            if let tool = record.tool {
                guard record.outcome == "ok" else { continue }  // failed calls are not shown as the way to do it
                let arguments = (try? JSONValue.parse(record.arguments ?? "{}")) ?? .object([])
                let observation = record.observation.map { $0.count > 300 ? String($0.prefix(300)) + " …" : $0 }
                steps.append((.call(thought: record.thought, tool: tool, arguments: arguments), observation))
            } else if record.outcome == "answer", let answer = record.observation {
                steps.append((.finish(thought: record.thought, answer: answer), nil))
            }
        }
        guard steps.count >= 2 else { return nil }
        self.init(task: run.task, steps: steps, declaredTools: nil)
    }

    init(task: String, steps: [(action: AgentAction, observation: String?)], declaredTools: [ClientTool]?) {
        self.task = task
        self.steps = steps
        self.declaredTools = declaredTools
    }
}
