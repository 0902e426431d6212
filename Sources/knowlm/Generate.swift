import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMRuntime

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Complete a prompt with a local model.",
        discussion: """
        The default model is a base (not instruction-tuned) model: write prompts as text to \
        continue, e.g. few-shot "Q: ... A: ..." pairs. With --interactive, each line is a prompt \
        and lines starting with '/' change settings (/help lists them).
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Remote model") var backend: BackendOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup(title: "Constraints") var constraints: ConstraintOptions

    @Option(name: [.customShort("p"), .customLong("prompt")], help: "The prompt.")
    var prompt: String?

    @Option(name: [.customShort("f"), .customLong("file")], help: "Read the prompt from a file.")
    var file: String?

    @Flag(help: "Print one JSON object with text, tokens and timings instead of streaming text.")
    var json = false

    @Flag(name: [.customShort("i"), .customLong("interactive")], help: "Read prompts from standard input, one per line.")
    var interactive = false

    func validate() throws {
        if prompt != nil && file != nil { throw ValidationError("give either --prompt or --file, not both") }
        if !interactive && prompt == nil && file == nil { throw ValidationError("missing --prompt (or --file, or --interactive)") }
    }

    func run() async throws {
        // Compile first: a bad grammar is reported before the model loads.
        let grammar = try constraints.compile()
        if backend.isRemote {
            if grammar != nil { throw ValidationError("--json-schema and --grammar need a local model (they run inside its decoding loop)") }
            let remote = try backend.remote()
            if !json { printError("remote model \(remote.name) at \(remote.endpoint)") }
            if interactive {
                var session = InteractiveSession(model: remote, parameters: sampling.parameters)
                try await session.run()
                return
            }
            let text = try file.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? prompt ?? ""
            try await complete(remote, prompt: text, parameters: sampling.parameters, json: json)
            return
        }
        let llm = try model.load()
        if !json { printError("loaded \(llm.name) in \(String(format: "%.2f", llm.loadSeconds)) s (\(llm.transformer.config.architecture), context \(llm.contextLength))") }
        let makeProcessors: @Sendable () -> [any LogitsProcessor] = {
            guard let grammar else { return [] }
            return [GrammarConstraint(engine: GrammarEngine(grammar: grammar, trie: llm.vocabularyTrie))]
        }
        if interactive {
            var session = InteractiveSession(model: llm, parameters: sampling.parameters, processors: makeProcessors)
            try await session.run()
            return
        }
        let text = try file.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? prompt ?? ""
        try await complete(llm, prompt: text, parameters: sampling.parameters, processors: makeProcessors(), json: json)
    }
}

/// Runs one completion, streaming text (or printing JSON at the end).
func complete(_ llm: any LanguageModel, prompt: String, parameters: GenerateParameters,
              processors: [any LogitsProcessor] = [], json: Bool) async throws {
    var result: GenerationResult?
    for try await event in llm.generate(prompt: prompt, parameters: parameters, processors: processors) {
        switch event {
        case .token(_, let text, _):
            if !json && !text.isEmpty { writeOut(text) }
        case .done(let r):
            result = r
        }
    }
    guard let result else { throw KnowLMError.generationEndedEarly }
    if json {
        var object: [String: Any] = [
            "text": result.text,
            "tokens": result.tokens.map { Int($0) },
            "prompt_tokens": result.promptTokenCount,
            "stop_reason": result.stopReason.rawValue,
            "timings": [
                "prompt_tokens_per_second": result.timings.promptTokensPerSecond,
                "generation_tokens_per_second": result.timings.generationTokensPerSecond,
            ],
        ]
        if parameters.logprobs != nil {
            object["logprobs"] = result.logprobs.map { lp in
                ["token": Int(lp.token), "logprob": Double(lp.logprob),
                 "top": lp.top.map { ["token": Int($0.token), "logprob": Double($0.logprob)] }] as [String: Any]
            }
        }
        print(try jsonLine(object))
    } else {
        writeOut("\n")
        let t = result.timings
        printError(String(format: "prompt: %d tokens, %.1f tokens/s | generation: %d tokens, %.1f tokens/s | stop: %@",
                          t.promptTokens, t.promptTokensPerSecond, t.generatedTokens, t.generationTokensPerSecond,
                          result.stopReason.rawValue))
    }
}

/// The `--interactive` REPL: prompts on standard input, settings adjustable between prompts,
/// like the sliders of the KnowLM web demo.
struct InteractiveSession {
    let model: any LanguageModel
    var parameters: GenerateParameters
    var processors: @Sendable () -> [any LogitsProcessor] = { [] }

    static let help = """
    /temp T  /top-k K  /top-p P  /min-p P  /repeat-penalty R  /n N  /seed S  /beams B
    /settings (show)  /help  /quit — anything else is a prompt
    """

    mutating func run() async throws {
        printError("interactive mode; /help lists commands, /quit or end of input leaves")
        while true {
            printError("> ", terminator: "")
            guard let line = readLine(strippingNewline: true) else { break }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("/") {
                if trimmed == "/quit" || trimmed == "/exit" { break }
                do { try apply(trimmed) } catch { printError("\(error.localizedDescription)") }
                continue
            }
            do {
                try await complete(model, prompt: line.replacingOccurrences(of: "\\n", with: "\n"), parameters: parameters,
                                   processors: processors(), json: false)
            } catch {
                printError("error: \(error.localizedDescription)")
            }
        }
    }

    mutating func apply(_ command: String) throws {
        let parts = command.split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts[0], value = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        func number<T: LosslessStringConvertible>(_: T.Type) throws -> T {
            guard let v = T(value) else { throw KnowLMError.invalidParameter("\(name) needs a number, got '\(value)'") }
            return v
        }
        switch name {
        case "/help": printError(Self.help)
        case "/settings": break
        case "/temp": parameters.temperature = max(0, try number(Float.self))
        case "/top-k": parameters.topK = max(0, try number(Int.self))
        case "/top-p": parameters.topP = min(1, max(0.01, try number(Float.self)))
        case "/min-p": parameters.minP = min(0.99, max(0, try number(Float.self)))
        case "/repeat-penalty": parameters.repeatPenalty = try number(Float.self)
        case "/n": parameters.maxTokens = max(0, try number(Int.self))
        case "/seed": parameters.seed = try number(UInt64.self)
        case "/beams": parameters.numBeams = max(1, try number(Int.self))
        default: throw KnowLMError.invalidParameter("unknown command \(name); /help lists them")
        }
        printError(String(format: "temp %.2f  top-k %d  top-p %.2f  min-p %.2f  repeat-penalty %.2f  n %d  beams %d",
                          parameters.temperature, parameters.topK, parameters.topP, parameters.minP,
                          parameters.repeatPenalty, parameters.maxTokens, parameters.numBeams))
    }
}

func printError(_ message: String, terminator: String) {
    FileHandle.standardError.write(Data((message + terminator).utf8))
}
