import Foundation
import KnowLMCore
import KnowLMKnowledge
import KnowLMRuntime

/// How to extract.
public struct ExtractionOptions: Sendable {
    /// Which wrapper the prompts get.
    public enum PromptFormat: String, Sendable, CaseIterable {
        /// OneKE's LLaMA-2 chat wrapper when the model's name says OneKE, few-shot otherwise.
        case auto
        /// OneKE's chat wrapper and system prompt, zero-shot (what OneKE was trained on).
        case oneke
        /// A few-shot completion of OneKE messages, for base models.
        case fewshot
    }
    /// How the model is asked.
    public enum Strategy: String, Sendable, CaseIterable {
        /// Span typing for English NER with a model that scores continuations; generation otherwise.
        case auto
        /// The model writes OneKE's JSON answer for each schema chunk (under a grammar).
        case generate
        /// Candidate spans are proposed and the model picks each one's type or "none" by
        /// comparing log-probabilities (NER).
        case typeSpans = "type-spans"
    }

    public var task: IETask
    /// Nil: guessed from the text.
    public var language: IELanguage?
    /// Mentions must be spans of the input (grammar-enforced).
    public var copyFromInput = true
    /// Constrain answers: generation decodes under the task's JSON Schema, span typing chooses
    /// among the schema's labels and "none" by score. Off: the model writes freely and the text
    /// is parsed afterwards (a JSON answer, or a type name).
    public var grammar = true
    public var promptFormat: PromptFormat = .auto
    public var strategy: Strategy = .auto
    /// Token limit of one answer.
    public var maxTokens = 256
    /// Worked examples in few-shot prompts.
    public var exampleCount = 4
    /// Span typing: subtract each type's log-probability under a content-free prompt, so the
    /// model's prior for a type name does not decide (Zhao et al. 2021, "Calibrate before use").
    public var calibrate = true
    /// How much of the prior is subtracted (1: all of it). Multi-token type names have small
    /// priors, so subtracting all of it favours them. 0.25 was chosen on the development split
    /// of CrossNER (the first 100 sentences of each domain; F1 there 0: 11, 0.25: 25, 0.5: 23,
    /// 1: 22 on ai).
    public var calibrationWeight: Float = 0.25
    /// Span typing: which lower-case noun phrases (terms such as task or genre names, which
    /// English does not capitalise) are proposed as candidates besides capitalised names.
    public enum TermCandidates: String, Sendable, CaseIterable {
        /// Names only.
        case off
        /// Terms, kept only when typed as a schema label that the bundled examples show as
        /// lower-case (or show no example of at all).
        case typed
        /// Terms, kept under any label.
        case all
    }
    /// `.typed` by default: on the CrossNER development split (first 100 sentences of each
    /// domain) it lifted ai F1 from 24.7 to 29.8 and left literature and music within 0.2
    /// (36.4 → 36.2, 47.9 → 47.8), where `.all` cost them 1.6 and 3.7.
    public var lowercaseTerms: TermCandidates = .typed
    /// How much more likely than "none" (log-probability) a type must be for a lower-case
    /// term to be kept; names need no margin. 2 was chosen on the CrossNER development split
    /// (first 60 sentences of each domain; ai / literature / music F1 at margins 0, 1, 2, 4:
    /// 24.0/35.7/49.1, 24.4/35.9/49.4, 25.2/36.2/49.7, 22.1/37.6/51.0).
    public var termMargin: Float = 2.0
    /// Names already known (the knowledge base's labels) proposed as candidate spans.
    public var knownNames: [String] = []
    /// Longest text accepted, in characters (Unicode scalars): a longer one is refused with a
    /// clear error before any model call, since it would take hours on a small CPU.
    public var maxInputCharacters = 262_144

    public init(task: IETask) { self.task = task }
}

/// The result for one text.
public struct ExtractionOutput: Sendable {
    public var result: IEResult
    /// Every mention found, located in the text.
    public var spans: [LocatedSpan]
    /// Answers that were not JSON (only possible with the grammar off).
    public var parseErrors: Int
    public var warnings: [String]
    /// Prompts sent to the model.
    public var modelCalls: Int
}

/// Schema-based information extraction in the OneKE format with any `LanguageModel`.
///
/// For each text: the text is cut into windows that fit the context, the schema into OneKE's
/// chunks; every (window, chunk) gets OneKE's message, wrapped for the model (OneKE's chat
/// wrapper, or few-shot for base models), and the answer is decoded under a JSON Schema grammar
/// whose mention strings must be spans of the window. Answers are parsed (every shape OneKE
/// emits), merged, and located in the original text. For English NER with a base model, the
/// default is span typing instead: the weak model is bad at writing lists but can choose a type.
extension ExtractionOutput {
    /// Stores what was extracted from `document` in the knowledge base (relations as triples,
    /// entity types as rdf:type), with the evidence offsets as provenance; facts of an earlier
    /// extraction of the same document that this one no longer gives are removed.
    public func store(in kb: KnowledgeBase, document: String, schema: IESchema, model: String) throws -> ExtractionImportReport {
        func evidence(_ mentions: [String]) -> (Int, Int) {
            let found = mentions.compactMap { m in spans.first { $0.text == m } }
            return (found.map(\.start).min() ?? 0, found.map(\.end).max() ?? 0)
        }
        let facts = result.relations.map { r -> ExtractedFact in
            let (start, end) = evidence([r.subject, r.object])
            return ExtractedFact(subject: r.subject, relation: r.relation, object: r.object, start: start, end: end)
        }
        let entities = result.entities.map { e -> ExtractedEntity in
            let (start, end) = evidence([e.mention])
            return ExtractedEntity(mention: e.mention, type: e.type, start: start, end: end)
        }
        let schemaText = JSONValue.array(schema.items).serialized(itemSeparator: ", ", keySeparator: ": ")
        return try kb.replaceExtraction(ExtractionRun(document: document, model: model, task: schema.task.rawValue, schema: schemaText),
                                        facts: facts, entities: entities)
    }
}

public final class Extractor: @unchecked Sendable {
    public let model: any LanguageModel
    public let embedder: (any TextEmbedder)?
    let format: OneKEFormat
    let prompts: PromptLibrary
    private let bank: [BankSentence]
    private let parents: [String: String]
    // Guarded by `cacheLock`: one extractor serves concurrent requests (the server).
    private var priorCache: [String: [Float]] = [:]
    private var exampleCache: [String: [BankSentence]] = [:]
    private var termLabelCache: [String: Set<String>] = [:]
    private let cacheLock = NSLock()

    public init(model: any LanguageModel, embedder: (any TextEmbedder)? = nil, prompts: PromptLibrary? = nil) throws {
        self.model = model
        self.embedder = embedder
        self.format = try OneKEFormat.load()
        self.prompts = try prompts ?? PromptLibrary()
        (self.bank, self.parents) = try BankSentence.load()
    }

    /// Whether `model` is a OneKE model (its file or folder name says so).
    public static func isOneKE(_ model: any LanguageModel) -> Bool { model.name.lowercased().contains("oneke") }

    public func extract(_ text: String, schema: IESchema, options: ExtractionOptions,
                        progress: ((Int, Int) -> Void)? = nil) async throws -> ExtractionOutput {
        guard schema.task == options.task else {
            throw ExtractionError.invalidSchema("the schema was read for \(schema.task.rawValue) but the task is \(options.task.rawValue)")
        }
        var output = ExtractionOutput(result: IEResult(), spans: [], parseErrors: 0, warnings: [], modelCalls: 0)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            output.warnings.append("the input is empty: nothing to extract")
            return output
        }
        if let bad = Self.binaryReason(text) { throw ExtractionError.invalidInput(bad) }
        let length = text.unicodeScalars.count
        guard length <= options.maxInputCharacters else {
            throw ExtractionError.invalidInput("the text has \(length) characters, over the limit of \(options.maxInputCharacters): split it into documents (one per file or per JSON line) or raise the limit (--max-chars)")
        }
        let language = options.language ?? IELanguage.guess(text)
        let oneke = options.promptFormat == .oneke || (options.promptFormat == .auto && Self.isOneKE(model))
        let useSpanTyping = options.task == .ner && language == .en && model is any ContinuationScoring
            && (options.strategy == .typeSpans || (options.strategy == .auto && !oneke))
        if options.strategy == .typeSpans && !useSpanTyping {
            throw ExtractionError.unsupported("span typing needs English NER and a local model that scores continuations")
        }
        let windows = try windowsFitting(text, schema: schema, options: options, language: language, oneke: oneke)
        for (n, window) in windows.enumerated() {
            progress?(n, windows.count)
            var piece: IEResult
            if useSpanTyping {
                piece = try await typeSpans(in: window.text, schema: schema, options: options, output: &output)
            } else {
                piece = IEResult()
                for chunk in schema.chunks(size: format.chunkSize[options.task] ?? 4) {
                    piece.merge(try await generate(window.text, chunk: chunk, options: options, language: language,
                                                   oneke: oneke, output: &output))
                }
            }
            output.result.merge(piece)
            output.spans += locate(piece, in: window)
        }
        progress?(windows.count, windows.count)
        output.spans = Array(Set(output.spans)).sorted { ($0.start, $0.end, $0.label) < ($1.start, $1.end, $1.label) }
        return output
    }

    /// Why `text` looks like binary data rather than text, if it does.
    static func binaryReason(_ text: String) -> String? {
        var control = 0, total = 0
        for s in text.unicodeScalars.prefix(65_536) {
            total += 1
            if s.value == 0 { return "the input contains NUL bytes: it looks like a binary file, not text" }
            if s.value < 0x20 && s != "\n" && s != "\r" && s != "\t" { control += 1 }
            if s == "\u{FFFD}" { control += 1 }
        }
        return total > 0 && control * 10 > total ? "the input is mostly control characters or invalid UTF-8: it looks like binary data, not text" : nil
    }

    // MARK: windows

    /// Windows of `text` whose prompts fit the context with room for the answer.
    func windowsFitting(_ text: String, schema: IESchema, options: ExtractionOptions, language: IELanguage, oneke: Bool) throws -> [TextWindow] {
        let chunk = schema.chunks(size: format.chunkSize[options.task] ?? 4).max { $0.serialized().count < $1.serialized().count } ?? .array([])
        let overheadPrompt = try wrap(try format.userMessage(task: options.task, language: language, schema: chunk, input: ""),
                                      task: options.task, chunk: chunk, options: options, language: language, oneke: oneke)
        let overhead = try model.tokenizer.encode(overheadPrompt, addBOS: true, parseSpecial: true).count
        let budget = model.contextLength - overhead - options.maxTokens - 8
        guard budget >= 32 else {
            throw ExtractionError.invalidInput("the context (\(model.contextLength) tokens) leaves no room for text after a \(overhead)-token prompt and a \(options.maxTokens)-token answer: raise --ctx-size or lower --max-tokens")
        }
        var maxScalars = budget * (language == .zh ? 1 : 3)
        while true {
            let windows = TextSpans.windows(text, maxScalars: maxScalars)
            let longest = windows.map { (try? model.tokenizer.encode($0.text, addBOS: false, parseSpecial: false).count) ?? Int.max }.max() ?? 0
            if longest <= budget || maxScalars < 64 { return windows }
            maxScalars = maxScalars * 3 / 4
        }
    }

    func locate(_ result: IEResult, in window: TextWindow) -> [LocatedSpan] {
        let scalars = Array(window.text.unicodeScalars)
        var out: [LocatedSpan] = []
        func add(_ mention: String, _ label: String) {
            for r in TextSpans.occurrences(of: mention, in: scalars) {
                out.append(LocatedSpan(text: mention, label: label, start: window.offset + r.lowerBound, end: window.offset + r.upperBound))
            }
        }
        for e in result.entities { add(e.mention, e.type) }
        for r in result.relations { add(r.subject, r.relation + ".subject"); add(r.object, r.relation + ".object") }
        for e in result.events {
            add(e.trigger, e.type + ".trigger")
            for a in e.arguments { add(a.argument, e.type + "." + a.role) }
        }
        return out
    }

    // MARK: generation

    func wrap(_ message: String, task: IETask, chunk: JSONValue, options: ExtractionOptions, language: IELanguage, oneke: Bool) throws -> String {
        if oneke { return try render("oneke_chat", ["system": format.systemPrompt, "message": message]) }
        var examples: [[String: Any]] = []
        if task == .ner && language == .en {
            let labels = IESchema.items(ofChunk: chunk).compactMap(IESchema.name(of:))
            for sentence in try examplesFor(labels: labels, count: options.exampleCount) {
                let example = try format.userMessage(task: task, language: language, schema: chunk, input: sentence.text)
                var answer: [(key: String, value: JSONValue)] = labels.map { ($0, .array([])) }
                for (span, label) in sentence.mapped where label != BankSentence.none {
                    if let i = answer.firstIndex(where: { $0.key == label }) {
                        answer[i].value = .array((answer[i].value.arrayValue ?? []) + [.string(span)])
                    }
                }
                examples.append(["message": example, "output": JSONValue.object(answer).serialized(itemSeparator: ", ", keySeparator: ": ")])
            }
        }
        return try render("oneke_fewshot", ["examples": examples, "message": message])
    }

    func render(_ name: String, _ context: [String: Any]) throws -> String {
        var text = try prompts.render(name, context)
        while text.hasSuffix("\n") && name != "oneke_fewshot" { text.removeLast() }
        return text
    }

    func generate(_ text: String, chunk: JSONValue, options: ExtractionOptions, language: IELanguage, oneke: Bool,
                  output: inout ExtractionOutput) async throws -> IEResult {
        let message = try format.userMessage(task: options.task, language: language, schema: chunk, input: text)
        let prompt = try wrap(message, task: options.task, chunk: chunk, options: options, language: language, oneke: oneke)
        var parameters = GenerateParameters.greedy(maxTokens: options.maxTokens)
        var processors: [any LogitsProcessor] = []
        var constraint: GrammarConstraint?
        if options.grammar, let local = model as? any LocalLanguageModel {
            let schema = OutputSchema.jsonSchema(task: options.task, chunk: chunk, copyFromInput: options.copyFromInput)
            let grammar = try JSONSchemaGrammar.compile(schema, options: JSONSchemaOptions(input: options.copyFromInput ? text : nil))
            constraint = GrammarConstraint(grammar: grammar, trie: local.vocabularyTrie)
            processors.append(constraint!)
        } else {
            if options.grammar {
                // A remote model: the server is asked to hold the answer to the task's JSON
                // Schema (mentions cannot be tied to the input there).
                parameters.remoteJSONSchema = OutputSchema.jsonSchema(task: options.task, chunk: chunk, copyFromInput: false).serialized()
            }
            if !oneke { parameters.stop = ["\n###", "\n\n"] }
        }
        var answer = try await model.complete(prompt: prompt, parameters: parameters, processors: processors)
        output.modelCalls += 1
        // An answer the token limit cut off is closed the shortest way the grammar allows, so
        // what was extracted before the cut is kept.
        if let constraint, answer.stopReason == .length, !constraint.engine.isAccepting(constraint.state),
           let tail = constraint.engine.shortestCompletion(from: constraint.state) {
            answer.text += String(decoding: tail, as: UTF8.self)
            output.warnings.append("an answer reached the \(options.maxTokens)-token limit and was closed early: raise --max-tokens to get all of it")
        }
        do {
            let parsed = try OneKEOutput.parse(answer.text, task: options.task)
            let allowed = Set(IESchema.items(ofChunk: chunk).compactMap(IESchema.name(of:)))
            var kept = IEResult()
            kept.entities = parsed.entities.filter { options.task == .kg || allowed.contains($0.type) }
            kept.relations = parsed.relations.filter { options.task == .kg || allowed.contains($0.relation) }
            kept.events = parsed.events.filter { allowed.contains($0.type) }
            return kept
        } catch {
            output.parseErrors += 1
            let cut = answer.stopReason == .length ? " (cut off by the \(options.maxTokens)-token limit)" : ""
            output.warnings.append("an answer was not JSON\(cut); its chunk gives nothing: \(answer.text.prefix(120))")
            return IEResult()
        }
    }

    // MARK: span typing

    func typeSpans(in text: String, schema: IESchema, options: ExtractionOptions, output: inout ExtractionOutput) async throws -> IEResult {
        guard let scorer = model as? any ContinuationScoring else { return IEResult() }
        let labels = schema.names
        var proposer = SpanProposer()
        proposer.knownNames = options.knownNames
        let tokenizer = model.tokenizer
        proposer.isOrdinaryWord = { word in
            // Capitalised only by position: a dictionary word, which this vocabulary of 100k+
            // pieces spells as one lower-case token.
            let lower = word.lowercased()
            guard word.dropFirst() == lower.dropFirst(), lower.allSatisfy(\.isLetter),
                  let ids = try? tokenizer.encode(" " + lower, addBOS: false, parseSpecial: false) else { return false }
            return ids.count == 1
        }
        let scalars = Array(text.unicodeScalars)
        // Names first, longest first; then lower-case terms that overlap no accepted name.
        let names = proposer.propose(text).sorted { $0.count > $1.count }
        let terms = options.lowercaseTerms != .off ? proposer.proposeTerms(text).sorted { $0.count > $1.count } : []
        let termLabels = options.lowercaseTerms == .typed && !terms.isEmpty ? try termLabels(labels: labels) : Set(labels)
        let candidates = names.map { ($0, false) } + terms.map { ($0, true) }
        guard !candidates.isEmpty else { return IEResult() }
        let examples = try examplesFor(labels: labels, count: options.exampleCount)
        let choices = (labels + [BankSentence.none]).map { " " + $0 }
        let prior = options.calibrate ? try await prior(labels: labels, examples: examples, scorer: scorer) : nil
        var accepted: [(Range<Int>, String)] = []
        for (span, isTerm) in candidates {
            if accepted.contains(where: { isTerm ? $0.0.overlaps(span) : $0.0.lowerBound <= span.lowerBound && span.upperBound <= $0.0.upperBound }) { continue }
            let mention = String(String.UnicodeScalarView(scalars[span]))
            let prompt = try choosePrompt(labels: labels, examples: examples, text: text, span: mention)
            if !options.grammar {
                // Unconstrained: the model writes the type itself; an answer that is no label
                // and not "none" counts as a parse error (what the constrained choice avoids).
                guard let label = try await freeType(prompt: prompt, labels: labels, output: &output) else { continue }
                if isTerm && !termLabels.contains(label) { continue }
                accepted.append((span, label))
                continue
            }
            var scores = try await scorer.logProbabilities(of: choices, after: prompt)
            output.modelCalls += 1
            if let prior { scores = zip(scores, prior).map { $0 - options.calibrationWeight * $1 } }
            guard let best = scores.indices.max(by: { scores[$0] < scores[$1] }), best < labels.count else { continue }
            if isTerm && (scores[best] - scores[labels.count] < options.termMargin || !termLabels.contains(labels[best])) { continue }
            accepted.append((span, labels[best]))
        }
        accepted.sort { $0.0.lowerBound < $1.0.lowerBound }
        var result = IEResult()
        for (span, label) in accepted {
            result.merge(IEResult(entities: [.init(mention: String(String.UnicodeScalarView(scalars[span])), type: label)]))
        }
        return result
    }

    /// The type the model writes after `prompt` with no constraint (greedy, one line), or nil
    /// for "none" and for an answer that names no label (counted as a parse error).
    func freeType(prompt: String, labels: [String], output: inout ExtractionOutput) async throws -> String? {
        var parameters = GenerateParameters.greedy(maxTokens: 12)
        parameters.stop = ["\n"]
        let answer = try await model.complete(prompt: prompt, parameters: parameters, processors: [])
        output.modelCalls += 1
        let written = answer.text.trimmingCharacters(in: .whitespaces).lowercased()
        if written == BankSentence.none { return nil }
        if let label = labels.first(where: { $0.lowercased() == written }) { return label }
        output.parseErrors += 1
        output.warnings.append("a span's type was not one of the schema's labels: \(written.prefix(60))")
        return nil
    }

    func choosePrompt(labels: [String], examples: [BankSentence], text: String, span: String) throws -> String {
        try render("extraction_choose.en", [
            "types": labels.joined(separator: ", "),
            "examples": examples.map { e in ["text": e.text, "lines": e.mapped.map { ["span": $0.0, "type": $0.1] }] as [String: Any] },
            "text": text, "span": span,
        ])
    }

    /// Each type's log-probability with no text to go on: what the model says by habit.
    func prior(labels: [String], examples: [BankSentence], scorer: any ContinuationScoring) async throws -> [Float] {
        let key = labels.joined(separator: "\u{1}")
        if let cached = cacheLock.withLock({ priorCache[key] }) { return cached }
        let prompt = try choosePrompt(labels: labels, examples: examples, text: "N/A", span: "N/A")
        let prior = try await scorer.logProbabilities(of: (labels + [BankSentence.none]).map { " " + $0 }, after: prompt)
        cacheLock.withLock { priorCache[key] = prior }
        return prior
    }

    /// Worked examples for a schema: the bundled sentences with their types mapped onto the
    /// schema's labels — a type maps to the label with its name, or (with an embedder) the label
    /// whose name means nearly the same, else its broader type is tried ("novelist" → "writer"
    /// → "person"); spans whose types map to nothing are shown as "none". Sentences are chosen
    /// greedily to show as many of the schema's labels as possible, plus one sentence with a
    /// "none" line.
    func examplesFor(labels: [String], count: Int) throws -> [BankSentence] {
        let key = labels.joined(separator: "\u{1}") + "#\(count)"
        if let cached = cacheLock.withLock({ exampleCache[key] }) { return cached }
        let mapping = try typeMapping(labels: labels)
        let mapped = bank.map { sentence -> BankSentence in
            var s = sentence
            s.mapped = sentence.entities.map { ($0.name, mapping[$0.type] ?? BankSentence.none) }
            return s
        }
        func shown(_ s: BankSentence) -> Set<String> { Set(s.mapped.map(\.1).filter { $0 != BankSentence.none }) }
        var chosen: [BankSentence] = []
        var covered = Set<String>()
        while chosen.count < max(0, count - 1) {
            let best = mapped.enumerated()
                .filter { c in !chosen.contains { $0.text == c.element.text } && !shown(c.element).isEmpty }
                .max { a, b in
                    (shown(a.element).subtracting(covered).count, shown(a.element).count, -a.offset)
                        < (shown(b.element).subtracting(covered).count, shown(b.element).count, -b.offset)
                }
            guard let best else { break }
            chosen.append(best.element)
            covered.formUnion(shown(best.element))
        }
        // One sentence whose lines include "none", so that "none" is a seen answer.
        if count > 0, !chosen.contains(where: { $0.mapped.contains { $0.1 == BankSentence.none } }),
           let negative = mapped.first(where: { s in s.mapped.contains { $0.1 == BankSentence.none } && !chosen.contains { $0.text == s.text } }) {
            chosen.append(negative)
        }
        cacheLock.withLock { exampleCache[key] = chosen }
        return chosen
    }

    /// The labels a lower-case term may take: those whose bundled example mentions are all
    /// lower-case ("cello" for an instrument label), or that no bundled example maps onto. A
    /// label the examples show only as capitalised names (person, album) takes names only.
    /// Cached per schema like the examples (the mapping embeds every type name).
    func termLabels(labels: [String]) throws -> Set<String> {
        let key = labels.joined(separator: "\u{1}")
        if let cached = cacheLock.withLock({ termLabelCache[key] }) { return cached }
        let mapping = try typeMapping(labels: labels)
        var capitalised = Set<String>()
        for entity in bank.flatMap(\.entities) {
            guard let label = mapping[entity.type], label != BankSentence.none,
                  let first = entity.name.unicodeScalars.first(where: { CharacterSet.letters.contains($0) }) else { continue }
            if !CharacterSet.lowercaseLetters.contains(first) { capitalised.insert(label) }
        }
        let result = Set(labels.filter { !capitalised.contains($0) })
        cacheLock.withLock { termLabelCache[key] = result }
        return result
    }

    /// The worked examples span typing would show for `labels`, as prompt text (for `--verbose`).
    public func exampleLines(labels: [String], count: Int) throws -> [String] {
        try examplesFor(labels: labels, count: count).flatMap { e in ["Text: \(e.text)"] + e.mapped.map { "  \($0.0) => \($0.1)" } }
    }

    /// Each bundled type's label in the user's schema ("none" when it has no counterpart).
    func typeMapping(labels: [String]) throws -> [String: String] {
        func ancestors(_ type: String) -> [String] {
            var out: [String] = []
            var t = parents[type]
            while let current = t, !out.contains(current), out.count < 8 { out.append(current); t = parents[current] }
            return out
        }
        var types = Set<String>()
        for type in bank.flatMap({ $0.entities.map(\.type) }) where type != BankSentence.none {
            types.insert(type)
            types.formUnion(ancestors(type))
        }
        let ordered = types.sorted()
        let lowerLabels = labels.map { $0.lowercased() }
        var direct: [String: String] = [:]
        var vectors: [String: [Float]] = [:]
        if let embedder {
            for (name, v) in zip(ordered + labels, try embedder.embed(ordered + labels)) { vectors[name] = v }
        }
        func similarity(_ x: String, _ y: String) -> Float {
            guard let a = vectors[x], let b = vectors[y] else { return -1 }
            return zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        }
        // A type stands for a label by name, or when each is the other's nearest by meaning
        // (up to finer or broader types of the same line: "musician" and "singer" both stand
        // for "musical artist"), so "country" does not become "city" just because the schema
        // has no country: it falls back to its broader type instead.
        func sameLine(_ a: String, _ b: String) -> Bool { a == b || ancestors(a).contains(b) || ancestors(b).contains(a) }
        for type in ordered {
            if let exact = lowerLabels.firstIndex(of: type) { direct[type] = labels[exact]; continue }
            guard vectors[type] != nil, let label = labels.max(by: { similarity(type, $0) < similarity(type, $1) }),
                  !lowerLabels.contains(where: { ordered.contains($0) && $0 == label.lowercased() }),
                  similarity(type, label) >= BankSentence.mappingThreshold,
                  let nearest = ordered.max(by: { similarity(label, $0) < similarity(label, $1) }), sameLine(nearest, type) else { continue }
            direct[type] = label
        }
        var mapping: [String: String] = [BankSentence.none: BankSentence.none]
        for type in ordered {
            var t: String? = type
            var hops = 0
            while let current = t, direct[current] == nil, hops < 8 { t = parents[current]; hops += 1 }
            mapping[type] = t.flatMap { direct[$0] } ?? BankSentence.none
        }
        return mapping
    }
}

/// A bundled example sentence (`Prompts/extraction_examples.en.json`, written for this project)
/// with generic entity types, mapped onto each user schema.
struct BankSentence: Sendable {
    struct Entity: Sendable { var name: String; var type: String }
    var text: String
    var entities: [Entity]
    var mapped: [(String, String)] = []

    static let none = "none"
    /// Cosine similarity of MiniLM type-name embeddings above which a bundled type stands for a
    /// schema label.
    static let mappingThreshold: Float = 0.6

    /// The bundled sentences and the type hierarchy (finer type → broader type).
    static func load() throws -> (sentences: [BankSentence], parents: [String: String]) {
        let data = try PromptLibrary.resource(named: "extraction_examples.en.json")
        guard let text = String(data: data, encoding: .utf8), let root = try? JSONValue.parse(text),
              let list = root["sentences"]?.arrayValue else {
            throw ExtractionError.invalidData("extraction_examples.en.json is not {\"parents\", \"sentences\"}")
        }
        var parents: [String: String] = [:]
        for (child, parent) in root["parents"]?.objectValue ?? [] { parents[child] = parent.stringValue }
        let sentences = list.compactMap { item -> BankSentence? in
            guard let text = item["text"]?.stringValue else { return nil }
            let entities = (item["entities"]?.arrayValue ?? []).compactMap { e -> Entity? in
                guard let n = e["name"]?.stringValue, let t = e["type"]?.stringValue else { return nil }
                return Entity(name: n, type: t)
            }
            return BankSentence(text: text, entities: entities)
        }
        return (sentences, parents)
    }
}
