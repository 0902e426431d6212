import Foundation
import Hummingbird
import KnowLMCore
import Logging

/// The HTTP application behind `knowlm serve`; tests call it directly (HummingbirdTesting).
public func buildApplication(configuration: ServerConfiguration, backends: ServerBackends,
                             logger: Logger = Logger(label: "knowlm.serve")) -> some ApplicationProtocol {
    let gate = AdmissionGate(parallel: configuration.parallel, maxQueued: configuration.maxQueued)
    let metrics = ServerMetrics()
    let runner = ModelRunner(backends: backends, configuration: configuration, gate: gate, metrics: metrics)
    let router = Router()
    if let origin = configuration.corsOrigin {
        router.add(middleware: CORSMiddleware(
            allowOrigin: origin == "*" ? .all : .custom(origin),
            allowHeaders: [.authorization, .contentType], allowMethods: [.get, .post, .options]))
    }
    router.add(middleware: ErrorMiddleware(metrics: metrics))
    if let key = configuration.apiKey { router.add(middleware: APIKeyMiddleware(key: key)) }

    router.get("/health") { _, _ in
        jsonResponse(.object([
            ("status", .string("ok")),
            ("model", backends.model != nil ? .string(backends.modelID) : .null),
            ("knowledge_base", .bool(backends.knowledge != nil)),
            ("requests_in_hand", .num(gate.inHand)),
        ]))
    }
    router.get("/metrics") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                 body: .init(byteBuffer: ByteBuffer(string: metrics.prometheusText(inHand: gate.inHand))))
    }
    router.get("/") { _, _ in try WebPage.response() }
    router.get("/openapi.json") { _, _ in try WebPage.response(file: "openapi", extension: "json", contentType: "application/json") }
    GenerateController(runner: runner).register(on: router)
    OpenAIController(runner: runner).register(on: router)
    KnowledgeController(runner: runner).register(on: router)
    TasksController(runner: runner).register(on: router)

    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "knowlm"),
        logger: logger)
}

/// Every error leaves as an OpenAI error object with a 4xx for the caller's mistakes
/// (including the router's own 404/405) and a 5xx only for the server's.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        metrics.requests.increment()
        let start = ContinuousClock.now
        defer { metrics.requestDuration.record(ContinuousClock.now - start) }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            if error.status == .tooManyRequests { metrics.rejected.increment() }
            throw error
        } catch let error as HTTPError {
            if error.status == .notFound, let allowed = Self.methods(of: request.uri.path), !allowed.contains(request.method) {
                var api = APIError(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path); use \(allowed.map(\.rawValue).joined(separator: " or "))")
                api.allow = allowed.map(\.rawValue).joined(separator: ", ")
                throw api
            }
            let message = error.body ?? (error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            throw APIError(error.status, message)
        } catch {
            throw APIError.from(error)
        }
    }
}

extension ErrorMiddleware {
    /// The methods each path answers (for `405 Method Not Allowed` instead of `404`).
    static func methods(of path: String) -> [HTTPRequest.Method]? {
        switch path {
        case "/health", "/metrics", "/", "/openapi.json", "/v1/models", "/v1/kb/search": return [.get, .head]
        case "/generate", "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/ask", "/v1/kb/sparql",
             "/v1/kb/documents", "/v1/kb/triples", "/v1/extract", "/v1/detect":
            return [.post]
        case "/v1/agent/runs": return [.get, .head, .post]
        default: return path.hasPrefix("/v1/models/") || path.hasPrefix("/v1/agent/runs/") ? [.get, .head] : nil
        }
    }
}

/// The page at `/` and the OpenAPI document, shipped as resources (`Web/`).
enum WebPage {
    static func response(file: String = "index", extension ext: String = "html",
                         contentType: String = "text/html; charset=utf-8") throws -> Response {
        guard let url = Bundle.module.url(forResource: file, withExtension: ext, subdirectory: "Web"),
              let data = FileManager.default.contents(atPath: url.path) else {
            throw APIError(.internalServerError, "Web/\(file).\(ext) is missing from this build")
        }
        return Response(status: .ok, headers: [.contentType: contentType],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
