import Foundation
import Testing
import KnowLMCore
@testable import KnowLMExtraction
import KnowLMKnowledge
import KnowLMRuntime

/// Extraction end to end with the real default model (and embedder): answers always parse,
/// mentions are spans of the input, bad input is refused clearly, results flow into a real
/// knowledge base without duplicates.
@Suite(.serialized)
struct ExtractionModelTests {
    static let shared: (LocalModel, Extractor)? = {
        let store = ModelStore()
        guard let generator = try? store.resolve(ModelStore.defaultGenerator),
              let embedderPath = try? store.resolve(ModelStore.defaultEmbedder) else { return nil }
        var options = RuntimeOptions()
        options.contextLength = 2048
        guard let model = try? LocalModel.load(path: generator, options: options),
              let embedder = try? BERTEmbedder(folder: URL(fileURLWithPath: embedderPath)),
              let extractor = try? Extractor(model: model, embedder: embedder) else { return nil }
        return (model, extractor)
    }()

    static func extractor() throws -> (LocalModel, Extractor) {
        try #require(shared, "the default model and embedder must be installed (scripts/setup.sh)")
    }

    @Test func spanTypingFindsNamesAndLocatesThem() async throws {
        let (_, extractor) = try Self.extractor()
        let text = "Marco Rossi flew from Madrid to Berlin to meet engineers at Volkswagen ."
        let schema = try IESchema.parse("person,city,company", task: .ner)
        let output = try await extractor.extract(text, schema: schema, options: ExtractionOptions(task: .ner))
        let found = Dictionary(output.result.entities.map { ($0.mention, $0.type) }, uniquingKeysWith: { a, _ in a })
        #expect(found["Madrid"] == "city" && found["Berlin"] == "city", "\(found)")
        #expect(found["Marco Rossi"] == "person", "\(found)")
        let scalars = Array(text.unicodeScalars)
        for span in output.spans {
            #expect(String(String.UnicodeScalarView(scalars[span.start..<span.end])) == span.text)
        }
        #expect(output.parseErrors == 0)
    }

    /// Generation under the task's JSON Schema: the answer parses and every mention is a span
    /// of the input, also when the token limit cuts the answer short.
    @Test func constrainedGenerationAlwaysParsesAndCopiesFromTheInput() async throws {
        let (model, extractor) = try Self.extractor()
        let text = "Anna Holm was born in Bergen and works for the Aurora Foundation in Oslo."
        let schema = try IESchema.parse("place of birth,employer,located in,spouse,founded by", task: .re)
        for maxTokens in [256, 14] {
            var options = ExtractionOptions(task: .re)
            options.maxTokens = maxTokens
            let output = try await extractor.extract(text, schema: schema, options: options)
            #expect(output.parseErrors == 0, "max \(maxTokens): \(output.warnings)")
            for r in output.result.relations {
                #expect(text.contains(r.subject) && text.contains(r.object), "\(r)")
            }
        }
        // The grammar itself refuses a mention that is not in the input.
        let grammar = try JSONSchemaGrammar.compile(
            OutputSchema.jsonSchema(task: .re, chunk: schema.chunks(size: 4)[0], copyFromInput: true),
            options: JSONSchemaOptions(input: text))
        let engine = GrammarEngine(grammar: grammar, trie: model.vocabularyTrie)
        let good = #"{"place of birth": [{"subject": "Anna Holm", "object": "Bergen"}], "employer": [], "located in": [], "spouse": [], "founded by": []}"#
        #expect(engine.matches(Array(good.utf8)))
        #expect(!engine.matches(Array(good.replacingOccurrences(of: "Bergen", with: "Berlin").utf8)))
    }

    @Test func refusesBadInputClearly() async throws {
        let (_, extractor) = try Self.extractor()
        let schema = try IESchema.parse("person", task: .ner)
        let empty = try await extractor.extract("  \n ", schema: schema, options: ExtractionOptions(task: .ner))
        #expect(empty.result.isEmpty && !empty.warnings.isEmpty)
        await #expect(throws: ExtractionError.self) {
            _ = try await extractor.extract("ELF\u{0}\u{1}\u{2}\u{0}", schema: schema, options: ExtractionOptions(task: .ner))
        }
        let huge = String(repeating: "Ada Lovelace wrote notes on the engine. ", count: 27_000)
        do {
            _ = try await extractor.extract(huge, schema: schema, options: ExtractionOptions(task: .ner))
            Issue.record("a 1 MB text was accepted")
        } catch let error as ExtractionError {
            #expect(error.localizedDescription.contains("--max-chars"))
        }
        let wrongTask = try IESchema.parse("born in", task: .re)
        await #expect(throws: ExtractionError.self) {
            _ = try await extractor.extract("Ada was born in London.", schema: wrongTask, options: ExtractionOptions(task: .ner))
        }
    }
}

/// Extracted facts in a real knowledge base file: provenance kept, `neighbors` sees them, a
/// second run over the same document replaces instead of duplicating.
struct ExtractionToGraphTests {
    @Test func storesFactsWithProvenanceAndReplacesOnRerun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let kb = try KnowledgeBase(url: dir.appendingPathComponent("kb.sqlite"))
        let run = ExtractionRun(document: "/docs/holm.txt", model: "gemma-3-270m", task: "RE", schema: #"["place of birth"]"#)
        let facts = [ExtractedFact(subject: "Anna Holm", relation: "place of birth", object: "Bergen", start: 0, end: 33)]
        let entities = [ExtractedEntity(mention: "Anna Holm", type: "person", start: 0, end: 9)]
        let first = try kb.replaceExtraction(run, facts: facts, entities: entities)
        #expect(first.added > 0 && first.removed == 0)
        let countAfterFirst = try kb.statistics().triples
        let second = try kb.replaceExtraction(run, facts: facts, entities: entities)
        #expect(second.added == 0 && second.removed == 0)
        #expect(try kb.statistics().triples == countAfterFirst)

        let holm = try #require(try kb.linkEntities("Anna Holm", limit: 1).first).term
        let around = try kb.neighbors(of: holm, hops: 1, predicates: nil, limit: 20)
        let labels = try around.map { try kb.label(of: $0.object) }
        #expect(labels.contains("Bergen") && labels.contains("person"))
        let edge = try #require(around.first { (try? kb.label(of: $0.object)) == "Bergen" })
        let evidence = try kb.extractionEvidence(subject: edge.subject, predicate: edge.predicate, object: edge.object)
        #expect(evidence.count == 1)
        #expect(evidence.first?.run.document == "/docs/holm.txt" && evidence.first?.start == 0 && evidence.first?.end == 33)

        // A new version of the document's extraction drops what only the old one said.
        let revised = [ExtractedFact(subject: "Anna Holm", relation: "place of birth", object: "Oslo", start: 0, end: 30)]
        let third = try kb.replaceExtraction(run, facts: revised, entities: entities)
        #expect(third.removed >= 1)
        let now = try kb.neighbors(of: holm, hops: 1, predicates: nil, limit: 20).map { try kb.label(of: $0.object) }
        #expect(now.contains("Oslo") && !now.contains("Bergen"))
    }
}
