import Foundation
import Testing
import KnowLMCore
@testable import KnowLMExtraction

enum Fixtures {
    static func url(_ name: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            throw ExtractionError.invalidData("missing fixture \(name)")
        }
        return url
    }

    static func lines(_ name: String) throws -> [JSONValue] {
        try String(contentsOf: url(name), encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }
}

struct OneKEFormatTests {
    /// The user message rebuilt from each record's schema and input equals the record's
    /// instruction, byte for byte (the records were written by IEPile's own code).
    @Test func rebuildsIEPileMessagesByteForByte() throws {
        let format = try OneKEFormat.load()
        let records = try Fixtures.lines("iepile_records.jsonl")
        #expect(records.count == 7)
        let tasks: [IETask] = [.ner, .ner, .re, .re, .ee, .ee, .spo]
        for (record, task) in zip(records, tasks) {
            let instruction = try #require(record["instruction"]?.stringValue)
            let message = try JSONValue.parse(instruction)
            let schema = try #require(message["schema"])
            let input = try #require(message["input"]?.stringValue)
            let rebuilt = try format.userMessage(task: task, language: .zh, schema: schema, input: input)
            #expect(rebuilt == instruction)
        }
    }

    @Test func writesJSONAsPythonDoes() {
        let value = JSONValue.object([("a", .array([.string("x\"y\\z"), .number("1"), .bool(true), .null])),
                                      ("中文", .string("tab\there\u{1}\u{7F}"))])
        #expect(PythonJSON.dumps(value) == #"{"a": ["x\"y\\z", 1, true, null], "中文": "tab\there\u0001\#u{7F}"}"#)
    }

    @Test func oneKEChatWrapperIsTheTrainedOne() throws {
        let extractorPrompt = try PromptLibraryProbe.render("oneke_chat", ["system": "SYS", "message": "MSG"])
        #expect(extractorPrompt == "[INST] <<SYS>>\nSYS\n<</SYS>>\n\nMSG [/INST]")
    }

    @Test func englishInstructionsAndExamplesKey() throws {
        let format = try OneKEFormat.load()
        let example: JSONValue = .object([("input", .string("Ada met Bob.")), ("output", .object([("person", .array([.string("Ada"), .string("Bob")]))]))])
        let message = try format.userMessage(task: .ner, language: .en, schema: .array([.string("person")]), input: "Hi Ann.", examples: [example])
        let parsed = try JSONValue.parse(message)
        #expect(parsed.objectValue?.map(\.key) == ["instruction", "schema", "example", "input"])
        #expect(parsed["instruction"]?.stringValue?.hasPrefix("You are an expert in named entity recognition.") == true)
    }
}

/// Renders bundled templates the way the extractor does.
enum PromptLibraryProbe {
    static func render(_ name: String, _ context: [String: Any]) throws -> String {
        let extractor = try Extractor(model: NoModel())
        return try extractor.render(name, context)
    }
}

/// A model that is never asked to generate (the prompt tests only render templates).
struct NoModel: LanguageModel {
    var name: String { "none" }
    var contextLength: Int { 512 }
    var tokenizer: any Tokenizer { fatalError("NoModel has no tokenizer") }
    func generate(prompt: String, parameters: GenerateParameters, processors: [any LogitsProcessor]) -> AsyncThrowingStream<Generation, any Error> {
        AsyncThrowingStream { $0.finish(throwing: ExtractionError.unsupported("NoModel cannot generate")) }
    }
}

struct SchemaSplittingTests {
    /// OneKE's rule: chunks of N; a leftover smaller than half a chunk joins the last chunk.
    @Test func splitsAsOneKEDoes() {
        func sizes(_ n: Int, _ size: Int) -> [Int] { IESchema.split(Array(0..<n), size: size).map(\.count) }
        #expect(sizes(14, 6) == [6, 8])        // leftover 2 < 3 joins
        #expect(sizes(15, 6) == [6, 6, 3])     // leftover 3 = half stands alone
        #expect(sizes(5, 6) == [5])
        #expect(sizes(6, 6) == [6])
        #expect(sizes(9, 4) == [4, 5])
        #expect(sizes(10, 4) == [4, 4, 2])
        #expect(sizes(3, 1) == [1, 1, 1])      // KG: one entity type per prompt
        #expect(sizes(1, 4) == [1])
        #expect(IESchema.split(Array(0..<9), size: 4) == [[0, 1, 2, 3], [4, 5, 6, 7, 8]])
    }

    @Test func describedSchemasAreNotSplit() throws {
        let schema = try IESchema.parse(#"{"a": "first", "b": "second", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7"}"#, task: .ner)
        #expect(schema.chunks(size: 6).count == 1)
        #expect(schema.names == ["a", "b", "c", "d", "e", "f", "g"])
        let listed = try IESchema.parse("a, b,c,d,e,f,g", task: .ner)
        #expect(listed.chunks(size: 6).map { $0.arrayValue?.count ?? 0 } == [7])
    }

    @Test func readsEventSchemasAndRefusesBadOnes() throws {
        let ee = try IESchema.parse(#"[{"event_type": "attack", "trigger": true, "arguments": ["attacker", "target"]}]"#, task: .ee)
        #expect(ee.names == ["attack"])
        #expect(IESchema.roles(of: ee.items[0]) == ["attacker", "target"])
        #expect(throws: ExtractionError.self) { try IESchema.parse("[]", task: .ner) }
        #expect(throws: ExtractionError.self) { try IESchema.parse("[1, 2]", task: .ner) }
        #expect(throws: ExtractionError.self) { try IESchema.parse("{\"broken\": ", task: .ner) }
        #expect(throws: ExtractionError.self) { try IESchema.parse(#"[{"no_name": 1}]"#, task: .ee) }
        #expect(throws: ExtractionError.self) { try IESchema.parse("/nonexistent/schema.json", task: .ner) }
    }
}

struct OneKEOutputTests {
    @Test func readsEveryShapeOneKEEmits() throws {
        let ner = try OneKEOutput.parse(#"Here: {"person": ["Ada", "NAN"], "city": []} done"#, task: .ner)
        #expect(ner.entities == [.init(mention: "Ada", type: "person")])

        let re = try OneKEOutput.parse(#"{"born in": [{"head": "Ada", "tail": "London"}, {"subject": "Bob", "object": "Paris"}], "x": []}"#, task: .re)
        #expect(re.relations == [.init(subject: "Ada", relation: "born in", object: "London"),
                                 .init(subject: "Bob", relation: "born in", object: "Paris")])

        let ee = try OneKEOutput.parse(#"{"layoff": [{"trigger": "cut", "arguments": {"time": "May", "company": "NAN", "number": ["900", "20"]}}]}"#, task: .ee)
        #expect(ee.events.count == 1)
        #expect(Set(ee.events[0].arguments) == [.init(role: "time", argument: "May"), .init(role: "number", argument: "900"), .init(role: "number", argument: "20")])

        let labels = try OneKEOutput.parse(#"[{"event_trigger": "裁员", "event_type": "裁员", "arguments": [{"argument": "5月份", "role": "时间"}]}]"#, task: .ee)
        #expect(labels.events == [.init(type: "裁员", trigger: "裁员", arguments: [.init(role: "时间", argument: "5月份")])])

        let eet = try OneKEOutput.parse(#"{"裁员": ["裁员"], "会见": []}"#, task: .eet)
        #expect(eet.events.map(\.trigger) == ["裁员"])

        let kg = try OneKEOutput.parse(#"{"人物": {"明治天皇": {"别名": "睦仁", "父母": ["孝明天皇", "英照皇太后"]}}}"#, task: .kg)
        #expect(kg.relations.count == 3 && kg.entities == [.init(mention: "明治天皇", type: "人物")])

        #expect(throws: (any Error).self) { try OneKEOutput.parse(#"{"person": ["Ada""#, task: .ner) }
    }

    @Test func parsesTheFixtureLabels() throws {
        for record in try Fixtures.lines("iepile_records.jsonl") {
            let label = try #require(record["label"]?.stringValue)
            let task: IETask = label.contains("event_type") ? .ee : label.contains("relation") ? .re : .ner
            let result = try OneKEOutput.parse(label, task: task)
            #expect(label == "[]" || !result.isEmpty, "\(label)")
        }
    }

    @Test func mergedResultHasOneKEShapeInSchemaOrder() throws {
        let schema = try IESchema.parse("person,city", task: .ner)
        var a = IEResult(entities: [.init(mention: "Ada", type: "person")])
        a.merge(IEResult(entities: [.init(mention: "Ada", type: "person"), .init(mention: "Oslo", type: "city")]))
        #expect(a.oneKEObject(task: .ner, schema: schema).serialized() == #"{"person":["Ada"],"city":["Oslo"]}"#)
    }
}

struct ScoringTests {
    @Test func microPrecisionRecallF1ByExactTuples() {
        var score = IEScore()
        score.add(predicted: IEResult(entities: [.init(mention: "Ada", type: "person"), .init(mention: "Oslo", type: "person")]),
                  gold: IEResult(entities: [.init(mention: "Ada", type: "person"), .init(mention: "Oslo", type: "city")]), task: .ner)
        score.add(predicted: IEResult(), gold: IEResult(entities: [.init(mention: "Bob", type: "person")]), task: .ner)
        #expect(score.correct == 1 && score.predicted == 2 && score.gold == 3)
        #expect(abs(score.precision - 50) < 1e-9)
        #expect(abs(score.recall - 100.0 / 3) < 1e-9)
        #expect(abs(score.f1 - 40) < 1e-9)

        var events = IEScore()
        events.add(predicted: IEResult(events: [.init(type: "t", trigger: "x", arguments: [.init(role: "r", argument: "a")])]),
                   gold: IEResult(events: [.init(type: "t", trigger: "x", arguments: [.init(role: "r", argument: "b")])]), task: .ee)
        #expect(events.correct == 1 && events.gold == 2)
    }

    @Test func readsCrossNERAndIEPileFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ie-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let crossner = dir.appendingPathComponent("test.json")
        try #"[{"sentence": "Ada met Bob .", "entity_list": [{"name": "Ada", "type": "person"}]}]"#.write(to: crossner, atomically: true, encoding: .utf8)
        try #"["person", "place"]"#.write(to: dir.appendingPathComponent("class.json"), atomically: true, encoding: .utf8)
        let loaded = try IEDataset.load(path: crossner.path, task: nil)
        #expect(loaded.task == .ner && loaded.examples.count == 1 && loaded.examples[0].schema.names == ["person", "place"])

        let iepile = try IEDataset.load(path: try Fixtures.url("iepile_records.jsonl").path, task: .re)
        #expect(iepile.format == .iepile)
        #expect(throws: ExtractionError.self) {
            let bad = dir.appendingPathComponent("bad.json")
            try "{not json".write(to: bad, atomically: true, encoding: .utf8)
            _ = try IEDataset.load(path: bad.path, task: nil)
        }
    }
}

struct TextSpanTests {
    @Test func proposesCapitalisedRunsQuotedTitlesAndKnownNames() {
        var proposer = SpanProposer()
        proposer.knownNames = ["gradient descent"]
        let text = "The University of Bergen and Siemens met in Oslo ; they read \" the quiet orchard \" and used gradient descent ."
        let scalars = Array(text.unicodeScalars)
        let spans = Set(proposer.propose(text).map { String(String.UnicodeScalarView(scalars[$0])) })
        #expect(spans.isSuperset(of: ["University of Bergen", "Siemens", "Oslo", "the quiet orchard", "gradient descent"]))
        #expect(!spans.contains("The"))
    }

    @Test func proposesLowerCaseTermsBetweenFunctionWords() {
        var proposer = SpanProposer()
        proposer.isOrdinaryWord = { ["Unlike", "Early"].contains($0) }
        let text = "Unlike decision trees , they work on crop rotation schedules and Kalman filter design in the lab , and they also reported yearly soil erosion measurements ."
        let scalars = Array(text.unicodeScalars)
        let spans = proposer.proposeTerms(text).map { String(String.UnicodeScalarView(scalars[$0])) }
        // whole runs, plus the last two words of a longer run
        #expect(spans.contains("decision trees"))
        #expect(spans.contains("crop rotation schedules"))
        #expect(spans.contains("rotation schedules"))
        #expect(spans.contains("Kalman filter design"))
        #expect(spans.contains("soil erosion measurements"))
        // no position-capitalised word, no function word, no single word, no "-ed" edge
        #expect(!spans.contains { $0.hasPrefix("Unlike") })
        #expect(!spans.contains { $0.split(separator: " ").count < 2 })
        #expect(!spans.contains { $0.hasSuffix("ed") || $0.hasPrefix("reported") })
        #expect(!spans.contains { $0.contains(" the ") || $0.contains(" and ") })
    }

    /// Lower-case terms may take a label the bundled examples show in lower case ("gothic
    /// romance" is a genre) or never show, never a label shown only as capitalised names.
    @Test func termLabelsFollowTheExamplesCase() throws {
        let extractor = try Extractor(model: NoModel())   // no embedder: types map by name
        let labels = try extractor.termLabels(labels: ["person", "genre", "instrument", "city", "task"])
        #expect(labels == ["genre", "instrument", "task"])
    }

    @Test func windowsKeepOffsetsIntoTheDocument() {
        let sentence = "Ada Lovelace wrote notes on the engine. "
        let document = String(repeating: sentence, count: 30_000)   // 1.2 MB
        let windows = TextSpans.windows(document, maxScalars: 2_000)
        #expect(windows.count > 500)
        let scalars = Array(document.unicodeScalars)
        for w in windows.prefix(50) + windows.suffix(5) {
            #expect(String(String.UnicodeScalarView(scalars[w.offset..<(w.offset + w.text.unicodeScalars.count)])) == w.text)
            #expect(w.text.hasPrefix("Ada") && w.text.hasSuffix("."))
        }
        #expect(TextSpans.occurrences(of: "Ada", in: Array("Ada and Ada".unicodeScalars)) == [0..<3, 8..<11])
    }
}
