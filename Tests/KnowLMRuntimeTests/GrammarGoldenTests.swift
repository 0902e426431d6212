import Foundation
import KnowLMCore
import Testing
@testable import KnowLMRuntime

/// The engine accepts exactly the strings llguidance accepts, for every committed JSON Schema
/// and GBNF grammar (goldens by scripts/golden/grammar_goldens.py).
@Suite struct GrammarGoldenTests {
    struct Case: Decodable {
        let grammar: String
        let kind: String
        let text: String
        let accept: Bool
    }

    @Test func acceptsExactlyWhatLlguidanceAccepts() throws {
        let lines = try String(contentsOf: Fixtures.url("grammar/goldens.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.isEmpty }
        let decoder = JSONDecoder()
        let cases = try lines.map { try decoder.decode(Case.self, from: Data($0.utf8)) }
        #expect(cases.count >= 5000)
        let trie = VocabularyTrie(tokenizer: ByteTokenizer())
        var engines: [String: GrammarEngine] = [:]
        var mismatches: [String: [String]] = [:]
        for c in cases {
            let engine: GrammarEngine
            if let e = engines[c.grammar] { engine = e } else {
                let source = try String(contentsOf: Fixtures.url("grammar/\(c.grammar)"), encoding: .utf8)
                let compiled = c.kind == "gbnf" ? try GBNF.compile(source) : try JSONSchemaGrammar.compile(source)
                engine = GrammarEngine(grammar: compiled, trie: trie)
                engines[c.grammar] = engine
            }
            if engine.matches(Array(c.text.utf8)) != c.accept {
                mismatches[c.grammar, default: []].append("\(c.accept ? "rejected" : "accepted") \(JSONValue.quote(c.text))")
            }
        }
        #expect(engines.count >= 40)
        for (grammar, list) in mismatches.sorted(by: { $0.key < $1.key }) {
            Issue.record("\(grammar): \(list.count) disagreements with llguidance, e.g. \(list.prefix(3).joined(separator: "; "))")
        }
    }
}
