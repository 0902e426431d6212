import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMRemote
import KnowLMRuntime

/// Which model to load and how to run it (shared by every command that runs a model).
struct ModelOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .customLong("model")],
            help: "GGUF file, Hugging Face folder, or catalog name (default: gemma-3-270m).")
    var model: String?

    @Option(name: [.customShort("t"), .customLong("threads")], help: "CPU threads (default: all cores).")
    var threads: Int?

    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Context size in tokens (default: min(trained, 4096)).")
    var contextSize: Int?

    @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Prompt tokens per forward pass.")
    var batchSize: Int = 512

    @Option(help: ArgumentHelp("Arithmetic: 'llama.cpp' (8-bit activations, fp16 KV cache, logits identical to llama.cpp's CPU backend), 'llama.cpp-tiled' (same quantization, tiled matrix products: faster prompt processing, last-bit differences) or 'float32' (dequantized reference).", valueName: "name"))
    var precision: String = Precision.llamaCpp.rawValue

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let contextSize, contextSize < 2 { throw ValidationError("--ctx-size must be at least 2") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if Precision(rawValue: precision) == nil {
            throw ValidationError("--precision must be one of: \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func load() throws -> LocalModel {
        var options = RuntimeOptions()
        options.contextLength = contextSize
        options.batchSize = batchSize
        if let threads { options.threads = ThreadCount(threads) }
        options.precision = Precision(rawValue: precision) ?? .llamaCpp
        return try LocalModel.load(path: try ModelStore().resolve(model), options: options)
    }
}

/// Decoding flags, named as llama.cpp's `llama-cli` names them.
struct SamplingOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Tokens to generate.")
    var maxTokens: Int = 128

    @Option(name: .customLong("temp"), help: "Temperature; 0 is greedy.")
    var temperature: Float = 0.8

    @Option(name: .customLong("top-k"), help: "Top-k sampling (0 disables).")
    var topK: Int = 40

    @Option(name: .customLong("top-p"), help: "Top-p sampling (1 disables).")
    var topP: Float = 0.95

    @Option(name: .customLong("min-p"), help: "Min-p sampling (0 disables).")
    var minP: Float = 0.05

    @Option(name: .customLong("repeat-penalty"), help: "Penalty for repeated tokens (1 disables).")
    var repeatPenalty: Float = 1.0

    @Option(name: .customLong("repeat-last-n"), help: "Tokens the penalties look back over (-1: all).")
    var repeatLastN: Int = 64

    @Option(name: .customLong("frequency-penalty"), help: "Frequency penalty (0 disables).")
    var frequencyPenalty: Float = 0

    @Option(name: .customLong("presence-penalty"), help: "Presence penalty (0 disables).")
    var presencePenalty: Float = 0

    @Option(name: [.customShort("s"), .customLong("seed")], help: "Random seed (default: random).")
    var seed: UInt64?

    @Option(name: .customLong("beams"), help: "Beam search width (1: sampling or greedy).")
    var beams: Int = 1

    @Option(name: .customLong("stop"), help: "Stop when this text appears (repeatable).")
    var stop: [String] = []

    @Option(name: .customLong("logprobs"), help: "Report log-probabilities with this many alternatives per token.")
    var logprobs: Int?

    func validate() throws {
        if maxTokens < 0 { throw ValidationError("--n-predict must not be negative") }
        if temperature < 0 { throw ValidationError("--temp must not be negative") }
        if beams < 1 { throw ValidationError("--beams must be at least 1") }
        if topP <= 0 || topP > 1 { throw ValidationError("--top-p must be in (0, 1]") }
        if minP < 0 || minP >= 1 { throw ValidationError("--min-p must be in [0, 1)") }
    }

    var parameters: GenerateParameters {
        var p = GenerateParameters()
        p.maxTokens = maxTokens
        p.temperature = temperature
        p.topK = topK
        p.topP = topP
        p.minP = minP
        p.repeatPenalty = repeatPenalty
        p.repeatLastN = repeatLastN
        p.frequencyPenalty = frequencyPenalty
        p.presencePenalty = presencePenalty
        p.seed = seed
        p.numBeams = beams
        p.stop = stop
        p.logprobs = logprobs
        return p
    }
}

/// Output constraints, named as llama.cpp's `llama-cli` names them.
struct ConstraintOptions: ParsableArguments {
    @Option(name: .customLong("json-schema"),
            help: ArgumentHelp("Constrain the output to JSON matching this JSON Schema (a file path or the schema itself). Compact JSON: one space after ',' and ':'; objects closed.", valueName: "file|json"))
    var jsonSchema: String?

    @Option(name: .customLong("grammar-file"), help: ArgumentHelp("Constrain the output to a GBNF grammar (llama.cpp's format) read from this file.", valueName: "file"))
    var grammarFile: String?

    @Option(name: .customLong("grammar"), help: ArgumentHelp("Constrain the output to this GBNF grammar.", valueName: "gbnf"))
    var grammar: String?

    func validate() throws {
        if [jsonSchema, grammarFile, grammar].compactMap({ $0 }).count > 1 {
            throw ValidationError("give at most one of --json-schema, --grammar-file, --grammar")
        }
    }

    var isEmpty: Bool { jsonSchema == nil && grammarFile == nil && grammar == nil }

    /// Compiles whichever constraint was given (nil when none).
    func compile() throws -> CompiledGrammar? {
        if let jsonSchema {
            let trimmed = jsonSchema.trimmingCharacters(in: .whitespacesAndNewlines)
            let text: String
            if trimmed.hasPrefix("{") || trimmed == "true" { text = jsonSchema } else {
                do { text = try String(contentsOfFile: jsonSchema, encoding: .utf8) } catch {
                    throw ValidationError("--json-schema: cannot read \(jsonSchema) (give a file or the schema's JSON text)")
                }
            }
            return try JSONSchemaGrammar.compile(text)
        }
        if let grammarFile {
            let text: String
            do { text = try String(contentsOfFile: grammarFile, encoding: .utf8) } catch {
                throw ValidationError("--grammar-file: cannot read \(grammarFile)")
            }
            return try GBNF.compile(text)
        }
        if let grammar { return try GBNF.compile(grammar) }
        return nil
    }
}

/// Where the model runs: here (`-m`), or behind an OpenAI-compatible server.
struct BackendOptions: ParsableArguments {
    @Option(help: ArgumentHelp("'local' (the default: the model runs here) or 'openai' (an OpenAI-compatible server: knowlm serve, llama-server, vLLM).", valueName: "kind"))
    var backend: String = "local"

    @Option(help: ArgumentHelp("The remote server's base URL, e.g. http://127.0.0.1:8090/v1 (with --backend openai).", valueName: "url"))
    var endpoint: String?

    @Option(help: ArgumentHelp("Environment variable holding the remote server's API key.", valueName: "VAR"))
    var apiKeyEnv: String?

    @Option(help: ArgumentHelp("Model id on the remote server (default: the first it lists).", valueName: "id"))
    var remoteModel: String?

    @Option(help: "Seconds a remote completion may take.") var remoteTimeout: Double = 600

    var isRemote: Bool { backend == "openai" }

    func validate() throws {
        guard backend == "local" || backend == "openai" else { throw ValidationError("--backend must be local or openai") }
        if isRemote && endpoint == nil { throw ValidationError("--backend openai needs --endpoint URL") }
        if !isRemote && (endpoint != nil || remoteModel != nil) { throw ValidationError("--endpoint and --remote-model need --backend openai") }
        if remoteTimeout <= 0 { throw ValidationError("--remote-timeout must be positive") }
    }

    /// The model to run: the remote one with --backend openai, else `local` loaded here.
    func languageModel(local: ModelOptions) throws -> any LanguageModel {
        isRemote ? try remote() : try local.load()
    }

    /// The remote model (only with --backend openai).
    func remote() throws -> RemoteModel {
        var key: String?
        if let apiKeyEnv {
            guard let value = ProcessInfo.processInfo.environment[apiKeyEnv], !value.isEmpty else {
                throw ValidationError("--api-key-env \(apiKeyEnv): that environment variable is not set")
            }
            key = value
        }
        let endpoint = self.endpoint ?? ""
        let id = try remoteModel ?? RemoteModel.firstModel(endpoint: endpoint, apiKey: key)
        let model = RemoteModel(endpoint: endpoint, model: id, apiKey: key)
        model.timeout = remoteTimeout
        return model
    }
}
