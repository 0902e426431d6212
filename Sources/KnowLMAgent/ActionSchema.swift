import Foundation
import KnowLMCore

/// Tool parameter schemas as they come from the wild (OpenAI `tools`, MCP servers, BFCL's
/// Python-flavoured type names) reduced to what the grammar compiler enforces, so that any
/// declared tool can be called under a grammar.
public enum ToolSchema {
    static let typeNames: [String: String] = [
        "dict": "object", "float": "number", "double": "number", "int": "integer", "long": "integer",
        "str": "string", "bool": "boolean", "list": "array", "tuple": "array", "array": "array",
        "object": "object", "number": "number", "integer": "integer", "string": "string", "boolean": "boolean", "null": "null",
    ]
    /// Longest string argument when the schema sets no bound.
    public static let maxStringLength = 240
    static let kept: Set<String> = ["type", "properties", "required", "items", "minItems", "maxItems", "enum", "const",
                                    "anyOf", "minLength", "maxLength", "description"]

    /// The schema with unknown keywords dropped (validation the grammar cannot express, such as
    /// `format` or `minimum`), Python type names mapped to JSON Schema's, `oneOf` read as
    /// `anyOf`, `required` limited to declared properties, objects without a `properties`
    /// keyword left free, and strings without a bound given one (`maxStringLength`).
    public static func normalize(_ schema: JSONValue) -> JSONValue {
        guard case .object(let members) = schema else { return .object([]) }
        var out: [(key: String, value: JSONValue)] = []
        var type: JSONValue?
        if let t = schema["type"] {
            switch t {
            case .string(let name):
                if name == "any" { type = nil } else { type = typeNames[name.lowercased()].map { .string($0) } }
            case .array(let names):
                let mapped = names.compactMap { $0.stringValue.flatMap { typeNames[$0.lowercased()] } }
                type = mapped.isEmpty ? nil : .array(mapped.map { .string($0) })
            default: type = nil
            }
        }
        let properties = schema["properties"]?.objectValue
        if type == .string("object") && properties == nil && schema["additionalProperties"] != .bool(false) {
            // A free-form object: any JSON value the model writes.
            return .object(schema["description"].map { [("description", $0)] } ?? [])
        }
        if let any = schema["anyOf"] ?? schema["oneOf"], let options = any.arrayValue, !options.isEmpty {
            return .object([("anyOf", .array(options.map(normalize)))])
        }
        for (key, value) in members where kept.contains(key) {
            switch key {
            case "type": if let type { out.append((key, type)) }
            case "properties":
                out.append((key, .object((properties ?? []).map { (key: $0.key, value: normalize($0.value)) })))
            case "required":
                let declared = Set((properties ?? []).map(\.key))
                let names = (value.arrayValue ?? []).compactMap(\.stringValue).filter { declared.contains($0) }
                out.append((key, .array(names.map { .string($0) })))
            case "items":
                if case .array(let list) = value { if let first = list.first { out.append((key, normalize(first))) } }
                else { out.append((key, normalize(value))) }
            case "enum":
                if let values = value.arrayValue, !values.isEmpty { out.append((key, value)) }
            case "minLength", "maxLength", "minItems", "maxItems":
                if let n = value.intValue, n >= 0, n <= 10_000 { out.append((key, value)) }
            default: out.append((key, value))
            }
        }
        if type == .string("string"), !out.contains(where: { ["enum", "const", "maxLength"].contains($0.key) }) {
            // Unbounded strings let a small model ramble until the token limit.
            out.append(("maxLength", .number(String(maxStringLength))))
        }
        if type == nil, schema["type"] != nil, !out.contains(where: { $0.key == "enum" || $0.key == "const" }) {
            // An unknown type name: leave the value free rather than refuse the tool.
            return .object(out.filter { $0.key == "description" })
        }
        return .object(out)
    }
}

/// The JSON Schema of one planner action: a call of one of `tools` or a final answer.
///
/// `{"thought": …, "tool": NAME, "arguments": {…}}` per allowed tool (its name a constant, its
/// arguments its own normalized schema) and `{"thought": …, "final_answer": …}`, as `anyOf`.
public struct ActionSchema: Sendable {
    public var thoughtLength = 160
    public var answerLength = 300
    /// Write the thought before choosing the action (ReAct order), or after. After is the
    /// default: a small model's thought mostly copies an example's, and then steers the choice
    /// (measured in BENCHMARKS.md); the thought after the action explains it instead.
    public var thoughtFirst = false

    public init() {}

    /// `groundedAnswer`: the final answer must be a span of the observations (compiled with
    /// `JSONSchemaOptions.input` set to them) — a small model then cannot answer from memory.
    /// `fixedAnswer`: the final answer is already chosen (only the thought is written).
    /// `parameters`: each tool's argument schema (default: its declared one, normalized).
    public func schema(tools: [any Tool], finalAnswer: Bool, groundedAnswer: Bool = false, fixedAnswer: String? = nil,
                       parameters: ((any Tool) -> JSONValue)? = nil) -> JSONValue {
        var options: [JSONValue] = []
        let thought: JSONValue = .object([("type", .string("string")), ("minLength", .number("1")), ("maxLength", .number(String(thoughtLength)))])
        for tool in tools {
            let rest: [(key: String, value: JSONValue)] = [
                ("tool", .object([("const", .string(tool.name))])),
                ("arguments", parameters?(tool) ?? ToolSchema.normalize(tool.parameters)),
            ]
            options.append(.object([
                ("type", .string("object")),
                ("properties", .object(thoughtFirst ? [("thought", thought)] + rest : rest + [("thought", thought)])),
                ("required", .array([.string("thought"), .string("tool"), .string("arguments")])),
            ]))
        }
        if finalAnswer {
            let answer: JSONValue = fixedAnswer.map { .object([("const", .string($0))]) } ?? (groundedAnswer
                ? .object([("type", .string("string")), ("x-copy-from-input", .bool(true))])
                : .object([("type", .string("string")), ("minLength", .number("1")), ("maxLength", .number(String(answerLength)))]))
            options.append(.object([
                ("type", .string("object")),
                ("properties", .object(thoughtFirst ? [("thought", thought), ("final_answer", answer)] : [("final_answer", answer), ("thought", thought)])),
                ("required", .array([.string("thought"), .string("final_answer")])),
            ]))
        }
        return options.count == 1 ? options[0] : .object([("anyOf", .array(options))])
    }
}

/// One action the planner took, parsed.
public enum AgentAction: Sendable, Equatable {
    case call(thought: String, tool: String, arguments: JSONValue)
    case finish(thought: String, answer: String)

    public static func parse(_ text: String) throws -> AgentAction {
        let value = try JSONValue.parse(text.trimmingCharacters(in: .whitespacesAndNewlines))
        let thought = value["thought"]?.stringValue ?? ""
        if let answer = value["final_answer"]?.stringValue { return .finish(thought: thought, answer: answer) }
        if let tool = value["tool"]?.stringValue {
            return .call(thought: thought, tool: tool, arguments: value["arguments"] ?? .object([]))
        }
        throw ToolError("the action names neither a tool nor a final answer")
    }

    /// The action as the prompt and the log show it.
    public var json: String { json(thoughtFirst: true) }

    public func json(thoughtFirst: Bool) -> String {
        let members: [(key: String, value: JSONValue)]
        switch self {
        case .call(let thought, let tool, let arguments):
            let rest: [(key: String, value: JSONValue)] = [("tool", .string(tool)), ("arguments", arguments)]
            members = thoughtFirst ? [("thought", .string(thought))] + rest : rest + [("thought", .string(thought))]
        case .finish(let thought, let answer):
            members = thoughtFirst ? [("thought", .string(thought)), ("final_answer", .string(answer))]
                : [("final_answer", .string(answer)), ("thought", .string(thought))]
        }
        return JSONValue.object(members).serialized(itemSeparator: ", ", keySeparator: ": ")
    }
}
