import Foundation
import Testing
import KnowLMCore
@testable import KnowLMAgent
import KnowLMKnowledge
import KnowLMRuntime

/// Tools that misbehave in every way a real tool can; the registry turns each into an
/// observation and the caller goes on.
struct ThrowingTool: Tool {
    var name: String { "broken" }
    var description: String { "Always fails." }
    var parameters: JSONValue { ParameterSchema.object([], required: []) }
    var kind: ToolKind { .knowledge }
    func call(_ arguments: JSONValue) async throws -> ToolOutput { throw ToolError("the backing service is down") }
}

struct HangingTool: Tool {
    var name: String { "hang" }
    var description: String { "Never answers." }
    var parameters: JSONValue { ParameterSchema.object([], required: []) }
    var kind: ToolKind { .knowledge }
    /// Blocks its thread without looking at cancellation: the worst case.
    func call(_ arguments: JSONValue) async throws -> ToolOutput {
        Self.block(seconds: 3)
        return .text("too late")
    }
    static func block(seconds: Double) { usleep(UInt32(seconds * 1_000_000)) }
}

struct HugeTool: Tool {
    var name: String { "huge" }
    var description: String { "Returns 10 MB." }
    var parameters: JSONValue { ParameterSchema.object([], required: []) }
    var kind: ToolKind { .knowledge }
    func call(_ arguments: JSONValue) async throws -> ToolOutput { .text(String(repeating: "0123456789", count: 1_048_576)) }
}

struct InvalidUTF8Tool: Tool {
    var name: String { "bytes" }
    var description: String { "Returns invalid UTF-8 and control characters." }
    var parameters: JSONValue { ParameterSchema.object([], required: []) }
    var kind: ToolKind { .knowledge }
    func call(_ arguments: JSONValue) async throws -> ToolOutput { .bytes(Data([0x4F, 0x4B, 0xFF, 0xFE, 0x00, 0x1B, 0x20, 0xC3, 0x28, 0x21])) }
}

@Suite struct ToolRegistryTests {
    @Test func aThrowingToolBecomesAnObservation() async {
        let registry = ToolRegistry([ThrowingTool()])
        let result = await registry.run("broken", arguments: .object([]))
        #expect(result.outcome == .error)
        #expect(result.observation.contains("the backing service is down"))
    }

    @Test func aHangingToolTimesOutWithoutBlockingTheCaller() async {
        let registry = ToolRegistry([HangingTool()])
        registry.timeout = .milliseconds(300)
        let result = await registry.run("hang", arguments: .object([]))
        // The tool blocks for 3 s; the call is given up at 0.3 s, not waited for.
        #expect(result.outcome == .timeout)
        #expect(result.observation.contains("did not answer"))
    }

    @Test func tenMegabytesAreTruncatedWithAMarker() async {
        let registry = ToolRegistry([HugeTool()])
        let result = await registry.run("huge", arguments: .object([]))
        #expect(result.outcome == .ok && result.truncated)
        #expect(result.outputBytes == 10_485_760)
        #expect(result.observation.count < 1300 && result.observation.contains("[truncated: 10484560 more characters]"))
    }

    @Test func invalidUTF8IsReadableAndControlCharactersAreDropped() async {
        let registry = ToolRegistry([InvalidUTF8Tool()])
        let result = await registry.run("bytes", arguments: .object([]))
        #expect(result.outcome == .ok)
        #expect(result.observation.hasPrefix("OK\u{FFFD}"))
        #expect(!result.observation.unicodeScalars.contains { $0.value < 0x20 })
        // Still valid JSON when logged.
        #expect((try? JSONValue.parse(JSONValue.string(result.observation).serialized())) != nil)
    }

    @Test func unknownToolIsAnError() async {
        let result = await ToolRegistry([]).run("nope", arguments: .object([]))
        #expect(result.outcome == .error && result.observation.contains("no tool named nope"))
    }

    @Test func cancellingTheCallerCancelsTheCall() async {
        let registry = ToolRegistry([HangingTool()])
        registry.timeout = .seconds(30)
        let task = Task { await registry.run("hang", arguments: .object([])) }
        try? await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let result = await task.value
        #expect(result.outcome == .cancelled)
    }
}

@Suite struct GraphToolTests {
    /// An exact name gives the entity's facts; a name found only by full-text similarity says so.
    @Test func kgNeighborsSaysWhenTheNameWasNotFoundAsWritten() async throws {
        let scratch = try ScratchFolder()
        let tool = KGNeighborsTool(kb: try scratch.booksKnowledgeBase())
        guard case .text(let exact) = try await tool.call(.object([("entity", .string("dune"))])) else { Issue.record("not text"); return }
        #expect(exact.contains("Frank Herbert") && !exact.contains("No entity is named"))
        guard case .text(let fuzzy) = try await tool.call(.object([("entity", .string("Herbert"))])) else { Issue.record("not text"); return }
        #expect(fuzzy.hasPrefix("No entity is named \"Herbert\"; the closest names are \"Frank Herbert\""), "\(fuzzy)")
        #expect(fuzzy.contains("Tacoma"))
        await #expect(throws: ToolError.self) { try await tool.call(.object([("entity", .string("Zanzibar"))])) }
    }
}

@Suite struct CalculatorTests {
    @Test func evaluatesWithPrecedence() throws {
        let c = Calculator()
        #expect(try c.evaluate("2 + 3 * 4") == 14)
        #expect(try c.evaluate("(2 + 3) * 4") == 20)
        #expect(try c.evaluate("-2^2") == -4)
        #expect(try c.evaluate("2^-1") == 0.5)
        #expect(try c.evaluate("2 ** 3 ** 2") == 512)
        #expect(try c.evaluate("1_000 * 1.5e2") == 150_000)
        #expect(try c.evaluate("sqrt(16) + max(1, 7, 3) - abs(-2)") == 9)
        #expect(try c.evaluate("log(1000)") == 3)
        #expect(abs(try c.evaluate("sin(pi / 2)") - 1) < 1e-12)
        #expect(try c.evaluate("17 % 5") == 2)
        #expect(try c.evaluate("12 × 3 ÷ 4") == 9)
        #expect(Calculator.format(try c.evaluate("0.1 + 0.2")) == "0.3")
        #expect(Calculator.format(351) == "351")
    }

    @Test func refusesWhatIsNotArithmetic() {
        let c = Calculator()
        for bad in ["1 / 0", "2 +", "import os", "(1 + 2", "sqrt(-1)", "foo(2)", "1 2", "__import__('os')", ""] {
            #expect(throws: Calculator.Failure.self, "\(bad)") { try c.evaluate(bad) }
        }
        #expect(throws: Calculator.Failure.self) { try c.evaluate(String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)) }
    }
}

@Suite struct NetworkPolicyTests {
    @Test func refusesLoopbackPrivateAndLinkLocal() {
        for address in ["127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "10.255.255.255", "169.254.169.254", "172.16.0.1", "192.168.1.1",
                        "0.0.0.0", "::", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "fe80::1", "fd00::1", "100.64.0.1", "224.0.0.1"] {
            #expect(NetworkPolicy.refusal(for: address) != nil, "\(address)")
        }
        for address in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1", "11.0.0.1"] {
            #expect(NetworkPolicy.refusal(for: address) == nil, "\(address)")
        }
    }

    @Test func httpGetRefusesPrivateTargetsBeforeConnecting() async {
        let tool = HTTPGetTool()
        for url in ["http://127.0.0.1:9/", "http://[::1]:9/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                    "http://localhost:9/", "http://2130706433/", "ftp://example.com/", "file:///etc/passwd", "not a url"] {
            do {
                _ = try await tool.call(.object([("url", .string(url))]))
                Issue.record("\(url) was fetched")
            } catch {
                let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                #expect(message.contains("refused") || message.contains("only http") || message.contains("not a URL")
                        || message.contains("cannot resolve") || message.contains("no host"), "\(url): \(message)")
            }
        }
    }
}

@Suite struct ActionRuleTests {
    let tools: [any Tool] = [CalculatorTool(), HTTPGetTool(), ThrowingTool()]

    @Test func finalAnswerOnlyAfterEvidence() {
        let rules = ActionRules()
        var state = ActionRules.State(step: 1, maxSteps: 4, allowNetwork: false)
        var allowed = rules.allowed(tools, state: state)
        #expect(!allowed.finalAnswer)
        #expect(allowed.tools.map(\.name) == ["calculator", "broken"])  // no http_get without --allow-network
        state.successes = 1
        allowed = rules.allowed(tools, state: state)
        #expect(allowed.finalAnswer)
    }

    @Test func lastStepMustAnswerAndFailingToolsAreDropped() {
        let rules = ActionRules()
        var state = ActionRules.State(step: 4, maxSteps: 4, allowNetwork: true)
        var allowed = rules.allowed(tools, state: state)
        #expect(allowed.tools.isEmpty && allowed.finalAnswer)
        state.step = 2
        state.failures = ["broken": 2, "calculator": 2, "http_get": 2]
        allowed = rules.allowed(tools, state: state)
        #expect(allowed.tools.isEmpty && allowed.finalAnswer)
    }

    @Test func clientOnlyToolsMayBeAnsweredDirectly() {
        let client = ClientTool(name: "get_weather", description: "", parameters: ParameterSchema.object([], required: []))
        let allowed = ActionRules().allowed([client], state: ActionRules.State(step: 1, maxSteps: 3, allowNetwork: false))
        #expect(allowed.finalAnswer && allowed.tools.count == 1)
    }
}

@Suite struct ActionSchemaTests {
    @Test func normalizesPythonFlavouredSchemas() {
        let bfcl = try! JSONValue.parse(#"""
            {"type": "dict", "properties": {"base": {"type": "integer", "description": "b"}, "ratio": {"type": "float", "minimum": 0},
             "pair": {"type": "tuple", "items": {"type": "string"}}, "opts": {"type": "dict"}, "x": {"type": "any"}},
             "required": ["base", "missing"]}
            """#)
        let n = ToolSchema.normalize(bfcl)
        #expect(n["type"] == .string("object"))
        #expect(n["properties"]?["ratio"] == .object([("type", .string("number"))]))
        #expect(n["properties"]?["pair"]?["type"] == .string("array"))
        #expect(n["properties"]?["opts"]?["type"] == nil)
        #expect(n["required"] == .array([.string("base")]))
    }

    @Test func actionsRoundTrip() throws {
        let call = try AgentAction.parse(#"{"thought": "t", "tool": "calculator", "arguments": {"expression": "1+1"}}"#)
        #expect(call == .call(thought: "t", tool: "calculator", arguments: .object([("expression", .string("1+1"))])))
        #expect(try AgentAction.parse(call.json) == call)
        #expect(try AgentAction.parse(#"{"thought": "", "final_answer": "42"}"#) == .finish(thought: "", answer: "42"))
        #expect(Agent.signature("get_weather", try JSONValue.parse(#"{"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}"#))
                == #"get_weather(city: string, unit?: "c"|"f")"#)
    }

    @Test func claimsSplitIntoSentences() {
        #expect(HallucinationDetector.claims(of: "Delhi") == ["Delhi"])
        #expect(HallucinationDetector.claims(of: "Lima is the capital of Peru. It lies on the coast.") == ["Lima is the capital of Peru.", "It lies on the coast."])
        #expect(HallucinationDetector.claims(of: "Dr. Smith lives in the U.S. today.").count == 1)
        #expect(HallucinationDetector.claims(of: "  ").isEmpty)
    }
}

/// Declared functions' arguments held to the task (`ArgumentGrounding`). The tasks are made up
/// here; none comes from an evaluation set.
@Suite struct ArgumentGroundingTests {
    @Test func numbersWrittenInTheTask() {
        #expect(ArgumentGrounding.numbers(in: "Ship 3 crates of 1,200 bolts at -4.5 degrees, weight 2e3 kg, for two days") == [3, 1200, -4.5, 2000, 2])
        // Digits inside names and versions are numbers too; a hyphen between words is not a sign.
        #expect(ArgumentGrounding.numbers(in: "room-12 then x-ray") == [12])
        #expect(ArgumentGrounding.numbers(in: "no numbers here").isEmpty)
    }

    @Test func numericParametersTakeTheTasksNumbers() throws {
        let schema = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "object", "properties": {"count": {"type": "integer"}, "price": {"type": "number"},
             "mode": {"type": "integer", "enum": [1, 2]}, "name": {"type": "string"}}, "required": ["count"]}
            """#))
        let held = ArgumentGrounding.restrictNumbers(schema, task: "Order 4 lamps at 19.99 each")
        #expect(held["properties"]?["count"]?["enum"] == .array([.number("4")]))
        #expect(held["properties"]?["price"]?["enum"] == .array([.number("4"), .number("19.99")]))
        #expect(held["properties"]?["mode"] == schema["properties"]?["mode"])
        #expect(held["properties"]?["name"] == schema["properties"]?["name"])
        // No number in the task: the parameter stays free, so a required value can be written.
        #expect(ArgumentGrounding.restrictNumbers(schema, task: "Order some lamps") == schema)
        // The held schema still compiles (enum of numbers; the enum itself is tested with the grammars).
        _ = try JSONSchemaGrammar.compile(held)
    }

    @Test func optionalArgumentsTheTaskDoesNotMentionAreLeftOut() throws {
        let schema = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}, "days": {"type": "integer"},
             "detailed": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["city"]}
            """#))
        let args = try JSONValue.parse(#"{"city": "Oslo", "unit": "kelvin", "days": 3, "detailed": true, "tags": ["rain", "snow"]}"#)
        let kept = ArgumentGrounding.pruneOptional(args, parameters: schema, task: "Weather in Oslo for 3 days, will it rain or snow?")
        #expect(kept == (try JSONValue.parse(#"{"city": "Oslo", "days": 3, "tags": ["rain", "snow"]}"#)))
        // Mentioned values (as whole words) and named flags stay; required ones always do.
        let all = ArgumentGrounding.pruneOptional(args, parameters: schema,
                                                  task: "Detailed weather in kelvin for 3 days, rain and snow")
        #expect(all == args)
        let city = ArgumentGrounding.pruneOptional(try JSONValue.parse(#"{"city": "Bergen", "unit": "c"}"#), parameters: schema, task: "Weather in Oslo")
        #expect(city == (try JSONValue.parse(#"{"city": "Bergen"}"#)))
    }
}

/// A string parameter's listed values (its `enum`, or the values its description quotes) held
/// to the one the task names, and Python `float`s written as floats. Made-up schemas and tasks.
@Suite struct ChoiceBindingTests {
    static let export = ToolSchema.normalize(try! JSONValue.parse(#"""
        {"type": "dict", "properties": {"table": {"type": "string", "description": "The table to export."},
         "format": {"type": "string", "description": "Output format: 'csv' for comma-separated, 'parquet' for columnar files. Default is 'csv'."},
         "compression": {"type": "string", "enum": ["gzip", "zstd", "none"]},
         "owner": {"type": "string", "description": "Owner, such as 'admin'."}}, "required": ["table"]}
        """#))

    @Test func listedValuesComeFromTheEnumOrTwoQuotedValues() {
        let properties = Self.export["properties"]!
        #expect(ArgumentGrounding.listedValues(properties["format"]!) == ["csv", "parquet"])
        #expect(ArgumentGrounding.listedValues(properties["compression"]!) == ["gzip", "zstd", "none"])
        // One quoted value is an example, not a list of choices; free text lists nothing.
        #expect(ArgumentGrounding.listedValues(properties["owner"]!).isEmpty)
        #expect(ArgumentGrounding.listedValues(properties["table"]!).isEmpty)
    }

    @Test func theValueTheTaskNamesIsRequiredAndHeld() throws {
        let task = "Export the orders table as Parquet with zstd compression"
        #expect(ArgumentGrounding.bindChoices(Self.export, task: task) == ["format": "parquet", "compression": "zstd"])
        let held = ArgumentGrounding.restrictChoices(Self.export, task: task)
        #expect(held["properties"]?["format"]?["enum"] == .array([.string("parquet")]))
        #expect(held["required"] == .array([.string("table"), .string("format"), .string("compression")]))
        _ = try JSONSchemaGrammar.compile(held)
        // Two listed values named, or none: the model chooses, and the parameter stays optional.
        #expect(ArgumentGrounding.bindChoices(Self.export, task: "Export orders as csv or parquet").isEmpty)
        #expect(ArgumentGrounding.restrictChoices(Self.export, task: "Export the orders table") == Self.export)
        // Parts of words do not count ("none" is not in "nonempty"), nor do words of one or two letters.
        #expect(ArgumentGrounding.bindChoices(Self.export, task: "Export the nonempty rows").isEmpty)
    }

    @Test func aPercentageIsPassedAsAFractionUnlessThePercentIsAsked() throws {
        let loan = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "dict", "properties": {"amount": {"type": "integer"}, "rate": {"type": "float", "description": "Yearly rate."},
             "fee": {"type": "float", "description": "Fee as a percentage of the amount."}, "months": {"type": "integer"}},
             "required": ["amount", "rate", "fee", "months"]}
            """#))
        let task = "A loan of 2400 at a rate of 7.5% with a fee of 2 percent over 18 months"
        #expect(ArgumentGrounding.bindNumbers(loan, task: task).bound == ["amount": 2400, "rate": 0.075, "fee": 2, "months": 18])
        // Unnamed: the fraction is what a rate parameter is offered.
        let held = ArgumentGrounding.restrictNumbers(loan, task: "Borrow 2400 for 18 months, 7.5% and 2%, or 3% later")
        #expect(held["properties"]?["rate"]?["enum"]?.arrayValue?.contains(.number("0.075")) == true)
        #expect(held["properties"]?["rate"]?["enum"]?.arrayValue?.contains(.number("7.5")) == false)
        // A percentage right before the name binds it, and the optional argument becomes one to write.
        let transfer = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "object", "properties": {"amount": {"type": "number"}, "fee": {"type": "number"}}, "required": ["amount"]}
            """#))
        let fee = ArgumentGrounding.restrictNumbers(transfer, task: "Send 250 with a 2% fee")
        #expect(fee["properties"]?["fee"]?["enum"] == .array([.number("0.02")]))
        #expect(fee["required"] == .array([.string("amount"), .string("fee")]))
        // A fraction of a percentage in the task counts as mentioned for an optional argument.
        let optional = ToolSchema.normalize(try JSONValue.parse(#"{"type": "object", "properties": {"rate": {"type": "number"}}}"#))
        #expect(ArgumentGrounding.pruneOptional(try JSONValue.parse(#"{"rate": 0.05}"#), parameters: optional, task: "at 5% a year")
                == (try JSONValue.parse(#"{"rate": 0.05}"#)))
    }

    @Test func aListOfNumbersHoldsTheTasksNumbers() throws {
        let stats = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "dict", "properties": {"values": {"type": "array", "items": {"type": "integer"}}}, "required": ["values"]}
            """#))
        let held = ArgumentGrounding.restrictNumbers(stats, task: "The median of 7, 3, 9 and 3 please")
        #expect(held["properties"]?["values"]?["items"]?["enum"] == .array([.number("7"), .number("3"), .number("9")]))
        #expect(held["properties"]?["values"]?["maxItems"] == .number("4"))
        _ = try JSONSchemaGrammar.compile(held)
        #expect(ArgumentGrounding.restrictNumbers(stats, task: "The median of my list") == stats)
        // Lists written in brackets: as long as the longest of them.
        let pairs = ArgumentGrounding.restrictNumbers(stats, task: "Compare (1, 2) with [4, 5, 6] at 10")
        #expect(pairs["properties"]?["values"]?["maxItems"] == .number("3"))
    }

    @Test func flagsTheTaskNamesAreSetAndNegationsClearThem() throws {
        let report = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "dict", "properties": {"city": {"type": "string"}, "include_charts": {"type": "boolean"},
             "skip_weekends": {"type": "boolean"}, "raw_output": {"type": "boolean"}, "verbose": {"type": "boolean"}},
             "required": ["city"]}
            """#))
        // Forms of the name's words count ("charted", "weekend"); "include" says nothing of what is included.
        #expect(ArgumentGrounding.bindFlags(report, task: "Sales report for Lyon, charted, weekend days skipped")
                == ["include_charts": true, "skip_weekends": true])
        // Every word of the name must be there ("raw" alone is not raw output; "output" has no
        // partner); a negation shortly before turns the flag off.
        #expect(ArgumentGrounding.bindFlags(report, task: "Raw numbers for Lyon, please don't be verbose")
                == ["verbose": false])
        let held = ArgumentGrounding.restrictChoices(report, task: "Lyon report with charts")
        #expect(held["properties"]?["include_charts"]?["enum"] == .array([.bool(true)]))
        #expect(held["required"] == .array([.string("city"), .string("include_charts")]))
        // A flag the task names survives the pruning of optional arguments, in any form.
        let args = try JSONValue.parse(#"{"city": "Lyon", "skip_weekends": true}"#)
        #expect(ArgumentGrounding.pruneOptional(args, parameters: report, task: "Lyon, weekends skipped") == args)
    }

    @Test func itemsWithoutALetterOrDigitAreDropped() throws {
        let args = try JSONValue.parse(#"{"names": [",", "Ada", " ", "Grace"], "tags": {"list": ["-", "x1"]}, "n": 3}"#)
        #expect(ArgumentGrounding.dropEmptyItems(args) == (try JSONValue.parse(#"{"names": ["Ada", "Grace"], "tags": {"list": ["x1"]}, "n": 3}"#)))
    }

    @Test func aCountWrittenBeforeWhatItCountsIsBound() throws {
        let house = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "dict", "properties": {"rooms": {"type": "integer"}, "floors": {"type": "integer"}, "area": {"type": "integer"}},
             "required": ["rooms", "floors", "area"]}
            """#))
        #expect(ArgumentGrounding.bindNumbers(house, task: "A house of 4 rooms, 2 floors and an area of 140").bound
                == ["rooms": 4, "floors": 2, "area": 140])
        #expect(ArgumentGrounding.bindNumbers(house, task: "one floor, 3 room flat, area 70").bound == ["floors": 1, "rooms": 3, "area": 70])
    }

    @Test func declaredFloatsAreWrittenAsFloats() throws {
        let declared = try JSONValue.parse(#"""
            {"type": "dict", "properties": {"values": {"type": "array", "items": {"type": "float"}}, "count": {"type": "integer"},
             "ratio": {"type": "float"}, "weight": {"type": "number"}}}
            """#)
        let args = try JSONValue.parse(#"{"values": [5, 2.5, -3], "count": 4, "ratio": 2, "weight": 7}"#)
        #expect(ArgumentGrounding.conformNumbers(args, declared: declared).serialized()
                == #"{"values":[5.0,2.5,-3.0],"count":4,"ratio":2.0,"weight":7}"#)
    }
}

@Suite struct NumberBindingTests {
    static let box = ToolSchema.normalize(try! JSONValue.parse(#"""
        {"type": "object", "properties": {"width": {"type": "integer"}, "depth": {"type": "integer"},
         "wall_thickness": {"type": "number"}, "scale": {"type": "integer"}}, "required": ["width", "depth"]}
        """#))

    @Test func namedParametersTakeTheNumberAfterTheirName() {
        let (bound, unused) = ArgumentGrounding.bindNumbers(Self.box, task: "A crate with depth 30, width of 45 cm and a wall thickness of 1.5")
        #expect(bound == ["depth": 30, "width": 45, "wall_thickness": 1.5])
        #expect(unused.isEmpty)
        // One- and two-letter names must be followed at once ("a" the article is not "a").
        let quad = ToolSchema.normalize(try! JSONValue.parse(#"{"type": "object", "properties": {"p": {"type": "integer"}, "q": {"type": "integer"}}, "required": ["p", "q"]}"#))
        #expect(ArgumentGrounding.bindNumbers(quad, task: "take p = -7 and q=12").bound == ["p": -7, "q": 12])
    }

    @Test func unnamedRequiredParametersPairUpInOrder() {
        let (bound, unused) = ArgumentGrounding.bindNumbers(Self.box, task: "Pack a box 20 by 35, scale 2")
        #expect(bound == ["scale": 2, "width": 20, "depth": 35])
        #expect(unused.isEmpty)
        // More numbers than parameters: no guessing, the model chooses among those left.
        let open = ArgumentGrounding.bindNumbers(Self.box, task: "Pack 3 boxes 20 by 35")
        #expect(open.bound.isEmpty && open.unused == [3, 20, 35])
        let held = ArgumentGrounding.restrictNumbers(Self.box, task: "Pack a box 20 by 35, scale 2")
        #expect(held["properties"]?["depth"]?["enum"] == .array([.number("35")]))
    }

    @Test func anOptionalNumberAnotherArgumentTookIsLeftOut() throws {
        let args = try JSONValue.parse(#"{"width": 20, "depth": 35, "scale": 35}"#)
        #expect(ArgumentGrounding.pruneOptional(args, parameters: Self.box, task: "a box 20 by 35")
                == (try JSONValue.parse(#"{"width": 20, "depth": 35}"#)))
        // Also when the other argument holds it in a list.
        let line = ToolSchema.normalize(try JSONValue.parse(#"""
            {"type": "object", "properties": {"from": {"type": "array", "items": {"type": "integer"}}, "digits": {"type": "integer"}},
             "required": ["from"]}
            """#))
        #expect(ArgumentGrounding.pruneOptional(try JSONValue.parse(#"{"from": [3, 1], "digits": 1}"#), parameters: line, task: "from (3, 1)")
                == (try JSONValue.parse(#"{"from": [3, 1]}"#)))
    }
}

/// Knowledge first: which tasks count as naming an entity, and what a final answer may be
/// copied from once a tool stated its answer.
@Suite struct KnowledgeFirstTests {
    @Test func aNameCountsOnlyWhereTheTaskWritesItAsAName() {
        #expect(Agent.namedAsName("Time", in: "How big is Time, the town?"))
        #expect(!Agent.namedAsName("Time", in: "What time is it now?"))
        #expect(Agent.namedAsName("osaka", in: "Which currency is used where Osaka is?"))
        #expect(!Agent.namedAsName("osaka", in: "which currency is used where osaka is?"))
        #expect(Agent.namedAsName("东京", in: "东京在哪个国家？"))
        #expect(Agent.namedAsName("R2-D2", in: "who built r2-d2?"))  // a digit
        #expect(!Agent.namedAsName("Lima", in: "Where is Paris?"))
        #expect(Agent.namedAsName("Istanbul", in: "Istanbul is a city in which country?"))  // a sentence's first word
        #expect(!Agent.namedAsName("li", in: "Where is Lisbon?"))  // not a whole word
        #expect(!Agent.namedAsName("", in: "anything"))
        #expect(Agent.occurs("einsteinium", in: "who discovered einsteinium?"))
        #expect(!Agent.occurs("tin", in: "what is the time?"))
    }

    @Test func aStatedAnswerIsTheOnlyCandidate() {
        let observation = "answer: Japan\nsource [1]: Japan | population | 126529100\nsource [2]: Poland | population | 38500696"
        #expect(Agent.answerCandidates(observation, latest: observation) == ["Japan"])
        #expect(Agent.answerCandidates("answer: Lima, Cusco", latest: "answer: Lima, Cusco") == ["Lima, Cusco", "Lima", "Cusco"])
        // An earlier tool's stated answer does not shut out what a later tool returned.
        #expect(Agent.answerCandidates(observation + "\n42", latest: "42").contains("42"))
        // Without a stated answer every line and piece is a candidate.
        let facts = Agent.answerCandidates("Lima — capital of — Peru")
        #expect(facts.contains("Lima") && facts.contains("Peru") && facts.contains("Lima — capital of — Peru"))
    }
}
