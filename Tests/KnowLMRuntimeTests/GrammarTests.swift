import Foundation
import KnowLMCore
import Testing
@testable import KnowLMRuntime

/// A vocabulary of the 256 single bytes plus an end token: token masks are then exactly the
/// sets of allowed next bytes, which makes the engine's answers easy to check.
final class ByteTokenizer: Tokenizer, @unchecked Sendable {
    var vocabularySize: Int { 257 }
    var bosID: TokenID? { nil }
    var eosID: TokenID? { 256 }
    var addsBOS: Bool { false }
    var endOfGenerationIDs: Set<TokenID> { [256] }
    func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) throws -> [TokenID] { text.utf8.map { TokenID($0) } }
    func bytes(for token: TokenID, renderSpecial: Bool) -> [UInt8] { token < 256 ? [UInt8(token)] : [] }
}

/// Several tokens per text, with shared prefixes, like a real vocabulary.
final class WordTokenizer: Tokenizer, @unchecked Sendable {
    let pieces: [[UInt8]]
    init(_ pieces: [String]) { self.pieces = (0..<256).map { [UInt8($0)] } + pieces.map { Array($0.utf8) } + [[]] }
    var vocabularySize: Int { pieces.count }
    var bosID: TokenID? { nil }
    var eosID: TokenID? { TokenID(pieces.count - 1) }
    var addsBOS: Bool { false }
    var endOfGenerationIDs: Set<TokenID> { [TokenID(pieces.count - 1)] }
    func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) throws -> [TokenID] { text.utf8.map { TokenID($0) } }
    func bytes(for token: TokenID, renderSpecial: Bool) -> [UInt8] { pieces[Int(token)] }
}

private let byteTrie = VocabularyTrie(tokenizer: ByteTokenizer())

private func engine(schema: String, input: String? = nil) throws -> GrammarEngine {
    GrammarEngine(grammar: try JSONSchemaGrammar.compile(schema, options: JSONSchemaOptions(input: input)), trie: byteTrie)
}

private func engine(gbnf: String) throws -> GrammarEngine {
    GrammarEngine(grammar: try GBNF.compile(gbnf), trie: byteTrie)
}

private func grammarError(_ body: () throws -> Any) -> String? {
    do { _ = try body(); return nil } catch { return error.localizedDescription }
}

@Suite struct GrammarTests {
    @Test func jsonSchemaWhitespaceOrderAndOptionalProperties() throws {
        let e = try engine(schema: """
        {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
         "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}, "required": ["name"]}
        """)
        #expect(e.matches(Array(#"{"name": "Ada"}"#.utf8)))
        #expect(e.matches(Array(#"{"name": "Ada", "age": 36, "tags": ["x", "y"]}"#.utf8)))
        #expect(e.matches(Array(#"{"name": "A\"da\u00e9", "tags": []}"#.utf8)))
        #expect(!e.matches(Array(#"{"age": 36, "name": "Ada"}"#.utf8)))          // key order
        #expect(!e.matches(Array(#"{"name":"Ada"}"#.utf8)))                        // whitespace policy
        #expect(!e.matches(Array(#"{"age": 36}"#.utf8)))                            // required
        #expect(!e.matches(Array(#"{"name": "Ada", "x": 1}"#.utf8)))               // closed
        #expect(!e.matches(Array(#"{"name": "Ada", "tags": ["a", "b", "c"]}"#.utf8)))  // maxItems
        #expect(!e.matches(Array(#"{"name": "Ada", "age": 03}"#.utf8)))
    }

    @Test func enumsConstRefsAnyOfAndPatterns() throws {
        let e = try engine(schema: """
        {"$defs": {"unit": {"enum": ["celsius", "fahrenheit", null]}},
         "type": "object", "properties": {
           "unit": {"$ref": "#/$defs/unit"}, "v": {"anyOf": [{"type": "number"}, {"const": "n/a"}]},
           "code": {"type": "string", "pattern": "^[A-Z]{2}-\\\\d+$"}},
         "required": ["unit", "v", "code"]}
        """)
        #expect(e.matches(Array(#"{"unit": "celsius", "v": -1.5e3, "code": "AB-12"}"#.utf8)))
        #expect(e.matches(Array(#"{"unit": null, "v": "n/a", "code": "ZZ-0"}"#.utf8)))
        #expect(!e.matches(Array(#"{"unit": "kelvin", "v": 1, "code": "AB-12"}"#.utf8)))
        #expect(!e.matches(Array(#"{"unit": "celsius", "v": 1, "code": "AB12"}"#.utf8)))
        #expect(!e.matches(Array(#"{"unit": "celsius", "v": 1., "code": "AB-1"}"#.utf8)))
    }

    @Test func copyFromInputAllowsOnlySpans() throws {
        let text = "Marie Curie won the \"Nobel\" prize in Paris."
        let e = try engine(schema: #"{"type": "array", "items": {"type": "string", "x-copy-from-input": true}}"#, input: text)
        #expect(e.matches(Array(#"["Marie Curie", "Paris"]"#.utf8)))
        #expect(e.matches(Array(#"["\"Nobel\" prize"]"#.utf8)))
        #expect(!e.matches(Array(#"["Marie Curie won Paris"]"#.utf8)))
        #expect(!e.matches(Array(#"["London"]"#.utf8)))
        #expect(!e.matches(Array(#"[""]"#.utf8)))
    }

    /// Output the token limit cut off deep inside free-form JSON is closed by the grammar's
    /// shortest completion, and the result parses (the search once ran out of states among the
    /// length counters of free strings and gave up).
    @Test func aCutOffActionIsClosedEvenDeepInFreeFormJSON() throws {
        let engine = try engine(schema: #"""
            {"type": "object", "properties": {"tool": {"const": "average"}, "arguments": {"type": "object", "properties": {
              "grades": {"description": "free-form"}}, "required": ["grades"]},
             "thought": {"type": "string", "minLength": 1, "maxLength": 160}}, "required": ["tool", "arguments", "thought"]}
            """#)
        for cut in [#"{"tool": "average", "arguments": {"grades": {"math": 90, "tags": ["a", "bb","#,
                    #"{"tool": "average", "arguments": {"grades": {"math": [[{"x": "long text here"#,
                    #"{"tool": "average", "arguments": {"grades": {"m": 1.5e"#] {
            let state = engine.advance(engine.initialState, bytes: Array(cut.utf8))
            let rest = try #require(engine.shortestCompletion(from: state), "no completion after \(cut)")
            let text = cut + String(decoding: rest, as: UTF8.self)
            #expect(engine.matches(Array(text.utf8)), "\(text)")
            #expect((try? JSONValue.parse(text)) != nil, "\(text)")
        }
    }

    @Test func gbnfBasics() throws {
        let e = try engine(gbnf: """
        # a list of answers
        root   ::= answer ("," ws answer)*
        answer ::= "yes" | "no" | [0-9]+ | "é" [^a-z\\n]
        ws     ::= | " " | "\\n" [ \\t]{0,2}
        """)
        #expect(e.matches(Array("yes,no, 12,\n\t\tyes".utf8)))
        #expect(e.matches(Array("éZ".utf8)))
        #expect(e.matches(Array("é日".utf8)))
        #expect(!e.matches(Array("éz".utf8)))
        #expect(!e.matches(Array("yes,\n\t\t\tno".utf8)))
        #expect(!e.matches(Array("maybe".utf8)))
    }

    @Test func badSchemasAndGrammarsGiveOneClearError() throws {
        let cases: [(String, () throws -> Any, String)] = [
            ("malformed JSON", { try JSONSchemaGrammar.compile(#"{"type": "object""#) }, "not valid JSON"),
            ("unsupported keyword", { try JSONSchemaGrammar.compile(#"{"type": "integer", "minimum": 3, "format": "x"}"#) }, "minimum, format"),
            ("empty anyOf", { try JSONSchemaGrammar.compile(#"{"anyOf": []}"#) }, "anyOf is empty"),
            ("empty enum", { try JSONSchemaGrammar.compile(#"{"enum": []}"#) }, "enum is empty"),
            ("false schema", { try JSONSchemaGrammar.compile("false") }, "allows no value"),
            ("lengths", { try JSONSchemaGrammar.compile(#"{"type": "string", "minLength": 5, "maxLength": 2}"#) }, "below minLength"),
            ("required", { try JSONSchemaGrammar.compile(#"{"type": "object", "properties": {}, "required": ["a"]}"#) }, "required property 'a'"),
            ("items", { try JSONSchemaGrammar.compile(#"{"type": "array", "minItems": 3, "maxItems": 1}"#) }, "below minItems"),
            ("bad ref", { try JSONSchemaGrammar.compile(##"{"$ref": "#/$defs/missing"}"##) }, "points to nothing"),
            ("endless ref", { try JSONSchemaGrammar.compile(##"{"$defs": {"a": {"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}}, "required": ["x"]}}, "$ref": "#/$defs/a"}"##) }, "never terminates"),
            ("left recursion", { try GBNF.compile("root ::= root \"a\" | \"b\"") }, "left recursion"),
            ("indirect left recursion", { try GBNF.compile("root ::= x\nx ::= ws root \"a\" | \"b\"\nws ::= | \" \"") }, "left recursion"),
            ("undefined rule", { try GBNF.compile("root ::= missing") }, "never defined"),
            ("no root", { try GBNF.compile("start ::= \"a\"") }, "no `root` rule"),
            ("never terminates", { try GBNF.compile("root ::= \"a\" root") }, "never terminates"),
            ("empty class only", { try GBNF.compile("root ::= [^\\x00-\\U0010FFFF]") }, "never terminates"),
            ("unterminated literal", { try GBNF.compile("root ::= \"abc") }, "unterminated string"),
            ("bad repetition", { try GBNF.compile("root ::= \"a\"{3,1}") }, "below the minimum"),
            ("empty grammar", { try GBNF.compile("  # nothing\n") }, "empty"),
        ]
        for (name, body, expected) in cases {
            let message = grammarError(body)
            #expect(message != nil, "\(name): no error")
            #expect(message?.contains(expected) == true, "\(name): \(message ?? "nil")")
        }
    }

    @Test func gbnfParserSurvivesRandomBytes() {
        var rng = SystemRandomNumberGenerator()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64.random(in: 0...UInt64.max, using: &rng)
        let alphabet = Array("root ::= \"ab\\[]^-|()*+?{},.#\n\t xyz0123".unicodeScalars)
        for _ in 0..<3000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 58)
            var text = ""
            for _ in 0..<length {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                text.unicodeScalars.append(state >> 63 == 0 ? alphabet[Int(state >> 40) % alphabet.count]
                                                            : Unicode.Scalar(UInt8(truncatingIfNeeded: state >> 33)))
            }
            if let grammar = try? GBNF.compile(text) {
                _ = GrammarEngine(grammar: grammar, trie: byteTrie).mask(for: 0)
            }
            _ = try? JSONSchemaGrammar.compile(text)
        }
    }

    /// Masks from the cached, truncated walk equal a brute-force check of every token, along
    /// strings of a grammar whose rules are reused in many contexts.
    @Test func masksMatchBruteForce() throws {
        let tokenizer = WordTokenizer(["{\"", "\": ", "\", \"", "\"}", "name", "na", "\"]", "[\"", "\", ", "}, {", "12",
                                        "\"a", "a\"", ", \"", "true", "null", "]}", "ab\", \"c"])
        let trie = VocabularyTrie(tokenizer: tokenizer)
        let schema = """
        {"type": "object", "properties": {"name": {"type": "string"}, "list": {"type": "array", "items":
          {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": ["integer", "null"]}}}}},
         "required": ["name", "list"]}
        """
        let engine = GrammarEngine(grammar: try JSONSchemaGrammar.compile(schema), trie: trie)
        let samples = [#"{"name": "ab", "list": [{"a": "x\"y", "b": 12}, {}, {"b": null}]}"#,
                       #"{"name": "", "list": []}"#]
        for sample in samples {
            var state = engine.initialState
            for byte in Array(sample.utf8) + [0] {
                let (bits, count) = engine.mask(for: state)
                var expected = 0
                for t in 0..<trie.vocabularySize {
                    let bytes = trie.tokenBytes[t]
                    let allowed = !bytes.isEmpty && !engine.isDead(engine.advance(state, bytes: bytes))
                    if allowed { expected += 1 }
                    #expect((bits[t >> 6] >> UInt64(t & 63)) & 1 == (allowed ? 1 : 0), "token \(t) at \(state)")
                }
                #expect(count == expected)
                if byte == 0 { #expect(engine.isAccepting(state)); break }
                state = engine.advance(state, bytes: [byte])
                #expect(!engine.isDead(state))
            }
        }
    }

    @Test func constraintStopsWhenGrammarIsCompleteAndErrorsWhenNothingIsAllowed() throws {
        let e = try engine(gbnf: #"root ::= "ok""#)
        let c = GrammarConstraint(engine: e)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: 257)
        defer { logits.deallocate() }
        logits.update(repeating: 0, count: 257)
        var view = TokenLogits(values: logits, count: 257, generated: [], endOfGeneration: [256])
        try c.process(&view)
        #expect(view.allowed == [TokenID(UInt8(ascii: "o"))])
        try c.accept(TokenID(UInt8(ascii: "o")))
        try c.accept(TokenID(UInt8(ascii: "k")))
        #expect(c.isFinished)

        // A grammar needing a byte the vocabulary cannot spell: a clear error, not NaN.
        let narrow = VocabularyTrie(tokenizer: ByteSubsetTokenizer())
        let blocked = GrammarConstraint(engine: GrammarEngine(grammar: try GBNF.compile(#"root ::= "z""#), trie: narrow))
        let n = narrow.vocabularySize
        let l2 = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { l2.deallocate() }
        l2.update(repeating: 1, count: n)
        var v2 = TokenLogits(values: l2, count: n, generated: [], endOfGeneration: [])
        #expect(throws: RuntimeError.self) { try blocked.process(&v2) }
    }
}

/// Only the letters a–c: a vocabulary that cannot spell everything.
final class ByteSubsetTokenizer: Tokenizer, @unchecked Sendable {
    var vocabularySize: Int { 3 }
    var bosID: TokenID? { nil }
    var eosID: TokenID? { nil }
    var addsBOS: Bool { false }
    var endOfGenerationIDs: Set<TokenID> { [] }
    func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) throws -> [TokenID] { [] }
    func bytes(for token: TokenID, renderSpecial: Bool) -> [UInt8] { [UInt8(ascii: "a") + UInt8(token)] }
}
