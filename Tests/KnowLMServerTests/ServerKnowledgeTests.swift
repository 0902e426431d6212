import Foundation
import Hummingbird
import HummingbirdTesting
import KnowLMCore
import KnowLMKnowledge
@testable import KnowLMServer
import Testing

/// A knowledge base of its own in a temporary folder, removed afterwards.
final class ScratchKB: @unchecked Sendable {
    let directory: URL
    let kb: KnowledgeBase

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        kb = try KnowledgeBase(url: directory.appendingPathComponent("kb.sqlite"))
    }
    deinit { try? FileManager.default.removeItem(at: directory) }

    func service(model: any LanguageModel) throws -> KnowledgeService {
        let retriever = Retriever(kb: kb, embedder: nil)
        return KnowledgeService(kb: kb, retriever: retriever, qa: KnowledgeQA(retriever: retriever, model: model, prompts: try PromptLibrary()))
    }

    func tripleCount() throws -> Int { try kb.statistics().triples }
}

/// Writing to the knowledge base over HTTP (documents, triples, extraction results) and the
/// task endpoints' request checking; no model is needed for these.
@Suite struct ServerKnowledgeTests {
    func app(_ scratch: ScratchKB, reply: String = "") throws -> some ApplicationProtocol {
        // One token per byte: room for a few-shot extraction prompt.
        let model = ScriptedModel(reply: reply, contextLength: 16_384)
        var b = try backends(model)
        b.knowledge = try scratch.service(model: model)
        return buildApplication(configuration: ServerConfiguration(), backends: b)
    }

    @Test func triplesUploadIsAllOrNothing() async throws {
        let scratch = try ScratchKB()
        try await app(scratch).test(.router) { client in
            let good = #"{"triples": [{"subject": "Ada Lovelace", "predicate": "collaborator", "object": "Charles Babbage"}, {"subject": "Charles Babbage", "predicate": "born in", "object": "London"}], "source": "people"}"#
            try await client.execute(uri: "/v1/kb/triples", method: .post, body: body(good)) { (response: TestResponse) throws in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                let value = try json(response)
                #expect(value["lines"]?.intValue == 2)
                #expect((value["triples"]?.intValue ?? 0) >= 2)
                #expect((value["added"]?.intValue ?? 0) >= 2)
            }
            let before = try scratch.tripleCount()
            // The same upload again changes nothing.
            try await client.execute(uri: "/v1/kb/triples", method: .post, body: body(good)) { (response: TestResponse) throws in
                #expect(try json(response)["already_imported"] == .bool(true))
            }
            // A bad second line: 400 naming it, and nothing of the upload is kept.
            let bad = #"{"format": "nt", "data": "<http://x.org/a> <http://x.org/p> <http://x.org/b> .\n<http://x.org/c> <http://x.org/p> broken\n"}"#
            try await client.execute(uri: "/v1/kb/triples", method: .post, body: body(bad)) { (response: TestResponse) throws in
                #expect(response.status == .badRequest)
                let message = try json(response)["error"]?["message"]?.stringValue ?? ""
                #expect(message.contains(":2:"), "\(message)")
            }
            #expect(try scratch.tripleCount() == before)
            // Or skipped, and reported.
            let skipping = bad.replacingOccurrences(of: #""format""#, with: #""skip_bad": true, "format""#)
            try await client.execute(uri: "/v1/kb/triples", method: .post, body: body(skipping)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                #expect(try json(response)["skipped"]?.arrayValue?.first?["line"]?.intValue == 2)
            }
            #expect(try scratch.tripleCount() == before + 1)
            for wrong in [#"{"format": "xml", "data": "x"}"#, #"{"triples": "not a list"}"#, #"{}"#, #"{"triples": [{"subject": "a"}]}"#] {
                try await client.execute(uri: "/v1/kb/triples", method: .post, body: body(wrong)) { (response: TestResponse) throws in
                    #expect(response.status == .badRequest, "\(wrong)")
                }
            }
            // What was uploaded answers SPARQL.
            let query = #"{"query": "SELECT ?o WHERE { ?s ?p ?o . ?s <http://www.w3.org/2000/01/rdf-schema#label> \"Charles Babbage\" . ?o <http://www.w3.org/2000/01/rdf-schema#label> ?name }"}"#
            try await client.execute(uri: "/v1/kb/sparql", method: .post, body: body(query)) { (response: TestResponse) throws in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                #expect((try json(response)["rows"]?.arrayValue?.count ?? 0) >= 1)
            }
        }
    }

    @Test func documentsAreSearchableOnceAdded() async throws {
        let scratch = try ScratchKB()
        try await app(scratch).test(.router) { client in
            try await client.execute(uri: "/v1/kb/search?q=astrolabe", method: .get) { (response: TestResponse) throws in
                #expect(try json(response)["data"]?.arrayValue?.isEmpty == true)
            }
            let documents = ##"{"documents": [{"title": "Instruments", "text": "# Instruments\nThe astrolabe measured the altitude of stars.", "format": "markdown", "source": "notes/instruments.md"}, {"text": "Sextants came later."}]}"##
            try await client.execute(uri: "/v1/kb/documents", method: .post, body: body(documents)) { (response: TestResponse) throws in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                let value = try json(response)
                #expect(value["documents_added"]?.intValue == 2)
                #expect((value["chunks"]?.intValue ?? 0) >= 2)
            }
            try await client.execute(uri: "/v1/kb/search?q=astrolabe", method: .get) { (response: TestResponse) throws in
                let hit = try json(response)["data"]?.arrayValue?.first
                #expect(hit?["title"] == .string("Instruments"))
                #expect(hit?["text"]?.stringValue?.contains("#") == false, "Markdown markup is dropped")
            }
            for wrong in [#"{"documents": []}"#, #"{"documents": [{"title": "no text"}]}"#, #"{"text": "x", "format": "pdf"}"#, #"{"text": "   "}"#] {
                try await client.execute(uri: "/v1/kb/documents", method: .post, body: body(wrong)) { (response: TestResponse) throws in
                    #expect(response.status == .badRequest, "\(wrong)")
                }
            }
        }
    }

    /// Extraction with a model that decodes freely: the answer is parsed in OneKE's format,
    /// located in the text, and can be stored in the graph with its provenance.
    @Test func extractionParsesLocatesAndStores() async throws {
        let scratch = try ScratchKB()
        let reply = #"{"collaborator": [{"subject": "Ada Lovelace", "object": "Charles Babbage"}]}"#
        try await app(scratch, reply: reply).test(.router) { client in
            let request = #"{"task": "re", "schema": ["collaborator"], "text": "Ada Lovelace worked with Charles Babbage.", "to_kg": true, "document": "letters/1843"}"#
            try await client.execute(uri: "/v1/extract", method: .post, body: body(request)) { (response: TestResponse) throws in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                let value = try json(response)
                #expect(value["task"] == .string("RE"))
                #expect(value["result"]?.serialized().contains("Charles Babbage") == true, "\(value.serialized())")
                #expect(value["spans"]?.arrayValue?.contains { $0["text"] == .string("Ada Lovelace") && $0["start"]?.intValue == 0 } == true)
                #expect(value["stored"]?["document"] == .string("letters/1843"))
                #expect((value["stored"]?["added"]?.intValue ?? 0) >= 1)
            }
            #expect(try scratch.tripleCount() >= 1)
            for wrong in [#"{"task": "xyz", "schema": ["a"], "text": "t"}"#, #"{"task": "ner", "text": "t"}"#,
                          #"{"task": "ner", "schema": 5, "text": "t"}"#, #"{"task": "ner", "schema": [], "text": "t"}"#,
                          #"{"task": "ner", "schema": ["a"]}"#, #"{"task": "ner", "schema": ["a"], "text": "t", "language": "fr"}"#] {
                try await client.execute(uri: "/v1/extract", method: .post, body: body(wrong)) { (response: TestResponse) throws in
                    #expect(response.status == .badRequest, "\(wrong)")
                }
            }
        }
    }

    @Test func taskEndpointsCheckTheirRequests() async throws {
        let scratch = try ScratchKB()
        try await app(scratch).test(.router) { client in
            for (uri, wrong) in [("/v1/detect", #"{"question": "q"}"#), ("/v1/detect", #"{"answer": ""}"#),
                                 ("/v1/agent/runs", #"{}"#), ("/v1/agent/runs", #"{"task": "t", "tools": ["no_such_tool"]}"#),
                                 ("/v1/agent/runs", #"{"task": "t", "max_steps": 0}"#), ("/v1/agent/runs", #"{"task": "t", "tools": [1]}"#)] {
                try await client.execute(uri: uri, method: .post, body: body(wrong)) { (response: TestResponse) throws in
                    #expect(response.status == .badRequest, "\(uri) \(wrong): \(String(buffer: response.body))")
                }
            }
            try await client.execute(uri: "/v1/agent/runs/0123-no-such-run", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/agent/runs", method: .get) { (response: TestResponse) throws in
                #expect(try json(response)["data"]?.arrayValue?.isEmpty == true)
            }
            try await client.execute(uri: "/v1/extract", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .methodNotAllowed)
            }
        }
        // Without a knowledge base the knowledge endpoints say how to get one.
        let bare = buildApplication(configuration: ServerConfiguration(), backends: try backends(ScriptedModel()))
        try await bare.test(.router) { client in
            for uri in ["/v1/detect", "/v1/agent/runs", "/v1/kb/documents", "/v1/kb/triples"] {
                try await client.execute(uri: uri, method: .post, body: body(#"{"task": "t", "answer": "a", "text": "t", "triples": [{"s": "a", "p": "b", "o": "c"}]}"#)) { (response: TestResponse) throws in
                    #expect(response.status == .notFound, "\(uri)")
                    #expect(try json(response)["error"]?["message"]?.stringValue?.contains("--kb") == true)
                }
            }
        }
    }
}
