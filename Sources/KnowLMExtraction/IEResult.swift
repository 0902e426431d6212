import Foundation
import KnowLMCore

/// What was extracted from one text, whatever the task: entities, relations and events.
public struct IEResult: Sendable, Equatable {
    public struct Entity: Sendable, Hashable { public var mention: String; public var type: String
        public init(mention: String, type: String) { self.mention = mention; self.type = type } }
    public struct Relation: Sendable, Hashable { public var subject: String; public var relation: String; public var object: String
        public init(subject: String, relation: String, object: String) { self.subject = subject; self.relation = relation; self.object = object } }
    public struct Argument: Sendable, Hashable { public var role: String; public var argument: String
        public init(role: String, argument: String) { self.role = role; self.argument = argument } }
    public struct Event: Sendable, Hashable { public var type: String; public var trigger: String; public var arguments: [Argument]
        public init(type: String, trigger: String, arguments: [Argument]) { self.type = type; self.trigger = trigger; self.arguments = arguments } }

    public var entities: [Entity] = []
    public var relations: [Relation] = []
    public var events: [Event] = []
    public init(entities: [Entity] = [], relations: [Relation] = [], events: [Event] = []) {
        self.entities = entities; self.relations = relations; self.events = events
    }

    public var isEmpty: Bool { entities.isEmpty && relations.isEmpty && events.isEmpty }

    /// Adds `other`'s records that are not here yet (chunks of one schema, windows of one text).
    public mutating func merge(_ other: IEResult) {
        for e in other.entities where !entities.contains(e) { entities.append(e) }
        for r in other.relations where !relations.contains(r) { relations.append(r) }
        for e in other.events {
            if let i = events.firstIndex(where: { $0.type == e.type && $0.trigger == e.trigger }) {
                for a in e.arguments where !events[i].arguments.contains(a) { events[i].arguments.append(a) }
            } else {
                events.append(e)
            }
        }
    }

    /// The merged result in OneKE's output shape for `task`, with a key for every type of the
    /// schema (empty where nothing was found), in schema order.
    public func oneKEObject(task: IETask, schema: IESchema) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        for item in schema.items {
            guard let name = IESchema.name(of: item) else { continue }
            switch task {
            case .ner:
                members.append((name, .array(entities.filter { $0.type == name }.map { .string($0.mention) })))
            case .re, .spo:
                members.append((name, .array(relations.filter { $0.relation == name }.map {
                    .object([("subject", .string($0.subject)), ("object", .string($0.object))])
                })))
            case .eet:
                members.append((name, .array(events.filter { $0.type == name }.map { .string($0.trigger) })))
            case .ee, .eea:
                members.append((name, .array(events.filter { $0.type == name }.map { event in
                    var arguments: [(key: String, value: JSONValue)] = []
                    for role in IESchema.roles(of: item) {
                        let values = event.arguments.filter { $0.role == role }.map(\.argument)
                        arguments.append((role, values.isEmpty ? .string("NAN") : values.count == 1 ? .string(values[0]) : .array(values.map { .string($0) })))
                    }
                    for a in event.arguments where !arguments.contains(where: { $0.key == a.role }) { arguments.append((a.role, .string(a.argument))) }
                    return .object([("trigger", .string(event.trigger)), ("arguments", .object(arguments))])
                })))
            case .kg:
                var byEntity: [(key: String, value: JSONValue)] = []
                for entity in entities where entity.type == name {
                    var attributes: [(key: String, value: JSONValue)] = []
                    for r in relations where r.subject == entity.mention {
                        if let i = attributes.firstIndex(where: { $0.key == r.relation }) {
                            let old = attributes[i].value
                            attributes[i].value = .array((old.arrayValue ?? [old]) + [.string(r.object)])
                        } else {
                            attributes.append((r.relation, .string(r.object)))
                        }
                    }
                    byEntity.append((entity.mention, .object(attributes)))
                }
                members.append((name, .object(byEntity)))
            }
        }
        return .object(members)
    }
}

/// Reads what OneKE-style models answer, in every shape seen in practice: the dictionary keyed
/// by type (`{"person": ["Ada"]}`), IEPile's label lists (`[{"entity", "entity_type"}]`,
/// `[{"head", "relation", "tail"}]`, `[{"event_type", "event_trigger", "arguments": [{"argument",
/// "role"}]}]`), `head`/`tail` as well as `subject`/`object`, event arguments as a role → value
/// object or as a list, and `"NAN"` for nothing.
public enum OneKEOutput {
    /// Parses a model's answer. Throws when it is not JSON at all; shapes it does not know are
    /// skipped.
    public static func parse(_ text: String, task: IETask) throws -> IEResult {
        let value = try JSONValue.parse(extractJSON(text))
        return read(value, task: task)
    }

    /// The JSON value in an answer, tolerating text before or after it (a chat model's words
    /// around the JSON).
    static func extractJSON(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let start = trimmed.firstIndex(where: { $0 == "{" || $0 == "[" }) else { return trimmed }
        let close: Character = trimmed[start] == "{" ? "}" : "]"
        guard let end = trimmed.lastIndex(of: close) else { return String(trimmed[start...]) }
        return String(trimmed[start...end])
    }

    public static func read(_ value: JSONValue, task: IETask) -> IEResult {
        var result = IEResult()
        switch value {
        case .object(let members):
            for (type, content) in members { readTyped(type: type, content, task: task, into: &result) }
        case .array(let records):
            for record in records { readLabel(record, task: task, into: &result) }
        default: break
        }
        return result
    }

    static func isNothing(_ s: String) -> Bool {
        let t = s.trimmingCharacters(in: .whitespaces)
        return t.isEmpty || t.uppercased() == "NAN" || t.uppercased() == "NONE" || t.lowercased() == "null"
    }

    static func strings(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let s)?: return isNothing(s) ? [] : [s]
        case .array(let items)?: return items.flatMap { strings($0) }
        case .number(let n)?: return [n]
        default: return []
        }
    }

    private static func readTyped(type: String, _ content: JSONValue, task: IETask, into result: inout IEResult) {
        switch task {
        case .ner:
            for mention in strings(content) { result.merge(IEResult(entities: [.init(mention: mention, type: type)])) }
        case .re, .spo:
            for item in content.arrayValue ?? [content] {
                let subject = strings(item["subject"] ?? item["head"]).first
                let object = strings(item["object"] ?? item["tail"]).first
                if let subject, let object { result.merge(IEResult(relations: [.init(subject: subject, relation: type, object: object)])) }
            }
        case .eet:
            for item in content.arrayValue ?? [content] {
                for trigger in strings(item["trigger"] ?? item["event_trigger"] ?? item) {
                    result.merge(IEResult(events: [.init(type: type, trigger: trigger, arguments: [])]))
                }
            }
        case .ee, .eea:
            for item in content.arrayValue ?? [content] {
                guard case .object = item else { continue }
                let trigger = strings(item["trigger"] ?? item["event_trigger"]).first ?? ""
                result.merge(IEResult(events: [.init(type: type, trigger: trigger, arguments: arguments(item["arguments"]))]))
            }
        case .kg:
            guard let entities = content.objectValue else { return }
            for (entity, attributes) in entities where !isNothing(entity) {
                result.merge(IEResult(entities: [.init(mention: entity, type: type)]))
                for (attribute, value) in attributes.objectValue ?? [] {
                    for v in strings(value) { result.merge(IEResult(relations: [.init(subject: entity, relation: attribute, object: v)])) }
                }
            }
        }
    }

    private static func arguments(_ value: JSONValue?) -> [IEResult.Argument] {
        var out: [IEResult.Argument] = []
        switch value {
        case .object(let roles)?:
            for (role, v) in roles { for a in strings(v) { out.append(.init(role: role, argument: a)) } }
        case .array(let items)?:
            for item in items {
                guard let role = item["role"]?.stringValue else { continue }
                for a in strings(item["argument"]) { out.append(.init(role: role, argument: a)) }
            }
        default: break
        }
        return out
    }

    private static func readLabel(_ record: JSONValue, task: IETask, into result: inout IEResult) {
        if let mention = record["entity"]?.stringValue, let type = record["entity_type"]?.stringValue, !isNothing(mention) {
            result.merge(IEResult(entities: [.init(mention: mention, type: type)]))
        } else if let relation = record["relation"]?.stringValue,
                  let subject = strings(record["head"] ?? record["subject"]).first,
                  let object = strings(record["tail"] ?? record["object"]).first {
            result.merge(IEResult(relations: [.init(subject: subject, relation: relation, object: object)]))
        } else if let type = record["event_type"]?.stringValue {
            let trigger = strings(record["event_trigger"] ?? record["trigger"]).first ?? ""
            result.merge(IEResult(events: [.init(type: type, trigger: trigger, arguments: task == .eet ? [] : arguments(record["arguments"]))]))
        }
    }
}
