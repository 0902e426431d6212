import CKernels
import Dispatch
import Foundation
import KnowLMCore

/// Options for running a model on this machine.
public struct RuntimeOptions: Sendable {
    /// Context window in tokens (prompt plus generation); nil uses min(trained context, 4096).
    public var contextLength: Int?
    /// Tokens evaluated per forward pass while reading a prompt.
    public var batchSize: Int = 512
    public var threads: ThreadCount = .cores
    public var precision: Precision = .llamaCpp
    public init() {}
}

/// A transformer running on this machine's CPU, with its tokenizer and KV cache.
///
/// One serial queue owns the model: concurrent callers queue instead of racing, and a
/// prompt that shares a prefix with the previous one reuses that part of the KV cache.
public final class LocalModel: LanguageModel, ContinuationScoring, @unchecked Sendable {
    // @unchecked: all mutable state (`state`) is touched only on `queue`.
    public let name: String
    public let transformer: Transformer
    public let tokenizer: any Tokenizer
    public let contextLength: Int
    public let options: RuntimeOptions
    /// Seconds spent opening files and building weights and tokenizer.
    public let loadSeconds: Double
    private let queue = DispatchQueue(label: "knowlm.model")
    private var state: InferenceState

    public init(transformer: Transformer, tokenizer: any Tokenizer, name: String, options: RuntimeOptions, loadSeconds: Double = 0) throws {
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.name = name
        self.options = options
        self.loadSeconds = loadSeconds
        let context = options.contextLength ?? min(transformer.config.trainedContextLength, 4096)
        guard context > 1 else { throw RuntimeError.invalidArgument("context length must be at least 2 tokens, got \(context)") }
        contextLength = context
        guard options.batchSize > 0 else { throw RuntimeError.invalidArgument("batch size must be positive") }
        // The quantized matrix products run on our own threads; OpenBLAS (attention, float32
        // reference) stays single-threaded so its idle workers do not spin against them.
        try BLAS.ensureLoaded()
        kl_blas_set_threads(1)
        state = InferenceState(config: transformer.config, contextLength: context,
                               batchCapacity: min(options.batchSize, context), threads: options.threads,
                               precision: options.precision)
    }

    /// Loads a GGUF file or a Hugging Face folder (`config.json`, `*.safetensors`, `tokenizer.model`).
    public static func load(path: String, options: RuntimeOptions = RuntimeOptions()) throws -> LocalModel {
        let start = Date()
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RuntimeError.cannotOpen(path: path, reason: "no such file or directory")
        }
        let transformer: Transformer
        let tokenizer: any Tokenizer
        if isDirectory.boolValue {
            (transformer, tokenizer) = try HuggingFaceLlama.load(folder: url)
        } else {
            let file = try GGUFFile(url: url)
            guard let arch = file.architecture else { throw RuntimeError.missingMetadata("general.architecture") }
            let type = try ArchitectureRegistry.architecture(named: arch)
            transformer = try type.load(file, loader: GGUFWeightLoader(file: file))
            tokenizer = try SentencePieceTokenizer(gguf: file)
        }
        guard tokenizer.vocabularySize <= transformer.config.vocabularySize else {
            throw RuntimeError.tokenizer("vocabulary of \(tokenizer.vocabularySize) tokens is larger than the model's \(transformer.config.vocabularySize) embeddings")
        }
        return try LocalModel(transformer: transformer, tokenizer: tokenizer, name: url.lastPathComponent,
                              options: options, loadSeconds: Date().timeIntervalSince(start))
    }

    /// Loads only the tokenizer of a GGUF file or Hugging Face folder (no weights touched).
    public static func loadTokenizer(path: String) throws -> any Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RuntimeError.cannotOpen(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            return try SentencePieceTokenizer(modelFile: URL(fileURLWithPath: path).appendingPathComponent("tokenizer.model"))
        }
        return try SentencePieceTokenizer(gguf: GGUFFile(path: path))
    }

    // MARK: synchronous API (runs on the model's queue)

    /// Forgets the cached prompt, so the next generation evaluates its whole prompt in one
    /// batch (as llama.cpp does for a fresh context; reusing a prefix evaluates a shorter batch,
    /// which changes the float summation order).
    public func resetCache() {
        queue.sync { state.truncate(to: 0, slidingWindow: nil) }
    }

    /// Logits after each of `tokens`, evaluated from an empty cache: `[position][vocabulary]`.
    public func logits(for tokens: [TokenID]) throws -> [[Float]] {
        try queue.sync {
            state.truncate(to: 0, slidingWindow: nil)
            let vocab = transformer.config.vocabularySize
            var result: [[Float]] = []
            var start = 0
            while start < tokens.count {
                let end = min(tokens.count, start + state.batchCapacity)
                let rows = Array(0..<(end - start))
                var buffer = [Float](repeating: 0, count: rows.count * vocab)
                try buffer.withUnsafeMutableBufferPointer {
                    try transformer.forward(tokens[start..<end], state: state, logitRows: rows, logits: $0.baseAddress!)
                }
                state.tokens += tokens[start..<end]
                for r in rows { result.append(Array(buffer[(r * vocab)..<((r + 1) * vocab)])) }
                start = end
            }
            return result
        }
    }

    /// Generates synchronously, calling `onToken` for every new token.
    public func generate(tokens prompt: [TokenID], parameters: GenerateParameters,
                         processors: [any LogitsProcessor] = [],
                         isCancelled: @escaping @Sendable () -> Bool = { false },
                         onToken: (TokenID, String, TokenLogprob?) -> Void = { _, _, _ in }) throws -> GenerationResult {
        try queue.sync {
            try generateOnQueue(tokens: prompt, parameters: parameters, processors: processors,
                                isCancelled: isCancelled, onToken: onToken)
        }
    }

    /// Log-probabilities of each continuation (token ids) after `prompt`, summed over their
    /// tokens. The prompt is brought into the cache once (reusing whatever prefix it shares with
    /// the previous call); each continuation longer than one token is evaluated on top of it and
    /// then forgotten.
    public func logProbabilities(of continuations: [[TokenID]], after prompt: [TokenID]) throws -> [Float] {
        try queue.sync { try scoreOnQueue(continuations, prompt) }
    }

    private func scoreOnQueue(_ continuations: [[TokenID]], _ prompt: [TokenID]) throws -> [Float] {
        dispatchPrecondition(condition: .onQueue(queue))
        let vocab = transformer.config.vocabularySize
        let loop = GenerationLoop(model: transformer, tokenizer: tokenizer, state: state)
        var last = [Float](repeating: 0, count: vocab)
        _ = try last.withUnsafeMutableBufferPointer { try loop.prefill(prompt, into: $0.baseAddress!) }
        let first = Self.logSoftmax(last)
        let promptLength = state.tokens.count
        var scores: [Float] = []
        for continuation in continuations {
            guard let head = continuation.first else { scores.append(0); continue }
            var score = first[Int(head)]
            if continuation.count > 1 {
                let feed = continuation.dropLast()
                guard promptLength + feed.count < state.contextLength, feed.count <= state.batchCapacity else {
                    throw RuntimeError.promptTooLong(tokens: promptLength + feed.count, context: state.contextLength)
                }
                var rows = [Float](repeating: 0, count: feed.count * vocab)
                try rows.withUnsafeMutableBufferPointer {
                    try transformer.forward(feed, state: state, logitRows: Array(0..<feed.count), logits: $0.baseAddress!)
                }
                state.tokens += feed
                for (i, next) in continuation.dropFirst().enumerated() {
                    score += Self.logSoftmax(Array(rows[(i * vocab)..<((i + 1) * vocab)]))[Int(next)]
                }
                state.truncate(to: promptLength, slidingWindow: transformer.config.slidingWindow)
            }
            scores.append(score)
        }
        return scores
    }

    static func logSoftmax(_ logits: [Float]) -> [Float] {
        let peak = logits.max() ?? 0
        var sum: Double = 0
        for v in logits { sum += Double(expf(v - peak)) }
        let shift = peak + Float(log(sum))
        return logits.map { $0 - shift }
    }

    /// The vocabulary as a byte trie, built on first use (grammar constraints need it).
    public var vocabularyTrie: VocabularyTrie {
        trieLock.lock()
        defer { trieLock.unlock() }
        if let trie = cachedTrie { return trie }
        let trie = VocabularyTrie(tokenizer: tokenizer)
        cachedTrie = trie
        return trie
    }
    private let trieLock = NSLock()
    private var cachedTrie: VocabularyTrie?

    private func generateOnQueue(tokens prompt: [TokenID], parameters: GenerateParameters,
                                 processors given: [any LogitsProcessor],
                                 isCancelled: () -> Bool,
                                 onToken: (TokenID, String, TokenLogprob?) -> Void) throws -> GenerationResult {
        dispatchPrecondition(condition: .onQueue(queue))
        var processors = given
        if let openings = parameters.startsWithOneOf, !openings.isEmpty {
            processors.insert(try PrefixChoiceProcessor(strings: openings, tokenizer: tokenizer), at: 0)
        }
        var loop = GenerationLoop(model: transformer, tokenizer: tokenizer, state: state)
        if parameters.numBeams > 1 {
            return try loop.beamSearch(prompt: prompt, parameters: parameters, processors: processors, isCancelled: isCancelled)
        }
        return try loop.run(prompt: prompt, parameters: parameters, processors: processors,
                            isCancelled: isCancelled, onToken: onToken)
    }

    // MARK: LanguageModel

    public func logProbabilities(of continuations: [String], after prompt: String) async throws -> [Float] {
        let promptTokens = try tokenizer.encode(prompt, addBOS: tokenizer.addsBOS, parseSpecial: true)
        let tokens = try continuations.map { try tokenizer.encode($0, addBOS: false, parseSpecial: false) }
        return try await withCheckedThrowingContinuation { result in
            queue.async { [self] in
                // Already on the queue: run the synchronous body without re-entering it.
                result.resume(with: Result { try self.scoreOnQueue(tokens, promptTokens) })
            }
        }
    }

    public func generate(prompt: String, parameters: GenerateParameters,
                         processors: [any LogitsProcessor]) -> AsyncThrowingStream<Generation, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Generation.self)
        let cancelled = CancellationFlag()
        continuation.onTermination = { _ in cancelled.set() }
        queue.async { [self] in
            do {
                let tokens = try tokenizer.encode(prompt, addBOS: parameters.addBOS && tokenizer.addsBOS,
                                                  parseSpecial: parameters.parseSpecial)
                let result = try generateOnQueue(tokens: tokens, parameters: parameters, processors: processors,
                                                 isCancelled: { cancelled.isSet }) { id, text, logprob in
                    continuation.yield(.token(id, text: text, logprob: logprob))
                }
                continuation.yield(.done(result))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return stream
    }
}

