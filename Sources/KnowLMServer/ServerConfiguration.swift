import Foundation
import KnowLMCore
import KnowLMExtraction
import KnowLMKnowledge
import KnowLMRuntime

/// How the server listens and what it lets through.
public struct ServerConfiguration: Sendable {
    /// Loopback by default: the server is reachable from this machine only.
    public var host = "127.0.0.1"
    public var port = 8090
    /// When set, every endpoint but `/health` requires `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Request bodies above this many bytes are answered `413`.
    public var maxBodyBytes = 1 << 20
    /// Generations decoded together (continuous batching, `BatchedModel`); also how many
    /// requests are admitted to run at once.
    public var parallel = 4
    /// Requests that may wait for the model beyond the running ones; the next gets `429`.
    public var maxQueued = 16
    /// A request still generating after this many seconds (waiting included) is stopped.
    public var requestTimeout: Double = 300
    /// `Access-Control-Allow-Origin` value; nil leaves CORS off (browsers on other origins
    /// cannot call the server).
    public var corsOrigin: String?

    public init() {}
}

/// What the server answers with. Every part is optional: an endpoint whose part is missing
/// answers `404`/`400` with a message saying how to start the server with it.
public struct ServerBackends: Sendable {
    /// The generator behind `/generate`, `/v1/completions` and `/v1/chat/completions`.
    public var model: (any LanguageModel)?
    /// The id clients name the model by (`/v1/models`); requests naming another id get `404`.
    public var modelID: String
    /// Turns a compiled grammar into a constraint for `model` (JSON-Schema `response_format`,
    /// `tools`). Nil: those requests get `400`.
    public var constrain: (@Sendable (CompiledGrammar) -> any LogitsProcessor)?
    /// Which chat wrapper the model was trained on.
    public var chatTemplate: ChatTemplate
    /// `/v1/embeddings`.
    public var embedder: (any TextEmbedder)?
    public var embedderID: String?
    /// `/v1/ask`, `/v1/kb/search`, `/v1/kb/sparql`.
    public var knowledge: KnowledgeService?
    /// Every prompt the server sends.
    public var prompts: PromptLibrary
    /// `/v1/extract` (and the agent's extract tool); nil: one is made from `model` when asked.
    public var extractor: Extractor?

    public init(model: (any LanguageModel)?, modelID: String, constrain: (@Sendable (CompiledGrammar) -> any LogitsProcessor)? = nil,
                chatTemplate: ChatTemplate = .plain, embedder: (any TextEmbedder)? = nil, embedderID: String? = nil,
                knowledge: KnowledgeService? = nil, prompts: PromptLibrary) {
        self.model = model
        self.modelID = modelID
        self.constrain = constrain
        self.chatTemplate = chatTemplate
        self.embedder = embedder
        self.embedderID = embedderID
        self.knowledge = knowledge
        self.prompts = prompts
    }

    /// Backends around a loaded local model: grammars through its vocabulary, the chat
    /// wrapper of its architecture, and (`parallel` > 1) continuous batching of generations.
    public static func local(_ model: LocalModel, modelID: String? = nil, parallel: Int = 1,
                             embedder: (any TextEmbedder)? = nil, embedderID: String? = nil,
                             knowledge: KnowledgeService? = nil, prompts: PromptLibrary) -> ServerBackends {
        let served: any LocalLanguageModel = parallel > 1 ? BatchedModel(base: model, parallel: parallel) : model
        var backends = ServerBackends(
            model: served, modelID: modelID ?? model.name,
            constrain: { grammar in GrammarConstraint(engine: GrammarEngine(grammar: grammar, trie: model.vocabularyTrie)) },
            chatTemplate: ChatTemplate(architecture: model.transformer.config.architecture),
            embedder: embedder, embedderID: embedderID, knowledge: knowledge, prompts: prompts)
        // One extractor for every request: it keeps the schema priors and examples it worked out.
        backends.extractor = try? Extractor(model: served, embedder: embedder, prompts: prompts)
        return backends
    }
}

/// The knowledge base behind the knowledge endpoints, with the question answerer over it.
public struct KnowledgeService: Sendable {
    public let kb: KnowledgeBase
    public let retriever: Retriever
    public let qa: KnowledgeQA

    public init(kb: KnowledgeBase, retriever: Retriever, qa: KnowledgeQA) {
        self.kb = kb
        self.retriever = retriever
        self.qa = qa
    }
}
