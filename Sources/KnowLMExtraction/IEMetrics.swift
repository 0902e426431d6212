import Foundation
import KnowLMCore

/// IEPile-style scoring: micro precision / recall / F1 over exact tuple matches (NER
/// `(mention, type)`, RE `(subject, relation, object)`, EE triggers `(type, trigger)` and
/// arguments `(type, argument, role)`), with `"NAN"` dropped, and the outputs that did not parse.
public struct IEScore: Sendable, Equatable {
    public var predicted = 0
    public var gold = 0
    public var correct = 0
    public var parseErrors = 0
    public var count = 0
    public init() {}

    public var precision: Double { predicted == 0 ? 0 : 100 * Double(correct) / Double(predicted) }
    public var recall: Double { gold == 0 ? 0 : 100 * Double(correct) / Double(gold) }
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }

    /// Adds one text's prediction against its gold records.
    public mutating func add(predicted p: IEResult, gold g: IEResult, task: IETask) {
        let a = Self.tuples(p, task: task), b = Self.tuples(g, task: task)
        predicted += a.count
        gold += b.count
        correct += a.intersection(b).count
        count += 1
    }

    static func tuples(_ r: IEResult, task: IETask) -> Set<[String]> {
        var out = Set<[String]>()
        switch task {
        case .ner:
            for e in r.entities { out.insert(["ent", e.mention, e.type]) }
        case .re, .spo, .kg:
            for x in r.relations { out.insert(["rel", x.subject, x.relation, x.object]) }
        case .eet:
            for e in r.events { out.insert(["trg", e.type, e.trigger]) }
        case .ee, .eea:
            for e in r.events {
                if task == .ee { out.insert(["trg", e.type, e.trigger]) }
                for a in e.arguments { out.insert(["arg", e.type, a.argument, a.role]) }
            }
        }
        return out
    }
}

/// One evaluation record: a text, its schema and its gold result.
public struct IEExample: Sendable {
    public var id: String
    public var text: String
    public var schema: IESchema
    public var gold: IEResult
    public init(id: String, text: String, schema: IESchema, gold: IEResult) {
        self.id = id; self.text = text; self.schema = schema; self.gold = gold
    }
}

/// Reads the evaluation formats: CrossNER files (a JSON array or JSON lines of
/// `{"sentence", "entity_list": [{"name","type"}]}` or `"relation_list": [{"head","relation","tail"}]`,
/// the schema from `class.json` beside the file or from the labels seen) and IEPile files (JSON
/// lines of `{"id", "instruction": "<OneKE user message>", "label": "<gold JSON>"}`; records of
/// one id are one text whose schema chunks are joined).
public enum IEDataset {
    public enum Format: String, Sendable { case crossner, iepile }

    public static func load(path: String, task requested: IETask?) throws -> (examples: [IEExample], format: Format, task: IETask) {
        guard let data = FileManager.default.contents(atPath: path) else { throw ExtractionError.invalidData("cannot read \(path)") }
        guard let text = String(data: data, encoding: .utf8) else { throw ExtractionError.invalidData("\(path) is not UTF-8 text") }
        let records = try jsonRecords(text, path: path)
        guard let first = records.first else { throw ExtractionError.invalidData("\(path) holds no records") }
        if first["instruction"] != nil && first["label"] != nil {
            return try iepile(records, task: requested, path: path)
        }
        if first["sentence"] != nil || first["text"] != nil {
            return try crossner(records, task: requested, path: path)
        }
        throw ExtractionError.invalidData("\(path): records have neither {instruction, label} (IEPile) nor {sentence, entity_list} (CrossNER)")
    }

    static func jsonRecords(_ text: String, path: String) throws -> [JSONValue] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("[") {
            do { return try JSONValue.parse(trimmed).arrayValue ?? [] } catch let e as JSONParseError {
                throw ExtractionError.invalidData("\(path): \(e.description)")
            }
        }
        var out: [JSONValue] = []
        for (n, line) in trimmed.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do { out.append(try JSONValue.parse(String(line))) } catch let e as JSONParseError {
                throw ExtractionError.invalidData("\(path) line \(n + 1): \(e.description)")
            }
        }
        return out
    }

    static func crossner(_ records: [JSONValue], task requested: IETask?, path: String) throws -> ([IEExample], Format, IETask) {
        let hasRelations = records.contains { $0["relation_list"] != nil }
        let task = requested ?? (hasRelations ? .re : .ner)
        var golds: [(String, IEResult)] = []
        var seen: [String] = []
        func note(_ label: String) { if !seen.contains(label) { seen.append(label) } }
        for record in records {
            guard let sentence = (record["sentence"] ?? record["text"])?.stringValue else { continue }
            var gold = IEResult()
            for e in record["entity_list"]?.arrayValue ?? [] {
                if let name = e["name"]?.stringValue, let type = e["type"]?.stringValue {
                    gold.entities.append(.init(mention: name, type: type))
                    if task == .ner { note(type) }
                }
            }
            for r in record["relation_list"]?.arrayValue ?? [] {
                if let h = (r["head"] ?? r["subject"])?.stringValue, let rel = (r["relation"] ?? r["predicate"])?.stringValue,
                   let t = (r["tail"] ?? r["object"])?.stringValue {
                    gold.relations.append(.init(subject: h, relation: rel, object: t))
                    if task != .ner { note(rel) }
                }
            }
            golds.append((sentence, gold))
        }
        // The schema: class.json beside the data when there is one, else the labels seen.
        let classFile = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("class.json").path
        var labels = seen
        if FileManager.default.fileExists(atPath: classFile), let data = FileManager.default.contents(atPath: classFile),
           let text = String(data: data, encoding: .utf8), let list = try? JSONValue.parse(text).arrayValue {
            labels = list.compactMap(\.stringValue)
        }
        let schema = try IESchema(task: task, items: labels.map { .string($0) })
        let examples = golds.enumerated().map { IEExample(id: String($0.offset), text: $0.element.0, schema: schema, gold: $0.element.1) }
        return (examples, .crossner, task)
    }

    static func iepile(_ records: [JSONValue], task requested: IETask?, path: String) throws -> ([IEExample], Format, IETask) {
        var order: [String] = []
        var byID: [String: (text: String, schema: [JSONValue], gold: IEResult, task: IETask?)] = [:]
        for (n, record) in records.enumerated() {
            guard let instructionText = record["instruction"]?.stringValue,
                  let message = try? JSONValue.parse(instructionText),
                  let input = message["input"]?.stringValue, let schema = message["schema"] else {
                throw ExtractionError.invalidData("\(path) record \(n + 1): the instruction is not a OneKE message with schema and input")
            }
            let task = requested ?? (record["task"]?.stringValue).flatMap(IETask.init(name:)) ?? guessTask(message)
            let id = record["id"]?.stringValue ?? String(n)
            let labelText = record["label"]?.stringValue ?? "[]"
            let gold = (try? OneKEOutput.parse(labelText, task: task ?? .ner)) ?? IEResult()
            let items = IESchema.items(ofChunk: schema)
            if byID[id] == nil { order.append(id); byID[id] = (input, [], gold, task) }
            for item in items where !byID[id]!.schema.contains(item) { byID[id]!.schema.append(item) }
        }
        guard let task = requested ?? byID.values.first?.task else {
            throw ExtractionError.invalidData("\(path): cannot tell the task; pass --task")
        }
        let examples = try order.map { id -> IEExample in
            let r = byID[id]!
            return IEExample(id: id, text: r.text, schema: try IESchema(task: task, items: r.schema), gold: r.gold)
        }
        return (examples, .iepile, task)
    }

    /// The task an IEPile instruction is for, from its schema shape and its wording.
    static func guessTask(_ message: JSONValue) -> IETask? {
        let first = message["schema"]?.arrayValue?.first
        if first?["event_type"] != nil { return first?["trigger"]?.boolValue == true ? .ee : .eea }
        if first?["entity_type"] != nil { return .kg }
        if first?["predicate"] != nil { return .spo }
        let instruction = message["instruction"]?.stringValue ?? ""
        if instruction.contains("关系") || instruction.lowercased().contains("relation") { return .re }
        if instruction.contains("事件") || instruction.lowercased().contains("event") { return .eet }
        return .ner
    }
}
