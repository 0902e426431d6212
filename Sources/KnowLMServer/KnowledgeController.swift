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
    }

    func service() throws -> KnowledgeService {
        guard let knowledge = runner.backends.knowledge else {
            throw APIError(.notFound, "this server has no knowledge base; start it with --kb PATH")
        }
        return knowledge
    }

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
}
