import Foundation
import KnowLMCore

/// What to extract: entity types, relation types, event types with their roles, or entity
/// types with attributes, in OneKE's schema shapes.
///
/// - NER / RE / EET: a list of names (`["person", "organization"]`).
/// - EE / EEA: `{"event_type": …, "trigger": true | [triggers], "arguments": [roles]}` objects.
/// - KG: `{"entity_type": …, "attributes": [names]}` objects.
/// - SPO: `{"subject_type": …, "predicate": …, "object_type": …}` objects.
/// - Any task: an object mapping each name to a description (`{"person": "a human being"}`);
///   such a schema is sent whole, never split.
public struct IESchema: Sendable, Equatable {
    public let task: IETask
    /// The schema items in order (strings or objects).
    public let items: [JSONValue]
    /// Descriptions by name, when the schema was given as a `{name: description}` object.
    public let descriptions: [(key: String, value: JSONValue)]?

    public static func == (a: IESchema, b: IESchema) -> Bool {
        a.task == b.task && a.items == b.items && a.described == b.described
    }
    private var described: JSONValue? { descriptions.map { .object($0) } }

    public init(task: IETask, items: [JSONValue]) throws {
        self.task = task
        self.items = items
        self.descriptions = nil
        try validate()
    }

    public init(task: IETask, descriptions: [(key: String, value: JSONValue)]) throws {
        self.task = task
        self.items = descriptions.map { .string($0.key) }
        self.descriptions = descriptions
        try validate()
    }

    /// Reads a schema from a comma-separated list of names (`person,organization`), JSON text, or
    /// a `.json` file holding either a list, a `{name: description}` object, or JSON lines of
    /// schema objects (as IEPile's `schema.json` files are).
    public static func parse(_ argument: String, task: IETask) throws -> IESchema {
        let trimmed = argument.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("[") || trimmed.hasPrefix("{") { return try fromJSON(trimmed, task: task, origin: "the schema") }
        if FileManager.default.fileExists(atPath: argument) {
            guard let data = FileManager.default.contents(atPath: argument), let text = String(data: data, encoding: .utf8) else {
                throw ExtractionError.invalidSchema("\(argument) cannot be read as UTF-8 text")
            }
            let body = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if body.hasPrefix("[") || body.hasPrefix("{") { return try fromJSON(body, task: task, origin: argument) }
            return try fromNames(body, task: task)
        }
        if argument.hasSuffix(".json") { throw ExtractionError.invalidSchema("schema file \(argument) does not exist") }
        return try fromNames(trimmed, task: task)
    }

    /// Reads a schema sent as JSON (a request body): a list, a `{name: description}` object,
    /// one schema object, or a string of comma-separated names. Never reads a file.
    public static func parse(json value: JSONValue, task: IETask) throws -> IESchema {
        switch value {
        case .string(let text):
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("[") || trimmed.hasPrefix("{") { return try fromJSON(trimmed, task: task, origin: "the schema") }
            return try fromNames(trimmed, task: task)
        case .array, .object:
            return try fromJSON(value.serialized(), task: task, origin: "the schema")
        default:
            throw ExtractionError.invalidSchema("the schema is a list of names, a list of schema objects, a {name: description} object or a comma-separated string, not \(value.serialized())")
        }
    }

    static func fromNames(_ text: String, task: IETask) throws -> IESchema {
        let names = text.split(whereSeparator: { $0 == "," || $0 == "\n" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return try IESchema(task: task, items: names.map { .string($0) })
    }

    static func fromJSON(_ text: String, task: IETask, origin: String) throws -> IESchema {
        if let value = try? JSONValue.parse(text) {
            switch value {
            case .array(let items): return try IESchema(task: task, items: items)
            case .object(let members):
                // One schema object (an event type …) or a {name: description} map.
                if task != .ner && task != .re && task != .eet && members.contains(where: { Self.nameKeys.contains($0.key) }) {
                    return try IESchema(task: task, items: [value])
                }
                return try IESchema(task: task, descriptions: members)
            default: break
            }
            throw ExtractionError.invalidSchema("\(origin): a schema is a list of names, a list of schema objects or a {name: description} object, not \(value.serialized())")
        }
        // JSON lines: one schema object or list per line (IEPile's schema.json).
        var items: [JSONValue] = []
        for (n, line) in text.split(separator: "\n").enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                let value = try JSONValue.parse(String(line))
                if case .array(let list) = value { items += list } else { items.append(value) }
            } catch let e as JSONParseError {
                throw ExtractionError.invalidSchema("\(origin) line \(n + 1): \(e.description)")
            }
        }
        return try IESchema(task: task, items: items)
    }

    static let nameKeys: Set<String> = ["event_type", "entity_type", "predicate"]

    private func validate() throws {
        guard !items.isEmpty else { throw ExtractionError.invalidSchema("the schema is empty: give at least one type") }
        for item in items {
            switch item {
            case .string(let s):
                guard !s.isEmpty else { throw ExtractionError.invalidSchema("a schema name is empty") }
                if task == .ee || task == .eea || task == .kg || task == .spo, descriptions == nil {
                    // Names alone are accepted and widened below (an event type without roles …).
                    continue
                }
            case .object:
                guard Self.name(of: item) != nil else {
                    throw ExtractionError.invalidSchema("schema object \(item.serialized()) has none of event_type, entity_type, predicate")
                }
            default:
                throw ExtractionError.invalidSchema("schema items are names or objects, not \(item.serialized())")
            }
        }
    }

    /// The type name an item stands for (an entity type, relation, event type or predicate).
    public static func name(of item: JSONValue) -> String? {
        if let s = item.stringValue { return s }
        for key in ["event_type", "entity_type", "predicate"] { if let s = item[key]?.stringValue { return s } }
        return nil
    }

    /// The names in order.
    public var names: [String] { items.compactMap(Self.name(of:)) }

    /// The items of one chunk as `chunks(size:)` gives it (a list, or a described object).
    public static func items(ofChunk chunk: JSONValue) -> [JSONValue] {
        chunk.arrayValue ?? chunk.objectValue?.map { .string($0.key) } ?? []
    }

    /// The roles (EE, EEA) or attributes (KG) an item declares.
    public static func roles(of item: JSONValue) -> [String] {
        (item["arguments"]?.arrayValue ?? item["attributes"]?.arrayValue ?? []).compactMap(\.stringValue)
    }

    /// The schema as OneKE sends it in prompts, split into chunks of `size` items. A leftover
    /// smaller than half a chunk joins the last chunk; a described schema is one chunk.
    public func chunks(size: Int) -> [JSONValue] {
        if let descriptions { return [.object(descriptions)] }
        return Self.split(items, size: size).map { .array($0) }
    }

    /// OneKE's (IEPile's) splitting rule.
    public static func split<T>(_ items: [T], size: Int) -> [[T]] {
        guard size > 0, !items.isEmpty else { return items.isEmpty ? [] : [items] }
        let whole = max(items.count / size, 1) * size
        var chunks: [[T]] = stride(from: 0, to: min(whole, items.count), by: size).map {
            Array(items[$0..<min($0 + size, items.count)])
        }
        let leftover = items.count > whole ? Array(items[whole...]) : []
        if !leftover.isEmpty {
            if leftover.count >= max(1, size / 2) { chunks.append(leftover) } else { chunks[chunks.count - 1] += leftover }
        }
        return chunks
    }
}

/// The JSON Schema the model's answer to one prompt must satisfy, built from the task and the
/// schema chunk: one key per type in schema order, mentions as strings that (with
/// `copyFromInput`) must be spans of the input.
public enum OutputSchema {
    public static func jsonSchema(task: IETask, chunk: JSONValue, copyFromInput: Bool) -> JSONValue {
        let items = IESchema.items(ofChunk: chunk)
        let mention: JSONValue = copyFromInput
            ? .object([("type", .string("string")), ("x-copy-from-input", .bool(true))])
            : .object([("type", .string("string")), ("minLength", .number("1"))])
        func array(_ item: JSONValue) -> JSONValue { .object([("type", .string("array")), ("items", item)]) }
        func object(_ properties: [(key: String, value: JSONValue)], required: [String]) -> JSONValue {
            .object([("type", .string("object")), ("properties", .object(properties)),
                     ("required", .array(required.map { .string($0) }))])
        }
        let argumentValue: JSONValue = .object([("anyOf", .array([mention, .object([("const", .string("NAN"))]), array(mention)]))])
        var properties: [(key: String, value: JSONValue)] = []
        for item in items {
            guard let name = IESchema.name(of: item) else { continue }
            let value: JSONValue
            switch task {
            case .ner, .eet:
                value = array(mention)
            case .re, .spo:
                value = array(object([("subject", mention), ("object", mention)], required: ["subject", "object"]))
            case .ee, .eea:
                let roles = IESchema.roles(of: item)
                value = array(object([("trigger", mention),
                                      ("arguments", object(roles.map { ($0, argumentValue) }, required: roles))],
                                     required: ["trigger", "arguments"]))
            case .kg:
                // Entity names are keys OneKE chooses; the grammar can only hold such an object to
                // JSON. Attribute values are still checked when parsed.
                value = .bool(true)
            }
            properties.append((name, value))
        }
        return object(properties, required: properties.map(\.key))
    }
}
