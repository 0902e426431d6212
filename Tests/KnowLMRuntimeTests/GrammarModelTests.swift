import Foundation
import KnowLMCore
import Testing
@testable import KnowLMRuntime

/// Generation under grammars with the real default model: every output is a complete string
/// of the grammar, whatever the model would have preferred.
@Suite(.serialized) struct GrammarModelTests {
    static let schemas = [
        #"{"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}, "population": {"type": "integer"}, "capital": {"type": "boolean"}}, "required": ["city", "population", "capital"]}"#,
        #"{"type": "object", "properties": {"person": {"type": "array", "items": {"type": "string"}, "maxItems": 3}, "location": {"type": "array", "items": {"type": "string"}, "maxItems": 3}}, "required": ["person", "location"]}"#,
        #"{"type": "object", "properties": {"name": {"enum": ["get_weather", "search"]}, "arguments": {"type": "object", "properties": {"query": {"type": "string", "maxLength": 30}, "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["query"]}}, "required": ["name", "arguments"]}"#,
    ]

    @Test func greedyAndSampledOutputsMatchTheSchema() throws {
        let llm = try Fixtures.defaultModel()
        for (i, schema) in Self.schemas.enumerated() {
            let engine = GrammarEngine(grammar: try JSONSchemaGrammar.compile(schema), trie: llm.vocabularyTrie)
            for temperature: Float in [0, 0.9] {
                var p = GenerateParameters()
                p.temperature = temperature
                p.seed = UInt64(i + 1)
                p.maxTokens = 200
                let prompt = "Marie Curie was born in Warsaw and worked in Paris.\nJSON: "
                let tokens = try llm.tokenizer.encode(prompt, addBOS: true, parseSpecial: false)
                let result = try llm.generate(tokens: tokens, parameters: p, processors: [GrammarConstraint(engine: engine)])
                #expect(result.stopReason == .complete || result.stopReason == .endOfSequence, "\(result.stopReason): \(result.text)")
                #expect(engine.matches(Array(result.text.utf8)), "schema \(i), temp \(temperature): \(result.text)")
                #expect((try? JSONValue.parse(result.text)) != nil, "\(result.text)")
            }
        }
    }

    /// A token limit that falls mid-output still gives text that parses: near the limit the
    /// grammar refuses tokens after which it could not be closed in time.
    @Test func outputCutByTheTokenLimitStillParses() throws {
        let llm = try Fixtures.defaultModel()
        let schema = #"{"type": "object", "properties": {"query": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["query", "tags"]}"#
        let engine = GrammarEngine(grammar: try JSONSchemaGrammar.compile(schema), trie: llm.vocabularyTrie)
        let prompt = "Write a very long search query about the history of the Roman empire as JSON: "
        for limit in [20, 28, 40] {
            let result = try llm.generate(tokens: try llm.tokenizer.encode(prompt, addBOS: true, parseSpecial: false),
                                          parameters: .greedy(maxTokens: limit), processors: [GrammarConstraint(engine: engine)])
            #expect(result.tokens.count <= limit)
            #expect(engine.matches(Array(result.text.utf8)), "limit \(limit): \(result.text)")
        }
    }

    @Test func copyConstraintKeepsMentionsInTheInput() throws {
        let llm = try Fixtures.defaultModel()
        let input = "Ada Lovelace worked with Charles Babbage in London."
        let schema = #"{"type": "object", "properties": {"person": {"type": "array", "items": {"type": "string", "x-copy-from-input": true}, "maxItems": 2}}, "required": ["person"]}"#
        let engine = GrammarEngine(grammar: try JSONSchemaGrammar.compile(schema, options: JSONSchemaOptions(input: input)),
                                   trie: llm.vocabularyTrie)
        let prompt = "Text: \(input)\nPeople as JSON: "
        let result = try llm.generate(tokens: try llm.tokenizer.encode(prompt, addBOS: true, parseSpecial: false),
                                      parameters: .greedy(maxTokens: 80), processors: [GrammarConstraint(engine: engine)])
        let value = try JSONValue.parse(result.text)
        let people = value["person"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for person in people { #expect(input.contains(person), "\(person) is not in the input") }
    }

    @Test func beamSearchHonoursTheGrammar() throws {
        let llm = try Fixtures.defaultModel()
        let engine = GrammarEngine(grammar: try GBNF.compile(#"root ::= ("yes" | "no") "." "#), trie: llm.vocabularyTrie)
        var p = GenerateParameters.greedy(maxTokens: 10)
        p.numBeams = 3
        let result = try llm.generate(tokens: try llm.tokenizer.encode("Is Paris in France? Answer:", addBOS: true, parseSpecial: false),
                                      parameters: p, processors: [GrammarConstraint(engine: engine)])
        #expect(["yes.", "no."].contains(result.text), "\(result.text)")
    }

    @Test func logprobsComeWithEveryToken() throws {
        let llm = try Fixtures.defaultModel()
        var p = GenerateParameters.greedy(maxTokens: 4)
        p.logprobs = 3
        let result = try llm.generate(tokens: try llm.tokenizer.encode("The capital of France is", addBOS: true, parseSpecial: false), parameters: p)
        #expect(result.logprobs.count == result.tokens.count)
        for lp in result.logprobs {
            #expect(lp.top.count == 3)
            #expect(lp.logprob <= 0 && lp.logprob.isFinite)
            #expect(lp.top[0].logprob >= lp.logprob - 1e-4)  // greedy: the chosen token is the top one
        }
    }
}
