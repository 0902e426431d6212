import Foundation
import KnowLMCore
import KnowLMKnowledge
import KnowLMRuntime

/// How an agent run is conducted.
public struct AgentOptions: Sendable {
    /// Most steps; the last one must give the final answer.
    public var maxSteps = 6
    /// Most tokens of one action.
    public var maxActionTokens = 200
    public var allowNetwork = false
    /// Reuse successful past runs of similar tasks as worked examples (execution feedback).
    public var reuseFeedback = true
    /// Past runs must be at least this similar (cosine of task embeddings) to be reused.
    public var feedbackSimilarity: Float = 0.6
    /// Worked examples in the prompt (past runs first, then the built-in ones).
    public var examples = 2
    /// Check the final answer claim by claim against the knowledge base.
    public var verify = true
    /// Once tools have returned something, the final answer must be copied from what they
    /// returned (a span of the observations): a small model cannot then answer from memory or
    /// from the worked examples.
    public var groundedAnswers = true
    /// Choose between the allowed actions by the log-probability of each whole opening
    /// (`{"tool": "NAME"` or `{"final_answer": "`) before writing it (with the thought last).
    public var scoreActions = true
    /// Weight of the content-free prior subtracted from each opening's log-probability.
    public var calibrationWeight: Float = 1.0
    /// Declared (caller-answered) functions are chosen by how close the task is to each one's
    /// name and description (cosine of the embedder's vectors), not by the language model: the
    /// closest is called when it reaches this, and below it the agent answers without a call.
    /// 0 leaves both decisions to the model. (A 270M model chose "no call" for most tasks a
    /// function fitted; the embedder picks the right one of several far more often.)
    public var functionRelevance: Float = 0.45
    /// Declared functions' numeric arguments are taken from the numbers in the task, and
    /// optional arguments the task does not mention are left out (`ArgumentGrounding`).
    public var groundArguments = true
    /// Knowledge first: when the task asks about something the knowledge graph has facts on
    /// (the retriever finds a fact for the relation asked, or computes the answer), the first
    /// step gives the task to the `ask` tool, as a retrieval-augmented agent retrieves before it
    /// plans; from the second step on the model decides, as usual, whether to answer from what
    /// came back or to go on. Tasks the graph knows nothing about start with the model's choice.
    /// (A 270M model picked `current_time` or `calculator` for many questions the graph answers.)
    public var knowledgeFirst = true
    /// Record the run in the knowledge base's log.
    public var record = true
    public var rules = ActionRules()
    public var actionSchema = ActionSchema()
    public init() {}
}

/// One step as it happened.
public struct AgentStep: Sendable {
    public var index: Int
    public var action: AgentAction
    /// The tool's result (nil for the final answer and a caller's function call).
    public var result: ToolCallResult?
    public var promptTokens: Int
    /// Seconds choosing the action (the model) and in total.
    public var modelSeconds: Double
    public var seconds: Double
    /// Tools the rules allowed at this step, and whether a final answer was.
    public var allowedTools: [String]
    public var finalAllowed: Bool
    /// The prompt the action was chosen from (for `--verbose`).
    public var prompt: String
    /// How each allowed action scored when the model chose (empty when there was no choice).
    public var choiceScores: [(action: String, score: Float)]
    /// Why the planner took this step itself instead of the model choosing it ("knowledge
    /// first"), or nil.
    public var planner: String? = nil
}

/// How a run ended.
public enum AgentOutcome: String, Sendable, Codable {
    /// The model gave a final answer.
    case answered
    /// The last step forced the final answer.
    case forced
    /// The model called a caller-answered function; the call is handed back.
    case call
    case failed
    case cancelled
}

/// A finished run.
public struct AgentRun: Sendable {
    public var id: String?
    public var task: String
    public var steps: [AgentStep]
    public var outcome: AgentOutcome
    public var answer: String?
    /// The function call handed back, when `outcome == .call`.
    public var call: (tool: String, arguments: JSONValue)?
    public var verification: Verification?
    public var error: String?
    public var seconds: Double
}

/// The planner loop: each step the model writes one JSON action under a grammar built from the
/// tools the action rules allow; the tool runs under its timeout; what it returns (or its error)
/// is the next observation. Runs and steps go to the knowledge base's log, and successful past
/// runs of similar tasks come back as worked examples.
public final class Agent: @unchecked Sendable {
    public let model: any LanguageModel
    public let registry: ToolRegistry
    public let kb: KnowledgeBase?
    public let embedder: (any TextEmbedder)?
    public let detector: HallucinationDetector?
    /// Finds what the knowledge graph has on a task (for `knowledgeFirst`).
    public let retriever: Retriever?
    public var options: AgentOptions
    let prompts: PromptLibrary
    let bank: [WorkedExample]
    private var grammarCache: [String: GrammarEngine] = [:]
    private let lock = NSLock()

    public init(model: any LanguageModel, registry: ToolRegistry, kb: KnowledgeBase? = nil, embedder: (any TextEmbedder)? = nil,
                detector: HallucinationDetector? = nil, retriever: Retriever? = nil, options: AgentOptions = AgentOptions(),
                prompts: PromptLibrary? = nil) throws {
        self.model = model
        self.retriever = retriever ?? detector?.retriever
        self.registry = registry
        self.kb = kb
        self.embedder = embedder
        self.detector = detector
        self.options = options
        self.prompts = try prompts ?? PromptLibrary()
        self.bank = try WorkedExample.builtIn()
    }

    /// Runs `task` to its end. `onStart` gets the run's id in the log as soon as it is
    /// recorded (nil when runs are not recorded); `onStep` sees each step as it finishes.
    public func run(_ task: String, onStart: (@Sendable (String?) -> Void)? = nil,
                    onStep: (@Sendable (AgentStep) -> Void)? = nil) async -> AgentRun {
        let start = Date()
        let tools = registry.tools
        let taskEmbedding = try? embedder?.embed([task]).first
        var runID: String?
        if options.record, let kb {
            runID = try? kb.beginAgentRun(task: task, model: model.name, tools: tools.map(\.name), taskEmbedding: taskEmbedding)
        }
        onStart?(runID)
        var run = AgentRun(id: runID, task: task, steps: [], outcome: .failed, answer: nil, call: nil, verification: nil,
                           error: nil, seconds: 0)
        do {
            let examples = try chooseExamples(task: task, embedding: taskEmbedding, tools: tools)
            var state = ActionRules.State(step: 1, maxSteps: options.maxSteps, allowNetwork: options.allowNetwork)
            var previousCalls: [String: Int] = [:]  // "tool arguments" -> step
            var prior: [String: Float]?
            // Knowledge first, unless the caller declared a function that fits the task (by the
            // same similarity that picks declared functions): "convert 250 dollars to EUR" with a
            // `convert_currency` function is a call to make, not a question for the graph.
            // How close the task is to each declared function (cosine of the embedder's vectors).
            var fit: [String: Float] = [:]
            let declared = tools.filter { $0.kind == .client }
            if options.functionRelevance > 0, let embedder, let taskEmbedding, !declared.isEmpty {
                for (tool, vector) in zip(declared, try embedder.embed(declared.map(Self.functionText))) {
                    fit[tool.name] = Self.dot(vector, taskEmbedding)
                }
            }
            var first = knowledgeFirstAction(task: task, tools: tools)
            if fit.values.contains(where: { $0 >= options.functionRelevance }) { first = nil }
            stepping: for index in 1...options.maxSteps {
                try Task.checkCancellation()
                state.step = index
                let (allowed, finalAllowed) = options.rules.allowed(tools, state: state)
                let stepStart = Date()
                let prompt = try renderPrompt(task: task, steps: run.steps, tools: tools, examples: examples)
                let observed = run.steps.compactMap { $0.result?.outcome == .ok ? $0.result?.observation : nil }
                let evidence = options.groundedAnswers ? observed.joined(separator: "\n") : ""
                var (offered, finalOffered) = (allowed, finalAllowed)
                var relevance: [(action: String, score: Float)] = []
                // Declared functions: with nothing else to call, the closest one is called when it
                // fits the task and none otherwise. Beside built-in tools, the first step calls a
                // declared function that fits (the caller declared it for such tasks); one that
                // does not fit leaves the choice to the model.
                let declaredAllowed = allowed.filter { $0.kind == .client }
                let onlyDeclared = !allowed.isEmpty && declaredAllowed.count == allowed.count
                if !fit.isEmpty, !declaredAllowed.isEmpty, onlyDeclared || run.steps.isEmpty {
                    let similarities = declaredAllowed.map { fit[$0.name] ?? -1 }
                    let best = similarities.indices.max { similarities[$0] < similarities[$1] }!
                    if similarities[best] >= options.functionRelevance {
                        (offered, finalOffered) = ([declaredAllowed[best]], false)
                    } else if onlyDeclared && finalAllowed {
                        offered = []
                    }
                    if onlyDeclared || similarities[best] >= options.functionRelevance {
                        relevance = zip(declaredAllowed, similarities).map { ("relevance \($0.name)", $1) }
                    }
                }
                // The planner's own first step (knowledge first), when the rules allow `ask` now.
                let forced = index == 1 && first != nil && allowed.contains { $0.name == "ask" }
                if prior == nil, relevance.isEmpty, !forced, options.scoreActions, options.calibrationWeight > 0,
                   let local = model as? any LocalLanguageModel {
                    // The prompt's own preferences among the actions, with the task left out:
                    // computed once per run, before any step (so it costs one short pass).
                    let contentFree = try render(task: "N/A", steps: [], tools: tools, examples: prompt.examples, elided: 0, dropped: 0)
                    let names = tools.map(\.name) + ["final_answer"]
                    let scores = try await local.logProbabilities(of: names.map(Self.opening), after: contentFree + " {\"")
                    prior = Dictionary(uniqueKeysWithValues: zip(names, scores))
                }
                // The prior is for the first choice (which tool fits the task); later choices
                // (go on or finish) turn on the steps so far, which the prior does not see.
                var (action, choiceScores): (AgentAction, [(action: String, score: Float)])
                var planner: String?
                if forced, let first {
                    (action, choiceScores) = (first, [])
                    planner = "knowledge first: the knowledge graph has facts on what the task asks"
                } else {
                    (action, choiceScores) = try await chooseAction(prompt: prompt.text, prior: run.steps.isEmpty ? prior ?? [:] : [:],
                                                                    tools: offered, finalAnswer: finalOffered,
                                                                    groundedIn: evidence.isEmpty ? nil : evidence, latest: observed.last,
                                                                    task: task)
                }
                if options.groundArguments, case .call(let thought, let name, let arguments) = action,
                   let tool = registry.tool(named: name), tool.kind == .client {
                    let kept = ArgumentGrounding.pruneOptional(ArgumentGrounding.dropEmptyItems(arguments),
                                                               parameters: ToolSchema.normalize(tool.parameters), task: task)
                    action = .call(thought: thought, tool: name, arguments: kept)
                }
                if case .call(let thought, let name, let arguments) = action, let tool = registry.tool(named: name), tool.kind == .client {
                    // A declared Python `float` is written as one (`5.0`), as the caller declared it.
                    action = .call(thought: thought, tool: name, arguments: ArgumentGrounding.conformNumbers(arguments, declared: tool.parameters))
                }
                choiceScores = relevance + choiceScores
                let modelSeconds = Date().timeIntervalSince(stepStart)
                var step = AgentStep(index: index, action: action, result: nil, promptTokens: prompt.tokens,
                                     modelSeconds: modelSeconds, seconds: modelSeconds,
                                     allowedTools: allowed.map(\.name), finalAllowed: finalAllowed, prompt: prompt.text,
                                     choiceScores: choiceScores, planner: planner)
                switch action {
                case .finish(_, let answer):
                    run.answer = answer
                    run.outcome = allowed.isEmpty && index == options.maxSteps && !tools.isEmpty ? .forced : .answered
                    record(step, run: runID)
                    run.steps.append(step)
                    onStep?(step)
                    break stepping
                case .call(_, let name, let arguments):
                    if let tool = registry.tool(named: name), tool.kind == .client {
                        run.call = (name, arguments)
                        run.outcome = .call
                        record(step, run: runID)
                        run.steps.append(step)
                        onStep?(step)
                        break stepping
                    }
                    let key = name + " " + arguments.serialized()
                    var result: ToolCallResult
                    if let earlier = previousCalls[key] {
                        let before = run.steps[earlier - 1].result?.observation ?? ""
                        result = ToolCallResult(outcome: .repeated,
                                                observation: "You already called \(name) with these arguments at step \(earlier); it returned: \(before)",
                                                outputBytes: 0, truncated: false, seconds: 0)
                        state.repeats[name, default: 0] += 1
                    } else {
                        result = await registry.run(name, arguments: arguments)
                        previousCalls[key] = index
                        switch result.outcome {
                        case .ok: state.successes += 1
                        case .error, .timeout: state.failures[name, default: 0] += 1
                        case .cancelled: throw CancellationError()
                        case .repeated: break
                        }
                    }
                    step.result = result
                    step.seconds = Date().timeIntervalSince(stepStart)
                    record(step, run: runID)
                    run.steps.append(step)
                    onStep?(step)
                }
            }
            if run.answer == nil && run.call == nil {
                run.outcome = .failed
                run.error = "no final answer within \(options.maxSteps) steps"
            }
            if options.verify, let detector, let answer = run.answer {
                run.verification = try await detector.verify(question: task, answer: answer)
            }
        } catch {
            // A model or tool stopped by the cancellation throws its own error; the run was
            // still cancelled, not failed.
            if error is CancellationError || Task.isCancelled {
                run.outcome = .cancelled
                run.error = "cancelled"
            } else {
                run.outcome = .failed
                run.error = (error as? LocalizedError)?.errorDescription ?? String(describing: error)
            }
        }
        run.seconds = Date().timeIntervalSince(start)
        if let runID, let kb {
            let verification = run.verification.flatMap { try? $0.jsonText() }
            try? kb.finishAgentRun(runID, outcome: run.outcome.rawValue, answer: run.answer ?? run.call.map { callText($0) },
                                   verification: verification)
        }
        return run
    }

    /// The first action under `knowledgeFirst`: `ask` the task, when the registry has the
    /// knowledge base's `ask` tool and the graph has facts on what the task asks about an entity
    /// the task names as a name: written with a capital, a digit or in a script without case, or
    /// a lower-case name that is not an ordinary word ("What time is it?" links the town of
    /// Time, but "time" there is a word of the language; "einsteinium" is a name).
    func knowledgeFirstAction(task: String, tools: [any Tool]) -> AgentAction? {
        guard options.knowledgeFirst, let retriever, tools.contains(where: { $0.name == "ask" && $0.kind == .knowledge }),
              let context = try? retriever.retrieve(task), context.graphSupports else { return nil }
        let tokenizer = model.tokenizer
        func ordinary(_ word: String) -> Bool {
            // A word of the language: the vocabulary spells it, lower-case, as one piece.
            guard !word.contains(" "), let ids = try? tokenizer.encode(" " + word.lowercased(), addBOS: false, parseSpecial: false) else { return false }
            return ids.count == 1
        }
        guard context.entities.contains(where: { Self.namedAsName($0.matchedName, in: task) || !ordinary($0.matchedName) && Self.occurs($0.matchedName, in: task) })
        else { return nil }
        return .call(thought: "", tool: "ask",
                     arguments: .object([(key: "question", value: .string(task))]))
    }

    /// Whether `name` occurs in `text` (as whole words) written as a name: an occurrence has an
    /// upper-case letter, a digit, or a letter of a script without case. A sentence's first
    /// letter counts too: "Istanbul is a city in which country?" names Istanbul, and telling
    /// it from "Time is money" would take knowing the language, so the ask may be one step
    /// the planner did not need.
    static func namedAsName(_ name: String, in text: String) -> Bool {
        occurrences(of: name, in: text).contains { range in
            text[range].unicodeScalars.contains { s in
                s.properties.isUppercase || s.properties.numericType != nil
                    || (s.properties.isAlphabetic && !s.properties.isLowercase && !s.properties.isUppercase && s.value > 0x2FF)
            }
        }
    }

    /// Whether `name` occurs in `text` as whole words (case-insensitive).
    static func occurs(_ name: String, in text: String) -> Bool { !occurrences(of: name, in: text).isEmpty }

    /// Where `name` occurs in `text` as whole words (case-insensitive): not preceded or followed
    /// by a letter or digit (a name in a script without spaces between words has no boundary
    /// to check).
    static func occurrences(of name: String, in text: String) -> [Range<String.Index>] {
        guard !name.isEmpty else { return [] }
        var out: [Range<String.Index>] = []
        var start = text.startIndex
        func word(_ c: Character?) -> Bool {
            guard let c, c.isLetter || c.isNumber else { return false }
            return c.unicodeScalars.allSatisfy { $0.value < 0x2E80 }  // CJK text has no spaces between words
        }
        while let range = text.range(of: name, options: .caseInsensitive, range: start..<text.endIndex) {
            let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
            let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
            if !word(before) && !word(after) { out.append(range) }
            start = range.upperBound
        }
        return out
    }

    func callText(_ call: (tool: String, arguments: JSONValue)) -> String {
        "\(call.tool)(\(call.arguments.serialized(itemSeparator: ", ", keySeparator: ": ")))"
    }

    private func record(_ step: AgentStep, run: String?) {
        guard let run, let kb else { return }
        let record: AgentStepRecord
        switch step.action {
        case .finish(let thought, let answer):
            record = AgentStepRecord(run: run, step: step.index, promptTokens: step.promptTokens, thought: thought, tool: nil,
                                     arguments: nil, observation: answer, outcome: "answer", outputBytes: 0,
                                     seconds: step.seconds, modelSeconds: step.modelSeconds, planner: step.planner)
        case .call(let thought, let tool, let arguments):
            let result = step.result
            record = AgentStepRecord(run: run, step: step.index, promptTokens: step.promptTokens, thought: thought, tool: tool,
                                     arguments: arguments.serialized(), observation: result?.observation,
                                     outcome: result?.outcome.rawValue ?? "call", outputBytes: result?.outputBytes ?? 0,
                                     seconds: step.seconds, modelSeconds: step.modelSeconds, planner: step.planner)
        }
        try? kb.recordAgentStep(record)
    }

    // MARK: choosing the action

    /// The model's next action under the grammar of the allowed actions (a local model), or
    /// parsed from free text (a model without grammar support).
    /// What follows ` {"` when the action is `name` (a tool, or "final_answer").
    static func opening(_ name: String) -> String {
        name == "final_answer" ? "final_answer\": \"" : "tool\": \"\(name)\""
    }

    func chooseAction(prompt: String, prior: [String: Float], tools: [any Tool], finalAnswer: Bool,
                      groundedIn evidence: String?, latest: String? = nil, task: String = "") async throws
                      -> (AgentAction, [(action: String, score: Float)]) {
        let parameters = argumentSchemas(task: task)
        var choice: [(action: String, score: Float)] = []
        var generation = GenerateParameters.greedy(maxTokens: options.maxActionTokens)
        generation.stop = ["\nObservation", "\nTask:"]
        guard let local = model as? any LocalLanguageModel else {
            // A remote server is asked to hold the action to its JSON Schema (servers that
            // cannot are parsed as they answer).
            generation.remoteJSONSchema = options.actionSchema.schema(tools: tools, finalAnswer: finalAnswer, parameters: parameters).serialized()
            let result = try await model.complete(prompt: prompt + " ", parameters: generation)
            return (try AgentAction.parse(result.text), [])
        }
        var tools = tools, finalAnswer = finalAnswer
        var fixedAnswer: String?
        if options.scoreActions, !options.actionSchema.thoughtFirst {
            if tools.count + (finalAnswer ? 1 : 0) > 1 {
                // The model decides which action by the probability of each whole opening (tool
                // name or final answer), not token by token: greedy decoding would commit to
                // the first token of a name ("k" for kg_query and kg_neighbors alike). Calibrated
                // against the prompt with the task left out (`prior`), so that what the prompt
                // alone favours (a tool listed last, a common word) does not decide. The shared
                // ` {"` goes with the prompt (computed once); the openings differ after it.
                let names = tools.map(\.name) + (finalAnswer ? ["final_answer"] : [])
                var scores = try await local.logProbabilities(of: names.map(Self.opening), after: prompt + " {\"")
                for (i, name) in names.enumerated() { scores[i] -= options.calibrationWeight * (prior[name] ?? 0) }
                choice = zip(names, scores).map { ($0, $1) }
                let best = scores.indices.max { scores[$0] < scores[$1] }!
                if best < tools.count { tools = [tools[best]]; finalAnswer = false } else { tools = [] }
            }
            if tools.isEmpty, finalAnswer, let evidence {
                // A grounded answer: the model picks which piece of the observations answers,
                // again by comparing whole candidates (with the closing quote, so that a prefix
                // of the right piece does not win by stopping early).
                let candidates = Self.answerCandidates(evidence, latest: latest)
                if candidates.count > 1 {
                    // Per token: a sum would favour the shortest piece.
                    let continuations = candidates.map { String(JSONValue.quote($0).dropFirst()) }
                    var scores = try await local.logProbabilities(of: continuations, after: prompt + " {\"final_answer\": \"")
                    for (i, c) in continuations.enumerated() {
                        let n = (try? local.tokenizer.encode(c, addBOS: false, parseSpecial: false).count) ?? 1
                        scores[i] /= Float(max(1, n))
                    }
                    choice += zip(candidates, scores).map { ("answer \($0)", $1) }
                    let best = scores.indices.max { scores[$0] < scores[$1] }!
                    fixedAnswer = candidates[best]
                } else {
                    fixedAnswer = candidates.first
                }
            }
        }
        let engine = try grammar(tools: tools, finalAnswer: finalAnswer, groundedIn: evidence, fixedAnswer: fixedAnswer,
                                 trie: local.vocabularyTrie, task: task)
        let constraint = GrammarConstraint(engine: engine)
        let result = try await model.complete(prompt: prompt, parameters: generation, processors: [constraint])
        var text = result.text
        if !engine.matches(Array(text.utf8)) {
            // Cut at the token limit: close the JSON by the grammar's shortest completion.
            let state = engine.advance(engine.initialState, bytes: Array(text.utf8))
            if let rest = engine.shortestCompletion(from: state) { text += String(decoding: rest, as: UTF8.self) }
        }
        return (try AgentAction.parse(text), choice)
    }

    /// Pieces of the observations that could be an answer: each line, and its parts between
    /// the separators tools write ("—", "|", ";", ": ", ", "), trimmed, without duplicates.
    /// When the latest observation states its answer (a line `answer: …`, as `ask` writes it),
    /// only that answer and its parts are candidates: the sources listed under it are its
    /// evidence, not answers of their own (a small model otherwise picks a population figure
    /// for "which is larger"). An earlier tool's stated answer does not shut out what later
    /// tools returned.
    static func answerCandidates(_ evidence: String, latest: String? = nil, limit: Int = 12) -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        func add(_ text: Substring) {
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "…")))
            guard !t.isEmpty, t.count <= 200, seen.insert(t).inserted else { return }
            out.append(t)
        }
        let stated = (latest ?? "").split(separator: "\n").filter { $0.hasPrefix("answer: ") }.map { $0.dropFirst("answer: ".count) }
        if !stated.isEmpty {
            for answer in stated {
                add(answer)
                for piece in answer.components(separatedBy: ", ") { add(Substring(piece)) }
            }
            return Array(out.prefix(limit))
        }
        for line in evidence.split(separator: "\n") {
            var pieces = [line]
            for separator in [" — ", " | ", "; ", ": ", ", "] {
                pieces = pieces.flatMap { $0.components(separatedBy: separator).map { Substring($0) } }
            }
            for piece in pieces { add(piece) }
            add(line)
            if out.count >= limit { break }
        }
        return Array(out.prefix(limit))
    }

    /// Argument schemas for the grammar: declared functions' numbers held to the task's.
    func argumentSchemas(task: String) -> ((any Tool) -> JSONValue)? {
        guard options.groundArguments else { return nil }
        return { tool in
            let schema = ToolSchema.normalize(tool.parameters)
            guard tool.kind == .client else { return schema }
            return ArgumentGrounding.restrictChoices(ArgumentGrounding.restrictNumbers(schema, task: task), task: task)
        }
    }

    func grammar(tools: [any Tool], finalAnswer: Bool, groundedIn evidence: String?, fixedAnswer: String? = nil,
                 trie: VocabularyTrie, task: String = "") throws -> GrammarEngine {
        let grounded = finalAnswer && evidence != nil
        let cacheable = !grounded && fixedAnswer == nil
        var key = tools.map(\.name).joined(separator: ",") + (finalAnswer ? "+final" : "")
        if options.groundArguments, tools.contains(where: { $0.kind == .client }) {
            // The held numbers depend on the task's words too (which number follows which name).
            key += "\u{0}" + task
        }
        if cacheable, let cached = lock.withLock({ grammarCache[key] }) { return cached }
        let schema = options.actionSchema.schema(tools: tools, finalAnswer: finalAnswer, groundedAnswer: grounded, fixedAnswer: fixedAnswer,
                                                  parameters: argumentSchemas(task: task))
        let compiled = try JSONSchemaGrammar.compile(schema, options: JSONSchemaOptions(input: grounded ? evidence : nil, prefix: " "))
        let engine = GrammarEngine(grammar: compiled, trie: trie)
        if cacheable { lock.withLock { grammarCache[key] = engine } }
        return engine
    }

    // MARK: the prompt

    struct RenderedPrompt {
        var text: String
        var tokens: Int
        var examples: [WorkedExample]
        var elided: Int
        var dropped: Int
    }

    /// The prompt for the next step, kept within the context: examples are dropped first, then
    /// old observations are elided, then the oldest steps are dropped (with a note saying so).
    func renderPrompt(task: String, steps: [AgentStep], tools: [any Tool], examples: [WorkedExample]) throws -> RenderedPrompt {
        let budget = model.contextLength - options.maxActionTokens - 8
        var examples = examples
        var elided = 0, dropped = 0
        while true {
            let text = try render(task: task, steps: steps, tools: tools, examples: examples, elided: elided, dropped: dropped)
            let count = (try? model.tokenizer.encode(text, addBOS: true, parseSpecial: false).count) ?? text.utf8.count / 3
            if count <= budget {
                return RenderedPrompt(text: text, tokens: count, examples: examples, elided: elided, dropped: dropped)
            }
            if !examples.isEmpty { examples.removeLast(); continue }
            if elided < steps.count - 1 { elided += 1; continue }
            if dropped < steps.count - 1 { dropped += 1; continue }
            throw AgentError.promptTooLong(tokens: count, context: model.contextLength)
        }
    }

    func render(task: String, steps: [AgentStep], tools: [any Tool], examples: [WorkedExample], elided: Int, dropped: Int) throws -> String {
        var blocks: [[String: Any]] = examples.map { $0.block(registry: registry, thoughtFirst: options.actionSchema.thoughtFirst) }
        var shown: [[String: Any]] = []
        if dropped > 0 {
            shown.append(["action": "(\(dropped) earlier steps left out)", "hasObservation": false])
        }
        for step in steps.dropFirst(dropped) {
            var observation = step.result?.observation ?? ""
            if step.index <= elided, !observation.isEmpty { observation = "(left out)" }
            shown.append(["action": step.action.json(thoughtFirst: options.actionSchema.thoughtFirst),
                          "observation": observation, "hasObservation": step.result != nil])
        }
        blocks.append(["tools": tools.map(toolLine), "task": task, "steps": shown])
        var text = try prompts.render("agent_step.en", ["blocks": blocks])
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    // MARK: examples

    /// Worked examples: successful past runs of similar tasks first (execution feedback), then
    /// built-in trajectories whose tools are all registered, most similar first.
    func chooseExamples(task: String, embedding: [Float]?, tools: [any Tool]) throws -> [WorkedExample] {
        let names = Set(tools.map(\.name))
        let clientOnly = !tools.isEmpty && tools.allSatisfy { $0.kind == .client }
        var chosen: [WorkedExample] = []
        if options.reuseFeedback, let kb, let embedding {
            for past in try kb.similarSuccessfulAgentRuns(to: embedding, limit: options.examples * 3, minimumSimilarity: options.feedbackSimilarity)
            where past.run.task != task {
                guard let example = WorkedExample(past: past.run, steps: past.steps), example.toolNames.isSubset(of: names) else { continue }
                chosen.append(example)
                if chosen.count >= options.examples { return chosen }
            }
        }
        var candidates = bank.filter { clientOnly ? $0.declaredTools != nil : ($0.declaredTools == nil && $0.toolNames.isSubset(of: names)) }
        if let embedding, let embedder, candidates.count > 1 {
            let vectors = try embedder.embed(candidates.map(\.task))
            let scored = zip(candidates, vectors).map { ($0, Self.dot($1, embedding)) }
            candidates = scored.sorted { $0.1 > $1.1 }.map(\.0)
        }
        for example in candidates where chosen.count < options.examples { chosen.append(example) }
        // The most similar example goes last, nearest the task.
        return chosen.reversed()
    }

    /// The cosine of two of the embedder's (unit-length) vectors.
    static func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 } }

    /// What a declared function is compared with the task by: its name in words and its description.
    static func functionText(_ tool: any Tool) -> String {
        let words = tool.name.map { "_.-".contains($0) ? " " : $0 }
        return String(words) + ": " + tool.description
    }

    func toolLine(_ tool: any Tool) -> [String: Any] {
        ["signature": Self.signature(tool.name, tool.parameters), "description": tool.description]
    }

    /// `name(city: string, unit?: "celsius"|"fahrenheit")`: a compact signature for the prompt.
    static func signature(_ name: String, _ parameters: JSONValue) -> String {
        let schema = ToolSchema.normalize(parameters)
        let required = Set((schema["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        let properties = schema["properties"]?.objectValue ?? []
        let args = properties.map { p in "\(p.key)\(required.contains(p.key) ? "" : "?"): \(typeName(p.value))" }
        return "\(name)(\(args.joined(separator: ", ")))"
    }

    static func typeName(_ schema: JSONValue) -> String {
        if let values = schema["enum"]?.arrayValue {
            return values.map { $0.serialized() }.joined(separator: "|")
        }
        switch schema["type"] {
        case .string(let t)?:
            if t == "array", let items = schema["items"] { return "[\(typeName(items))]" }
            return t
        case .array(let list)?: return list.compactMap(\.stringValue).joined(separator: "|")
        default: return schema["anyOf"] != nil ? (schema["anyOf"]?.arrayValue ?? []).map(typeName).joined(separator: "|") : "any"
        }
    }
}

public enum AgentError: Error, LocalizedError, Equatable {
    case promptTooLong(tokens: Int, context: Int)
    case invalidToolFile(String)

    public var errorDescription: String? {
        switch self {
        case .promptTooLong(let tokens, let context):
            return "the task alone needs \(tokens) tokens, more than the context of \(context) leaves for it; shorten the task or raise --ctx-size"
        case .invalidToolFile(let why): return why
        }
    }
}
