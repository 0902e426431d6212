import KnowLMCore

/// Makes the output start with one of several token sequences; the model's own probabilities
/// choose which, token by token, and decoding is free once one is complete. This is what
/// `GenerateParameters.startsWithOneOf` does (knowledge QA opens its answer with a citation).
public final class PrefixChoiceProcessor: LogitsProcessor, @unchecked Sendable {
    // @unchecked: used by one generation at a time (see LogitsProcessor).
    private var openings: [[TokenID]]
    private var step = 0

    /// `openings`: the allowed token sequences (empty ones are ignored).
    public init(openings: [[TokenID]]) {
        self.openings = openings.filter { !$0.isEmpty }
    }

    /// Tokenizes each string on its own (no BOS, control tokens spelled out).
    public convenience init(strings: [String], tokenizer: any Tokenizer) throws {
        try self.init(openings: strings.filter { !$0.isEmpty }.map {
            try tokenizer.encode($0, addBOS: false, parseSpecial: false)
        })
    }

    public func process(_ logits: inout TokenLogits) throws {
        guard !openings.isEmpty else { return }
        logits.restrict(to: openings.compactMap { step < $0.count ? $0[step] : nil })
    }

    public func accept(_ token: TokenID) throws {
        guard !openings.isEmpty else { return }
        openings = openings.filter { step < $0.count && $0[step] == token }
        step += 1
        if openings.contains(where: { $0.count == step }) { openings = [] }  // one completed: free from here
    }

    /// Never stops generation: after the opening, decoding is free.
    public var isFinished: Bool { false }

    public func copy() -> any LogitsProcessor {
        let c = PrefixChoiceProcessor(openings: openings)
        c.step = step
        return c
    }
}
