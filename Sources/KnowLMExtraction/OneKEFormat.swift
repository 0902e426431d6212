import Foundation
import KnowLMCore
import KnowLMKnowledge

/// The extraction tasks of OneKE / IEPile.
public enum IETask: String, CaseIterable, Sendable, Codable {
    case ner = "NER", re = "RE", ee = "EE", eet = "EET", eea = "EEA", kg = "KG", spo = "SPO"

    /// Accepts `ner`, `NER`, ….
    public init?(name: String) { self.init(rawValue: name.uppercased()) }

    /// Relation-shaped tasks: their results are (subject, relation, object) triples.
    public var extractsRelations: Bool { self == .re || self == .spo || self == .kg }
    /// Event-shaped tasks.
    public var extractsEvents: Bool { self == .ee || self == .eet || self == .eea }
}

public enum IELanguage: String, CaseIterable, Sendable, Codable {
    case en, zh

    /// Chinese when the text is mostly CJK characters, English otherwise.
    public static func guess(_ text: String) -> IELanguage {
        var cjk = 0, letters = 0
        for scalar in text.unicodeScalars {
            if (0x4E00...0x9FFF).contains(scalar.value) || (0x3400...0x4DBF).contains(scalar.value) { cjk += 1 }
            else if scalar.properties.isAlphabetic { letters += 1 }
        }
        return cjk * 3 >= letters && cjk > 0 ? .zh : .en
    }
}

/// OneKE's wire format: the instruction texts, the system prompt and the schema chunk sizes the
/// model was trained with (`Prompts/oneke_instructions.json`).
public struct OneKEFormat: Sendable {
    public let systemPrompt: String
    /// Labels (or event types, relation types …) per prompt, by task.
    public let chunkSize: [IETask: Int]
    private let instructions: [String: String]
    private let exampleSuffix: [String: String]

    public static func load() throws -> OneKEFormat {
        let data = try PromptLibrary.resource(named: "oneke_instructions.json")
        guard let text = String(data: data, encoding: .utf8) else { throw ExtractionError.invalidSchema("oneke_instructions.json is not UTF-8") }
        let root = try JSONValue.parse(text)
        guard let system = root["system_prompt"]?.stringValue,
              let instructionMembers = root["instructions"]?.objectValue,
              let sizes = root["split_num"]?.objectValue else {
            throw ExtractionError.invalidSchema("oneke_instructions.json lacks system_prompt, instructions or split_num")
        }
        var chunkSize: [IETask: Int] = [:]
        for (key, value) in sizes { if let task = IETask(rawValue: key), let n = value.intValue { chunkSize[task] = n } }
        var instructions: [String: String] = [:]
        for (key, value) in instructionMembers { instructions[key] = value.stringValue }
        var suffix: [String: String] = [:]
        for language in IELanguage.allCases { suffix[language.rawValue] = root["example_suffix_\(language.rawValue)"]?.stringValue }
        return OneKEFormat(systemPrompt: system, chunkSize: chunkSize, instructions: instructions, exampleSuffix: suffix)
    }

    /// The instruction OneKE was trained with for `task` in `language`; with examples, the
    /// sentence that points at them is appended (where the format defines one).
    public func instruction(_ task: IETask, _ language: IELanguage, withExamples: Bool = false) throws -> String {
        guard let text = instructions[task.rawValue + language.rawValue] else {
            throw ExtractionError.unsupported("OneKE has no \(task.rawValue) instruction in \(language.rawValue)")
        }
        return withExamples ? text + (exampleSuffix[language.rawValue] ?? "") : text
    }

    /// The user message: the JSON object `{"instruction", "schema", ["example",] "input"}` in that
    /// order, written as Python's `json.dumps(..., ensure_ascii=False)` writes it (OneKE's
    /// training data was made that way).
    public func userMessage(task: IETask, language: IELanguage, schema: JSONValue, input: String,
                            examples: [JSONValue] = []) throws -> String {
        var members: [(key: String, value: JSONValue)] = [
            ("instruction", .string(try instruction(task, language, withExamples: !examples.isEmpty))),
            ("schema", schema),
        ]
        if !examples.isEmpty { members.append(("example", .array(examples))) }
        members.append(("input", .string(input)))
        return PythonJSON.dumps(.object(members))
    }
}

/// JSON text exactly as Python's `json.dumps(value, ensure_ascii=False)` writes it: `", "` and
/// `": "` separators, non-ASCII kept, control characters escaped in lower-case hex.
public enum PythonJSON {
    public static func dumps(_ value: JSONValue) -> String {
        var out = ""
        write(value, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): quote(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                write(item, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += ", " }
                quote(member.key, into: &out)
                out += ": "
                write(member.value, into: &out)
            }
            out += "}"
        }
    }

    /// Python escapes what JSON requires, like `JSONValue.escape`, but leaves DEL (0x7F) as is.
    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for c in s.unicodeScalars { out += c == "\u{7F}" ? String(c) : JSONValue.escape(c) }
        out += "\""
    }
}
