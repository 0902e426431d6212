import Foundation
import KnowLMCore
import KnowLMExtraction
import KnowLMKnowledge

/// Small builders for the JSON Schemas of tool parameters.
public enum ParameterSchema {
    public static func object(_ properties: [(String, JSONValue)], required: [String]) -> JSONValue {
        .object([("type", .string("object")), ("properties", .object(properties.map { (key: $0.0, value: $0.1) })),
                 ("required", .array(required.map { .string($0) }))])
    }
    public static func string(_ description: String, oneOf values: [String]? = nil) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [("type", .string("string")), ("description", .string(description))]
        if let values { members.append(("enum", .array(values.map { .string($0) }))) }
        return .object(members)
    }
    public static func integer(_ description: String) -> JSONValue {
        .object([("type", .string("integer")), ("description", .string(description))])
    }
}

/// How a fact reads in an observation: `Lima — capital of — Peru`.
func factLine(_ triple: Triple, kb: KnowledgeBase, relationNames: [RDFTerm: String]) throws -> String {
    func name(_ term: RDFTerm) throws -> String { term.isLiteral ? term.value : try kb.label(of: term) }
    let relation = try relationNames[triple.predicate] ?? kb.label(of: triple.predicate)
    return "\(try name(triple.subject)) — \(relation) — \(try name(triple.object))"
}

/// `kg_neighbors`: the facts about one entity of the graph.
public struct KGNeighborsTool: Tool {
    public let kb: KnowledgeBase
    public var limit = 25
    public init(kb: KnowledgeBase) { self.kb = kb }
    public var name: String { "kg_neighbors" }
    public var description: String { "List the facts the knowledge graph has about an entity (a place, person, thing)." }
    public var kind: ToolKind { .knowledge }
    public var parameters: JSONValue {
        ParameterSchema.object([("entity", ParameterSchema.string("The entity's name"))], required: ["entity"])
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        guard let entity = arguments["entity"]?.stringValue, !entity.isEmpty else { throw ToolError("kg_neighbors needs an \"entity\" name") }
        let candidates = try kb.linkEntities(entity, limit: 3)
        guard let linked = candidates.first else {
            throw ToolError("the knowledge graph has no entity named \"\(entity)\"")
        }
        // A name found only by full-text similarity may be another entity: say so, so the
        // model can try another name instead of taking these facts for the ones it asked for.
        let note = linked.match == .fuzzy
            ? "No entity is named \"\(entity)\"; the closest names are \(candidates.map { "\"\($0.label)\"" }.joined(separator: ", ")). Facts about \"\(linked.label)\":\n"
            : ""
        let names = Dictionary(try kb.relations().map { ($0.term, $0.name) }, uniquingKeysWith: { a, _ in a })
        let facts = try kb.neighbors(of: linked.term, hops: 1, limit: limit)
        guard !facts.isEmpty else { return .text(note + "\(linked.label): no facts.") }
        return .text(note + (try facts.map { try factLine($0, kb: kb, relationNames: names) }.joined(separator: "\n")))
    }
}

/// `kg_query`: a SPARQL query (the supported subset), or a triple pattern given by names.
public struct KGQueryTool: Tool {
    public let kb: KnowledgeBase
    public var limit = 25
    public init(kb: KnowledgeBase) { self.kb = kb }
    public var name: String { "kg_query" }
    public var description: String {
        "Query the knowledge graph: give a subject and a relation (and/or an object) by name, or a SPARQL SELECT query."
    }
    public var kind: ToolKind { .knowledge }
    public var parameters: JSONValue {
        ParameterSchema.object([
            ("subject", ParameterSchema.string("The subject's name")),
            ("relation", ParameterSchema.string("The relation, e.g. capital, population, currency")),
            ("object", ParameterSchema.string("The object's name or value")),
            ("sparql", ParameterSchema.string("A SPARQL SELECT query, instead of the names")),
        ], required: [])
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        if let query = arguments["sparql"]?.stringValue, !query.isEmpty {
            let result = try kb.sparql(query)
            guard !result.rows.isEmpty else { return .text("No results.") }
            var lines = [result.variables.joined(separator: " | ")]
            for row in result.textRows.prefix(limit) { lines.append(row.map { $0 ?? "" }.joined(separator: " | ")) }
            if result.rows.count > limit { lines.append("(\(result.rows.count - limit) more rows)") }
            return .text(lines.joined(separator: "\n"))
        }
        func text(_ key: String) -> String? {
            guard let s = arguments[key]?.stringValue?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
            return s
        }
        let subjectName = text("subject"), relationName = text("relation"), objectName = text("object")
        guard subjectName != nil || objectName != nil else { throw ToolError("kg_query needs a subject or an object (or a sparql query)") }
        let relations = try kb.relations()
        let names = Dictionary(relations.map { ($0.term, $0.name) }, uniquingKeysWith: { a, _ in a })
        var predicates: [RDFTerm?] = [nil]
        if let relationName {
            let wanted = relationName.lowercased()
            let exact = relations.filter { $0.names.contains { $0.lowercased() == wanted } }
            let partial = relations.filter { r in r.names.contains { $0.lowercased().contains(wanted) || wanted.contains($0.lowercased()) } }
            let chosen = exact.isEmpty ? partial : exact
            guard !chosen.isEmpty else {
                let known = relations.prefix(30).map(\.name).joined(separator: ", ")
                throw ToolError("the knowledge graph has no relation \"\(relationName)\"; it has: \(known)")
            }
            predicates = chosen.prefix(4).map { Optional($0.term) }
        }
        func link(_ name: String?) throws -> [RDFTerm?] {
            guard let name else { return [nil] }
            let linked = try kb.linkEntities(name, limit: 3)
            if linked.isEmpty { return [.literal(name)] }
            return linked.map { Optional($0.term) }
        }
        var lines: [String] = []
        var seen = Set<Triple>()
        for s in try link(subjectName) {
            for o in try link(objectName) {
                for p in predicates {
                    for triple in try kb.triples(matching: TriplePattern(subject: s, predicate: p, object: o), limit: limit)
                    where seen.insert(triple).inserted && lines.count < limit {
                        lines.append(try factLine(triple, kb: kb, relationNames: names))
                    }
                }
            }
        }
        return .text(lines.isEmpty ? "No matching facts." : lines.joined(separator: "\n"))
    }
}

/// `kb_search`: passages of the document store (full text and meaning).
public struct KBSearchTool: Tool {
    public let retriever: Retriever
    public var limit = 3
    public init(retriever: Retriever) { self.retriever = retriever }
    public var name: String { "kb_search" }
    public var description: String { "Search the documents of the knowledge base for passages about a topic." }
    public var kind: ToolKind { .knowledge }
    public var parameters: JSONValue {
        ParameterSchema.object([("query", ParameterSchema.string("What to search for"))], required: ["query"])
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        guard let query = arguments["query"]?.stringValue, !query.isEmpty else { throw ToolError("kb_search needs a \"query\"") }
        let hits = try retriever.searchPassages(query, limit: limit)
        guard !hits.isEmpty else { return .text("No passages found.") }
        return .text(hits.map { hit in
            let title = hit.documentTitle.isEmpty ? hit.source : hit.documentTitle
            return "[\(title)] \(hit.text.replacingOccurrences(of: "\n", with: " "))"
        }.joined(separator: "\n"))
    }
}

/// `ask`: the knowledge QA pipeline (retrieval, knowledge prompt, cited answer).
public struct AskTool: Tool {
    public let qa: KnowledgeQA
    public init(qa: KnowledgeQA) { self.qa = qa }
    public var name: String { "ask" }
    public var description: String { "Answer a factual question from the knowledge base, with the facts it used." }
    public var kind: ToolKind { .knowledge }
    public var parameters: JSONValue {
        ParameterSchema.object([("question", ParameterSchema.string("The question"))], required: ["question"])
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        guard let question = arguments["question"]?.stringValue, !question.isEmpty else { throw ToolError("ask needs a \"question\"") }
        let answer = try await qa.answer(question)
        var lines = ["answer: " + answer.answer]
        for c in answer.citations.prefix(3) { lines.append("source [\(c.id)]: \(c.text.prefix(200))") }
        return .text(lines.joined(separator: "\n"))
    }
}

/// `calculator`: arithmetic by a parser (see `Calculator`).
public struct CalculatorTool: Tool {
    public init() {}
    public var name: String { "calculator" }
    public var description: String { "Compute an arithmetic expression, e.g. (12.5 * 4) / 3 or sqrt(2)." }
    public var kind: ToolKind { .compute }
    public var parameters: JSONValue {
        ParameterSchema.object([("expression", ParameterSchema.string("The expression"))], required: ["expression"])
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        guard let expression = arguments["expression"]?.stringValue else { throw ToolError("calculator needs an \"expression\"") }
        return .text(Calculator.format(try Calculator().evaluate(expression)))
    }
}

/// `current_time`: the date and time now.
public struct CurrentTimeTool: Tool {
    public init() {}
    public var name: String { "current_time" }
    public var description: String { "The current date, weekday and time." }
    public var kind: ToolKind { .compute }
    public var parameters: JSONValue { ParameterSchema.object([], required: []) }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEEE, d MMMM yyyy, HH:mm:ss ZZZZZ"
        let iso = ISO8601DateFormatter()
        let now = Date()
        return .text("\(formatter.string(from: now)) (\(iso.string(from: now)))")
    }
}

/// `extract`: schema-based information extraction from a given text.
public struct ExtractTool: Tool {
    public let extractor: Extractor
    public init(extractor: Extractor) { self.extractor = extractor }
    public var name: String { "extract" }
    public var description: String { Self.summary }
    public var kind: ToolKind { .compute }
    public var parameters: JSONValue { Self.schema }
    public static let summary = "Extract entities (task ner) or relations (task re) of the given types from a text."
    public static let schema = ParameterSchema.object([
        ("text", ParameterSchema.string("The text")),
        ("task", ParameterSchema.string("ner for entities, re for relations", oneOf: ["ner", "re"])),
        ("types", ParameterSchema.string("The entity or relation types, comma-separated")),
    ], required: ["text", "task", "types"])

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        guard let text = arguments["text"]?.stringValue, let taskName = arguments["task"]?.stringValue,
              let types = arguments["types"]?.stringValue else { throw ToolError("extract needs \"text\", \"task\" and \"types\"") }
        guard let task = IETask(name: taskName) else { throw ToolError("unknown task \(taskName); use ner or re") }
        let schema = try IESchema.parse(types, task: task)
        let output = try await extractor.extract(text, schema: schema, options: ExtractionOptions(task: task))
        return .json(output.result.oneKEObject(task: task, schema: schema))
    }
}

/// A function the caller declared and answers itself (OpenAI `tools`, BFCL functions): the
/// planner's call to it ends the run and is handed back.
public struct ClientTool: Tool {
    public let name: String
    public let description: String
    public let parameters: JSONValue
    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name; self.description = description; self.parameters = parameters
    }
    public var kind: ToolKind { .client }
    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        throw ToolError("\(name) is answered by the caller, not run here")
    }
}

/// The built-in tools by name, and the standard set.
public enum BuiltinTools {
    /// Every built-in tool name, in the order the prompt lists them.
    public static let names = ["kg_query", "kg_neighbors", "kb_search", "ask", "calculator", "extract", "current_time", "http_get"]

    /// The tools named (default: all that can be built here) over one knowledge base. `extract`
    /// needs an extractor, `http_get` needs `allowNetwork`; naming one without it is an error.
    public static func registry(names requested: [String]? = nil, kb: KnowledgeBase, retriever: Retriever, qa: KnowledgeQA?,
                                extractor: Extractor?, allowNetwork: Bool, network: NetworkPolicy = NetworkPolicy()) throws -> ToolRegistry {
        let wanted = requested ?? names.filter { name in
            (name != "http_get" || allowNetwork) && (name != "extract" || extractor != nil) && (name != "ask" || qa != nil)
        }
        let registry = ToolRegistry()
        for name in wanted {
            switch name {
            case "kg_query": registry.register(KGQueryTool(kb: kb))
            case "kg_neighbors": registry.register(KGNeighborsTool(kb: kb))
            case "kb_search": registry.register(KBSearchTool(retriever: retriever))
            case "ask":
                guard let qa else { throw ToolError("the ask tool needs a model") }
                registry.register(AskTool(qa: qa))
            case "calculator": registry.register(CalculatorTool())
            case "current_time": registry.register(CurrentTimeTool())
            case "extract":
                guard let extractor else { throw ToolError("the extract tool needs a model") }
                registry.register(ExtractTool(extractor: extractor))
            case "http_get":
                guard allowNetwork else { throw ToolError("http_get needs --allow-network") }
                registry.register(HTTPGetTool(client: HTTPClient(policy: network)))
            default:
                throw ToolError("unknown tool \(name); the built-in tools are \(names.joined(separator: ", "))")
            }
        }
        return registry
    }

    /// Functions declared in a file: a JSON array (or a JSON object with "tools"/"functions")
    /// of `{"name", "description", "parameters"}`, or of OpenAI's `{"type": "function",
    /// "function": {…}}`.
    public static func clientTools(from value: JSONValue) throws -> [ClientTool] {
        let list = value.arrayValue ?? value["tools"]?.arrayValue ?? value["functions"]?.arrayValue
        guard let list else { throw AgentError.invalidToolFile("expected a JSON array of functions") }
        return try list.enumerated().map { index, item in
            let function = item["function"] ?? item
            guard let name = function["name"]?.stringValue, !name.isEmpty else {
                throw AgentError.invalidToolFile("function \(index + 1) has no \"name\"")
            }
            return ClientTool(name: name, description: function["description"]?.stringValue ?? "",
                              parameters: function["parameters"] ?? ParameterSchema.object([], required: []))
        }
    }
}

/// A tool whose implementation is built on its first call (one that needs the model, so that
/// listing tools does not wait for a model to load).
public struct LazyTool: Tool {
    public let name: String
    public let description: String
    public let parameters: JSONValue
    public let kind: ToolKind
    private let instance: LazyInstance

    public init(name: String, description: String, parameters: JSONValue, kind: ToolKind, make: @escaping @Sendable () throws -> any Tool) {
        self.name = name; self.description = description; self.parameters = parameters; self.kind = kind
        instance = LazyInstance(make)
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput { try await instance.get().call(arguments) }

    final class LazyInstance: @unchecked Sendable {
        private let make: @Sendable () throws -> any Tool
        private var tool: (any Tool)?
        private let lock = NSLock()
        init(_ make: @escaping @Sendable () throws -> any Tool) { self.make = make }
        func get() throws -> any Tool {
            try lock.withLock {
                if let tool { return tool }
                let t = try make()
                tool = t
                return t
            }
        }
    }
}
