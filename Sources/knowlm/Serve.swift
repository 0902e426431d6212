import ArgumentParser
import Foundation
import Hummingbird
import KnowLMCore
import KnowLMKnowledge
import KnowLMRuntime
import KnowLMServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model and knowledge base over HTTP: KnowLM's /generate, the OpenAI API, and a web page.",
        discussion: """
            Endpoints: POST /generate (KnowLM: instruction, input, parameters), GET /v1/models, \
            POST /v1/completions, POST /v1/chat/completions (stream, response_format, tools), POST /v1/embeddings, \
            POST /v1/ask, GET /v1/kb/search, POST /v1/kb/sparql, POST /v1/kb/documents, POST /v1/kb/triples, \
            POST /v1/extract, POST /v1/detect, POST and GET /v1/agent/runs, GET /v1/agent/runs/{id}, \
            GET /health, GET /metrics, GET /openapi.json, and the web page at /. \
            Listens on loopback unless --host says otherwise. With --api-key-env, every endpoint but /health needs \
            Authorization: Bearer KEY. Up to --parallel generations are decoded together (continuous batching: \
            new requests join between passes, long prompts are read in chunks, a client that leaves stops its \
            generation); requests beyond that wait, up to --max-queued, and the next are refused with 429.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var kb: KnowledgeBaseOptions

    @Option(help: "Address to listen on (0.0.0.0 for every interface).") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8090
    @Option(help: "Generations decoded together in one pass (continuous batching); 1 runs them one at a time.") var parallel = 4
    @Option(help: "Requests that may wait beyond the running ones before new ones get 429.") var maxQueued = 16
    @Option(help: "Seconds a request may take, waiting included.") var requestTimeout: Double = 300
    @Option(help: "Largest request body in bytes (larger: 413).") var maxBodyBytes = 1 << 20
    @Option(help: ArgumentHelp("Read the API key from this environment variable; then every endpoint but /health requires it.", valueName: "VAR"))
    var apiKeyEnv: String?
    @Option(help: ArgumentHelp("Allow browsers on this origin to call the server (CORS; '*' for any). Off by default.", valueName: "origin"))
    var corsOrigin: String?
    @Option(help: "Embedder folder or catalog name for /v1/embeddings and passage search ('none' disables).") var embedder: String?
    @Flag(help: "Serve without a knowledge base (the knowledge endpoints answer 404).") var noKb = false

    func validate() throws {
        if !(1...65535).contains(port) { throw ValidationError("--port must be 1 to 65535") }
        if parallel < 1 { throw ValidationError("--parallel must be at least 1") }
        if maxQueued < 0 { throw ValidationError("--max-queued must not be negative") }
        if requestTimeout <= 0 { throw ValidationError("--request-timeout must be positive") }
        if maxBodyBytes < 1024 { throw ValidationError("--max-body-bytes must be at least 1024") }
    }

    func run() async throws {
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.parallel = parallel
        config.maxQueued = maxQueued
        config.requestTimeout = requestTimeout
        config.maxBodyBytes = maxBodyBytes
        config.corsOrigin = corsOrigin
        if let apiKeyEnv {
            guard let key = ProcessInfo.processInfo.environment[apiKeyEnv], !key.isEmpty else {
                throw ValidationError("--api-key-env \(apiKeyEnv): that environment variable is not set")
            }
            config.apiKey = key
        }
        let llm = try model.load()
        printError("loaded \(llm.name) in \(String(format: "%.2f", llm.loadSeconds)) s (\(llm.transformer.config.architecture), context \(llm.contextLength))")
        let embedding: BERTEmbedder? = embedder == "none" ? nil : try loadEmbedder(embedder)
        let prompts = try PromptLibrary()
        var knowledge: KnowledgeService?
        if !noKb {
            let base = try kb.open()
            let retriever = Retriever(kb: base, embedder: embedding)
            knowledge = KnowledgeService(kb: base, retriever: retriever,
                                         qa: KnowledgeQA(retriever: retriever, model: llm, prompts: prompts))
            printError("knowledge base: \(kb.url.path)")
        }
        let modelID = URL(fileURLWithPath: llm.name).deletingPathExtension().lastPathComponent
        let backends = ServerBackends.local(llm, modelID: modelID, parallel: parallel, embedder: embedding,
                                            embedderID: embedding.map { _ in embedder ?? ModelStore.defaultEmbedder },
                                            knowledge: knowledge, prompts: prompts)
        let app = buildApplication(configuration: config, backends: backends)
        if let batched = backends.model as? BatchedModel {
            printError("batching up to \(batched.parallel) generations per pass; passes of several rows use \(batched.batchedKernels)")
        }
        printError("serving \(modelID) on http://\(host):\(port)/ (web page at /, OpenAI API under /v1)")
        try await app.runService()
    }
}
