import Foundation
import Hummingbird
import KnowLMCore
import KnowLMKnowledge

/// The knowledge base over HTTP: answers with citations, passage search and SPARQL.
struct KnowledgeController {
    let runner: ModelRunner

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/ask") { request, _ in try await ask(request) }
        router.get("/v1/kb/search") { request, _ in try search(request) }
        router.post("/v1/kb/sparql") { request, _ in try await sparql(request) }
        router.post("/v1/kb/documents") { request, _ in try await addDocuments(request) }
        router.post("/v1/kb/triples") { request, _ in try await addTriples(request) }
    }

    static func service(_ runner: ModelRunner) throws -> KnowledgeService {
        guard let knowledge = runner.backends.knowledge else {
            throw APIError(.notFound, "this server has no knowledge base; start it with --kb PATH")
        }
        return knowledge
    }

    func service() throws -> KnowledgeService { try Self.service(runner) }

    /// `{"question"}` → `{"answer", "citations": [{"id", "kind", "text"}], "supported", "decided_by"}`,
    /// as `knowlm ask --json` prints it.
    func ask(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        defer { withExtendedLifetime(ticket) {} }
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let knowledge = try service()
        let question = try body.requiredString("question").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty, question.count <= 2000 else {
            throw APIError.invalid("question must be 1 to 2000 characters", param: "question")
        }
        let answer = try await knowledge.qa.answer(question)
        return jsonResponse(.object([
            ("answer", .string(answer.answer)),
            ("citations", .array(answer.citations.map {
                .object([("id", .string($0.id)), ("kind", .string($0.kind)), ("text", .string($0.text))])
            })),
            ("supported", .bool(answer.supported)),
            ("decided_by", .string(answer.decidedBy.rawValue)),
        ]))
    }

    /// `?q=TEXT&limit=N` → passages, best first (full-text and vector search fused).
    func search(_ request: Request) throws -> Response {
        let knowledge = try service()
        let query = request.uri.queryParameters
        guard let q = query.get("q"), !q.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw APIError.invalid("the query parameter q is required", param: "q")
        }
        var limit = 5
        if let text = query.get("limit") {
            guard let n = Int(text), (1...100).contains(n) else { throw APIError.invalid("limit must be an integer from 1 to 100", param: "limit") }
            limit = n
        }
        let hits = try knowledge.retriever.searchPassages(q, limit: limit)
        return jsonResponse(.object([("data", .array(hits.map { hit in
            .object([
                ("chunk_id", .num(Int(hit.chunkID))), ("document_id", .num(Int(hit.documentID))),
                ("title", .string(hit.documentTitle)), ("source", .string(hit.source)),
                ("text", .string(hit.text)), ("score", .num(hit.score)),
            ])
        }))]))
    }

    /// `{"query"}` → `{"variables", "rows"}` with N-Triples terms (null for unbound).
    func sparql(_ request: Request) async throws -> Response {
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let knowledge = try service()
        let query = try body.requiredString("query")
        let result: SPARQLResult
        do { result = try knowledge.kb.sparql(query) } catch {
            throw APIError.invalid("the query cannot be run: \((error as? LocalizedError)?.errorDescription ?? String(describing: error))", param: "query")
        }
        return jsonResponse(.object([
            ("variables", .array(result.variables.map { .string($0) })),
            ("rows", .array(result.textRows.map { row in .array(row.map { $0.map { .string($0) } ?? .null }) })),
        ]))
    }

    /// `{"documents": [{"text", "title"?, "source"?, "format"?: "text"|"markdown"|"html"}]}` (or
    /// one such object as the body) → what `kb ingest` reports. Documents are chunked, indexed
    /// for full-text search and embedded, in one transaction: all are stored or none.
    func addDocuments(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        defer { withExtendedLifetime(ticket) {} }
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let knowledge = try service()
        if body.has("documents"), let mixed = ["text", "title", "source", "format"].first(where: body.has) {
            throw APIError.invalid("give documents, or one document's fields as the body, not both (\(mixed) is beside documents)", param: mixed)
        }
        let items = try body.array("documents") ?? [body.object]
        guard !items.isEmpty, items.count <= 1000 else { throw APIError.invalid("documents must hold 1 to 1000 documents", param: "documents") }
        var inputs: [KnowledgeBase.DocumentInput] = []
        for (n, item) in items.enumerated() {
            let fields = try RequestFields(item, path: body.has("documents") ? "documents[\(n)]" : "")
            let text = try fields.requiredString("text")
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw APIError.invalid("\(fields.name("text")) is empty", param: fields.name("text")) }
            let title = try fields.string("title") ?? ""
            // Without a source, the content names the document: sending it again changes nothing.
            let source = try fields.string("source") ?? "upload:" + String(SHA256.hex(Array(text.utf8)).prefix(16))
            do {
                inputs.append(try KnowledgeBase.DocumentInput(source: source, title: title, raw: text, format: try fields.string("format") ?? "text"))
            } catch {
                throw APIError.invalid((error as? LocalizedError)?.errorDescription ?? "\(error)", param: fields.name("format"))
            }
        }
        let embedder = knowledge.retriever.embedder, documents = inputs
        let report = try await runner.withDeadline { try knowledge.kb.ingest(documents, embedder: embedder) }
        knowledge.retriever.knowledgeChanged()
        return jsonResponse(.object([
            ("documents_added", .num(report.documentsAdded)), ("documents_replaced", .num(report.documentsReplaced)),
            ("documents_unchanged", .num(report.documentsUnchanged)), ("chunks", .num(report.chunks)),
            ("seconds", .num((report.seconds * 1000).rounded() / 1000)),
        ]))
    }

    /// `{"triples": [{"subject", "predicate", "object"}]}` (names or IRIs, as the JSONL import
    /// reads them), or `{"data": TEXT, "format": "nt"|"nq"|"tsv"|"csv"|"jsonl"}`; `"source"` names
    /// the upload and `"replace": true` makes it replace an earlier upload of that name. One
    /// transaction: a bad line rejects the whole upload (400 naming the line) and leaves the
    /// graph as it was, unless `"skip_bad": true` (then the bad lines are listed in `skipped`).
    /// `triples` counts what was written, the entity and relation labels minted for names
    /// included.
    func addTriples(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        defer { withExtendedLifetime(ticket) {} }
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let knowledge = try service()
        let bytes: [UInt8]
        let format: TripleFormat
        if let triples = try body.array("triples") {
            guard !body.has("data") else { throw APIError.invalid("give triples or data, not both", param: "data") }
            guard !triples.isEmpty else { throw APIError.invalid("triples is empty", param: "triples") }
            bytes = Array(triples.map { $0.serialized() }.joined(separator: "\n").utf8)
            format = .jsonl
        } else if let data = try body.string("data") {
            let name = try body.string("format") ?? "nt"
            guard let f = TripleFormat(rawValue: name) else {
                throw APIError.invalid("format must be one of \(TripleFormat.allCases.map(\.rawValue).joined(separator: ", "))", param: "format")
            }
            guard !data.isEmpty else { throw APIError.invalid("data is empty", param: "data") }
            bytes = Array(data.utf8)
            format = f
        } else {
            throw APIError.invalid("give triples (an array of {subject, predicate, object}) or data (text) with a format", param: "triples")
        }
        let name = try body.string("source") ?? "upload-" + String(SHA256.hex(bytes).prefix(16))
        guard !name.isEmpty, name.count <= 200, !name.contains("/") else {
            throw APIError.invalid("source must be 1 to 200 characters without '/'", param: "source")
        }
        let replacing = try body.bool("replace") ?? false, skipBad = try body.bool("skip_bad") ?? false
        let report = try await runner.withDeadline {
            try knowledge.kb.importTriples(bytes: bytes, sourceName: "upload/\(name)", format: format, skipBad: skipBad, replacing: replacing)
        }
        knowledge.retriever.knowledgeChanged()
        return jsonResponse(.object([
            ("source", .string(name)), ("lines", .num(report.lines)), ("triples", .num(report.parsed)), ("added", .num(report.added)),
            ("skipped", .array(report.skipped.map { .object([("line", .num($0.line)), ("reason", .string($0.reason))]) })),
            ("removed", .num(report.removed)), ("already_imported", .bool(report.alreadyImported)),
            ("seconds", .num((report.seconds * 1000).rounded() / 1000)),
        ]))
    }
}
