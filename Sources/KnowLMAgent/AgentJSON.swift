import Foundation
import KnowLMCore

// The JSON form of runs, steps and verifications, shared by `knowlm agent --json`,
// `knowlm detect --json` and the server's /v1/agent/runs and /v1/detect.

extension Verification {
    /// `{"response_label", "claims": [{"text", "label", "evidence", "reason", "scores"}]}`.
    public var json: JSONValue {
        .object([
            ("response_label", .string(responseLabel)),
            ("claims", .array(claims.map { c in
                .object([
                    ("text", .string(c.text)), ("label", .string(c.label.rawValue)),
                    ("evidence", .array(c.evidence.map { .string($0) })), ("reason", .string(c.reason)),
                    ("scores", .object(c.scores.sorted { $0.key < $1.key }.map { ($0.key, Self.number($0.value)) })),
                ])
            })),
        ])
    }

    static func number(_ value: Double) -> JSONValue { value.isFinite ? .number(String(value)) : .null }
}

extension AgentStep {
    /// `{"step", "thought", "tool", "arguments", "observation", "outcome", "prompt_tokens", "seconds"}`
    /// for a tool call; `final_answer` instead of the tool for the answer; `planner` when the
    /// planner took the step itself (knowledge first).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [("step", .number(String(index)))]
        switch action {
        case .call(let thought, let tool, let arguments):
            members += [("thought", .string(thought)), ("tool", .string(tool)), ("arguments", arguments)]
            if let result {
                members += [("observation", .string(result.observation)), ("outcome", .string(result.outcome.rawValue))]
            } else {
                members.append(("outcome", .string("call")))
            }
        case .finish(let thought, let answer):
            members += [("thought", .string(thought)), ("final_answer", .string(answer)), ("outcome", .string("answer"))]
        }
        if let planner { members.append(("planner", .string(planner))) }
        members += [("prompt_tokens", .number(String(promptTokens))), ("seconds", Verification.number((seconds * 1000).rounded() / 1000))]
        return .object(members)
    }
}

extension AgentRun {
    /// `{"run_id", "answer", "outcome", "steps", "verification", "call", "error", "seconds"}`
    /// (`run_id`, `call` and `error` only when there is one).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let id { members.append(("run_id", .string(id))) }
        members += [
            ("answer", answer.map { .string($0) } ?? .null),
            ("outcome", .string(outcome.rawValue)),
            ("steps", .array(steps.map(\.json))),
            ("verification", verification?.json ?? .null),
        ]
        if let call { members.append(("call", .object([("name", .string(call.tool)), ("arguments", call.arguments)]))) }
        if let error { members.append(("error", .string(error))) }
        members.append(("seconds", Verification.number((seconds * 1000).rounded() / 1000)))
        return .object(members)
    }
}
