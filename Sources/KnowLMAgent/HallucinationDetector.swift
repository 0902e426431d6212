import Foundation
import KnowLMCore
import KnowLMKnowledge

/// A claim's verdict.
public enum ClaimLabel: String, Sendable, Codable {
    case supported
    case contradicted
    case insufficientEvidence = "insufficient_evidence"
}

/// One checked claim.
public struct ClaimVerdict: Sendable, Codable, Equatable {
    public var text: String
    public var label: ClaimLabel
    /// Ids of the evidence used: `passage:<chunk id>`, `fact:<subject | relation | object>`, `computed`.
    public var evidence: [String]
    public var reason: String
    /// The signals the label came from (for tuning and for `--json` readers who want them).
    public var scores: [String: Double]
}

/// The verdict on a whole response: a hallucination when any claim is contradicted or has no
/// supporting evidence.
public struct Verification: Sendable, Codable, Equatable {
    public var responseLabel: String
    public var claims: [ClaimVerdict]

    public var isHallucination: Bool { responseLabel == "hallucination" }

    enum CodingKeys: String, CodingKey { case responseLabel = "response_label", claims }

    /// Compact JSON (keys sorted), the shape `knowlm detect --json` prints.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// Settings of the detector; the weights and threshold were chosen on HaluEval QA rows 0–999
/// (the development split; see BENCHMARKS.md), never on the rows reported.
public struct DetectorOptions: Sendable {
    /// Passages retrieved per claim.
    public var passages = 2
    /// Facts of the graph shown per claim.
    public var facts = 4
    /// Score = lexical support · wLexical + agreement with the evidence-based answer · wAgree
    /// + evidence lift of the claim's log-probability · wLift; supported at or above `threshold`.
    /// Chosen on rows 0–99 by `Benchmarks/eval_halueval.py --tune` (77.0% there; the lift did
    /// not help, so it is not computed by default).
    public var weightLexical = 1.0
    public var weightAgreement = 0.5
    public var weightLift = 0.0
    public var threshold = 1.0
    /// Below this lexical relevance of the best evidence to the question, a claim that is not
    /// supported is `insufficient_evidence` rather than `contradicted`.
    public var relevance = 0.34
    /// Use the model (the evidence-based answer and the log-probability lift). Without it only
    /// lexical support decides.
    public var useModel = true
    public init() {}
}

/// EasyDetect-style verification: the response is split into short self-contained claims; for
/// each, evidence is gathered from the graph (facts about the entities it names) and the
/// passages (hybrid retrieval); the model answers the question from that evidence first, and
/// the claim is compared with that answer, with the evidence itself (lexical support) and by
/// how much the evidence raises the claim's probability. Deciding by comparison and scoring —
/// not by asking a small model "is this supported?", which is no better than chance.
public final class HallucinationDetector: @unchecked Sendable {
    public let retriever: Retriever
    public let model: (any LanguageModel & ContinuationScoring)?
    public var options: DetectorOptions
    private var answerCache: [String: String] = [:]
    private let lock = NSLock()

    public init(retriever: Retriever, model: (any LanguageModel & ContinuationScoring)?, options: DetectorOptions = DetectorOptions()) {
        self.retriever = retriever
        self.model = model
        self.options = options
    }

    public func verify(question: String, answer: String) async throws -> Verification {
        let claims = Self.claims(of: answer)
        guard !claims.isEmpty else {
            return Verification(responseLabel: "hallucination", claims: [
                ClaimVerdict(text: answer, label: .insufficientEvidence, evidence: [], reason: "the answer states nothing to check", scores: [:]),
            ])
        }
        var verdicts: [ClaimVerdict] = []
        for claim in claims { verdicts.append(try await verify(claim: claim, question: question)) }
        let hallucinated = verdicts.contains { $0.label != .supported }
        return Verification(responseLabel: hallucinated ? "hallucination" : "non-hallucination", claims: verdicts)
    }

    /// Sentences of the answer, each a claim; a short answer (a name, a number) is one claim
    /// read together with the question.
    public static func claims(of answer: String) -> [String] {
        let text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return [] }
        var claims: [String] = []
        var current = ""
        let chars = Array(text)
        for (i, c) in chars.enumerated() {
            current.append(c)
            let next = i + 1 < chars.count ? chars[i + 1] : " "
            let previousWord = current.split(separator: " ").last.map(String.init) ?? ""
            if ".!?。！？".contains(c) && (next == " " || next == "\n" || "。！？".contains(c)),
               !(c == "." && previousWord.first?.isUppercase == true
                 && (previousWord.count <= 3 || previousWord.dropLast().contains("."))) {  // "Dr.", "U.S."
                claims.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { claims.append(current.trimmingCharacters(in: .whitespaces)) }
        return claims.filter { $0.rangeOfCharacter(from: .alphanumerics) != nil }
    }

    struct Evidence {
        var id: String
        var text: String
    }

    /// The knowledge retrieval of `ask` for the question (facts of the graph, a computed
    /// answer, passages); when that finds nothing, the same for the claim. The first part
    /// depends on the question only, so answers to one question share it.
    func gatherEvidence(claim: String, question: String) throws -> (question: [Evidence], claim: [Evidence]) {
        var seen = Set<String>()
        func items(_ context: KnowledgeContext) -> [Evidence] {
            var evidence: [Evidence] = []
            if let computed = context.computed, seen.insert("computed").inserted {
                evidence.append(Evidence(id: "computed", text: computed.answer))
            }
            for fact in context.facts.prefix(options.facts) where seen.insert(fact.text).inserted {
                evidence.append(Evidence(id: "fact:" + fact.text, text: fact.text))
            }
            for passage in context.passages.prefix(options.passages) {
                guard let hit = passage.passage, seen.insert("p\(hit.chunkID)").inserted else { continue }
                evidence.append(Evidence(id: "passage:\(hit.chunkID)", text: hit.text.replacingOccurrences(of: "\n", with: " ")))
            }
            return evidence
        }
        let subject = question.trimmingCharacters(in: .whitespacesAndNewlines)
        let first = items(try retriever.retrieve(subject.isEmpty ? claim : subject))
        let second = first.isEmpty && !subject.isEmpty ? items(try retriever.retrieve(claim)) : []
        return (first, second)
    }

    func verify(claim: String, question: String) async throws -> ClaimVerdict {
        let gathered = try gatherEvidence(claim: claim, question: question)
        // What the question retrieves is the evidence; what the claim alone retrieves is used
        // only when the question finds nothing (retrieving by the claim's own words finds
        // passages that mention whatever it names, true or not).
        let evidence = gathered.question.isEmpty ? gathered.claim : gathered.question
        guard !evidence.isEmpty else {
            return ClaimVerdict(text: claim, label: .insufficientEvidence, evidence: [],
                                reason: "nothing in the knowledge base is about this", scores: [:])
        }
        let evidenceWords = Self.contentWords(evidence.map(\.text).joined(separator: " "))
        func found(_ word: String) -> Bool { evidenceWords.contains { Self.sameWord($0, word) } }
        let questionWords = Set(Self.contentWords(question))
        // What the claim adds to the question must be found in the evidence; a claim that only
        // repeats the question's words (choosing between two things it names) is not decided
        // by words.
        let claimWords = Self.contentWords(claim).filter { !questionWords.contains($0) }
        let lexical = claimWords.isEmpty ? 0.5 : Double(claimWords.filter(found).count) / Double(claimWords.count)
        let relevance = questionWords.isEmpty ? 1.0 : Double(questionWords.filter(found).count) / Double(questionWords.count)
        var scores: [String: Double] = ["lexical": lexical, "relevance": relevance]
        var own: String?
        let context = evidence.map(\.text).joined(separator: "\n")
        let prompt = "Evidence:\n\(context)\nQuestion: \(question.isEmpty ? "What is true here?" : question)\nAnswer:"
        if options.useModel, let model {
            let answer = try await evidenceAnswer(prompt: prompt, model: model)
            own = answer
            scores["agreement"] = Self.tokenF1(answer, claim)
        }
        if options.useModel, options.weightLift != 0, let model {
            // How much more likely the claim is with the evidence than without (per token).
            let bare = "Question: \(question)\nAnswer:"
            let continuation = " " + claim
            let tokens = max(1, (try? model.tokenizer.encode(continuation, addBOS: false, parseSpecial: false).count) ?? 1)
            let with = try await model.logProbabilities(of: [continuation], after: prompt)[0]
            let without = try await model.logProbabilities(of: [continuation], after: bare)[0]
            scores["lift"] = Double(with - without) / Double(tokens)
        }
        let score = lexical * options.weightLexical + (scores["agreement"] ?? 0) * options.weightAgreement
            + (scores["lift"] ?? 0) * options.weightLift
        scores["score"] = score
        let ids = evidence.map(\.id)
        if score >= options.threshold || (!options.useModel && lexical >= 0.999) {
            return ClaimVerdict(text: claim, label: .supported, evidence: ids,
                                reason: lexical >= 0.999 ? "the evidence states it" : "the evidence points to the same answer\(own.map { " (\($0))" } ?? "")",
                                scores: scores)
        }
        if relevance >= options.relevance {
            return ClaimVerdict(text: claim, label: .contradicted, evidence: ids,
                                reason: "the evidence is about this but says otherwise\(own.map { " (it gives: \($0))" } ?? "")",
                                scores: scores)
        }
        return ClaimVerdict(text: claim, label: .insufficientEvidence, evidence: ids,
                            reason: "the evidence found does not address the claim", scores: scores)
    }

    /// The model's own short answer from the evidence, cached per prompt (the right and the
    /// hallucinated answer of one question share it).
    func evidenceAnswer(prompt: String, model: any LanguageModel) async throws -> String {
        if let cached = lock.withLock({ answerCache[prompt] }) { return cached }
        var parameters = GenerateParameters.greedy(maxTokens: 24)
        parameters.stop = ["\n"]
        let text = try await model.complete(prompt: prompt, parameters: parameters).text.trimmingCharacters(in: .whitespaces)
        lock.withLock {
            if answerCache.count > 256 { answerCache.removeAll() }
            answerCache[prompt] = text
        }
        return text
    }

    static func contentWords(_ text: String) -> [String] {
        QuestionAnalysis.words(text).filter { !$0.isFunctionWord }.map(\.text)
    }

    /// Same word up to inflection: equal, or sharing a prefix of at least five letters that
    /// covers all but three letters of both.
    static func sameWord(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        let common = zip(a, b).prefix { $0 == $1 }.count
        return common >= 5 && a.count - common <= 3 && b.count - common <= 3
    }

    /// Token-overlap F1 of two short answers (SQuAD style, content words).
    static func tokenF1(_ a: String, _ b: String) -> Double {
        let x = contentWords(a), y = contentWords(b)
        guard !x.isEmpty, !y.isEmpty else { return 0 }
        var pool = y
        var common = 0
        for w in x { if let i = pool.firstIndex(where: { sameWord($0, w) }) { common += 1; pool.remove(at: i) } }
        guard common > 0 else { return 0 }
        let p = Double(common) / Double(x.count), r = Double(common) / Double(y.count)
        return 2 * p * r / (p + r)
    }
}
