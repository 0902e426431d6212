import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMExtraction
import KnowLMKnowledge
import KnowLMRuntime

/// How extraction runs (shared by `extract` and `eval ie`).
struct ExtractionOptionGroup: ParsableArguments {
    @Option(help: "Language of the prompts: en or zh (default: guessed from the text).")
    var lang: String?

    @Flag(name: .customLong("no-copy-constraint"), help: "Let mentions be any string, not only spans of the input.")
    var noCopyConstraint = false

    @Flag(name: .customLong("no-grammar"), help: "Decode answers freely instead of under the task's JSON Schema, or, in span typing, let the model write each type instead of choosing among the labels (answers may then fail to parse).")
    var noGrammar = false

    @Option(name: .customLong("prompt-format"), help: "auto (OneKE's chat wrapper for a model named OneKE, few-shot otherwise), oneke or fewshot.")
    var promptFormat = ExtractionOptions.PromptFormat.auto.rawValue

    @Option(help: "auto (span typing for English NER with a local model, generation otherwise), generate or type-spans.")
    var strategy = ExtractionOptions.Strategy.auto.rawValue

    @Option(name: .customLong("max-tokens"), help: "Token limit of one answer.")
    var maxTokens = 256

    @Option(help: "Worked examples in few-shot prompts.")
    var examples = 4

    @Flag(name: .customLong("no-calibration"), help: "Span typing: do not correct for the model's prior over type names.")
    var noCalibration = false

    @Option(name: .customLong("lowercase-terms"), help: "Span typing: also propose lower-case noun phrases (task, field or genre names) as candidates: off, typed (kept only under labels the bundled examples show in lower case, or show no example of), or all.")
    var lowercaseTerms = "typed"

    @Option(name: .customLong("term-margin"), help: "Span typing: how much more likely than 'none' (log-probability) a type must be to keep a lower-case term.")
    var termMargin: Float = 2.0

    @Option(name: .customLong("calibration-weight"), help: "Span typing: how much of each type's prior log-probability is subtracted (0 to 1).")
    var calibrationWeight: Float = 0.25

    @Option(name: .customLong("max-chars"), help: "Longest text accepted, in characters; longer ones are refused before any model call.")
    var maxChars = 262_144

    @Option(help: "Embedder used to map the bundled examples' types onto the schema (default: all-MiniLM-L6-v2; 'none' to match names only).")
    var embedder: String?

    func validate() throws {
        if let lang, IELanguage(rawValue: lang) == nil { throw ValidationError("--lang must be en or zh") }
        if ExtractionOptions.PromptFormat(rawValue: promptFormat) == nil { throw ValidationError("--prompt-format must be auto, oneke or fewshot") }
        if ExtractionOptions.Strategy(rawValue: strategy) == nil { throw ValidationError("--strategy must be auto, generate or type-spans") }
        if maxTokens < 8 { throw ValidationError("--max-tokens must be at least 8") }
        if ExtractionOptions.TermCandidates(rawValue: lowercaseTerms) == nil { throw ValidationError("--lowercase-terms must be off, typed or all") }
        if examples < 0 { throw ValidationError("--examples must be 0 or more") }
    }

    func options(task: IETask) -> ExtractionOptions {
        var o = ExtractionOptions(task: task)
        o.language = lang.flatMap(IELanguage.init(rawValue:))
        o.copyFromInput = !noCopyConstraint
        o.grammar = !noGrammar
        o.promptFormat = ExtractionOptions.PromptFormat(rawValue: promptFormat) ?? .auto
        o.strategy = ExtractionOptions.Strategy(rawValue: strategy) ?? .auto
        o.maxTokens = maxTokens
        o.exampleCount = examples
        o.calibrate = !noCalibration && calibrationWeight > 0
        o.calibrationWeight = calibrationWeight
        o.lowercaseTerms = ExtractionOptions.TermCandidates(rawValue: lowercaseTerms) ?? .off
        o.termMargin = termMargin
        o.maxInputCharacters = maxChars
        return o
    }

    func makeExtractor(model: any LanguageModel) throws -> Extractor {
        let embedding: (any TextEmbedder)? = embedder == "none" ? nil : try loadEmbedder(embedder)
        return try Extractor(model: model, embedder: embedding)
    }
}

func parseTask(_ name: String) throws -> IETask {
    guard let task = IETask(name: name) else {
        throw ValidationError("--task must be one of \(IETask.allCases.map { $0.rawValue.lowercased() }.joined(separator: ", "))")
    }
    return task
}

struct Extract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extract entities, relations or events from text by a schema, in the OneKE format.",
        discussion: """
        The schema is a comma-separated list of types (--schema person,organization) or a JSON file:
        a list of names, OneKE schema objects ({"event_type", "trigger", "arguments"} for EE,
        {"entity_type", "attributes"} for KG, {"subject_type", "predicate", "object_type"} for SPO),
        or {name: description}. Long schemas are split into OneKE's chunks; long documents into
        windows that fit the context, merged back with offsets into the original text.

        Answers are decoded under a JSON Schema grammar, so they always parse, and mentions must
        be spans of the input (--no-copy-constraint lifts that). With a model named OneKE the
        prompts are exactly OneKE's; with the default base model, English NER proposes candidate
        spans and lets the model choose each one's type or "none".

        Examples:
          knowlm extract --task ner --schema person,organization,location "Ada Lovelace met Babbage in London."
          knowlm extract --task re --schema schema.json --input report.txt --to-kg --kb my.sqlite
          knowlm extract --task ner --schema person,city --jsonl sentences.jsonl --json > out.jsonl
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Remote model") var backend: BackendOptions
    @OptionGroup(title: "Extraction") var extraction: ExtractionOptionGroup

    @Option(help: "ner, re, ee, eet, eea, kg or spo.") var task: String
    @Option(help: "Types to extract: a comma-separated list, JSON text, or a .json schema file.") var schema: String
    @Option(help: "Read one document from this file.") var input: String?
    @Option(help: "Read JSON lines (objects with \"text\", \"sentence\" or \"input\", or strings) and write one result per line.") var jsonl: String?
    @Argument(help: "The text, or a folder whose .txt/.md files are extracted one by one.") var text: String?

    @Flag(help: "Print {task, result, spans} as JSON (one object per text).") var json = false
    @Flag(help: "Print the worked examples (with their types mapped onto the schema) to standard error.") var verbose = false
    @Flag(name: .customLong("to-kg"), help: "Store extracted relations (and entity types as rdf:type) in the knowledge base, with provenance; re-running on a document replaces its facts.")
    var toKG = false
    @OptionGroup var kb: KnowledgeBaseOptions

    func validate() throws {
        let sources = [input, jsonl, text].compactMap { $0 }.count
        if sources == 0 { throw ValidationError("give a TEXT, --input FILE, --jsonl FILE or a folder") }
        if sources > 1 { throw ValidationError("give only one of TEXT, --input, --jsonl") }
    }

    func run() async throws {
        let task = try parseTask(self.task)
        let schema: IESchema
        do { schema = try IESchema.parse(self.schema, task: task) } catch let e as ExtractionError { throw ValidationError(e.localizedDescription) }
        let documents = try readDocuments()
        let loaded = try backend.languageModel(local: model)
        if backend.isRemote, !extraction.noGrammar {
            printError("note: the remote server is asked to hold answers to the task's JSON Schema (response_format); mentions are not tied to spans of the input there, and answers that do not parse are counted as parse errors")
        }
        let extractor = try extraction.makeExtractor(model: loaded)
        let options = extraction.options(task: task)
        if verbose {
            for line in try extractor.exampleLines(labels: schema.names, count: options.exampleCount) { printError(line) }
        }
        let base = toKG ? try kb.open(mustExist: false) : nil
        let progress = documents.count > 1 ? ProgressLine("extract", total: documents.count, unit: "texts") : nil
        var totalWarnings = 0
        for (n, document) in documents.enumerated() {
            let single = documents.count == 1 ? ProgressLine("extract", total: 1, unit: "windows") : nil
            let output = try await extractor.extract(document.text, schema: schema, options: options) { done, total in
                if total > 1 { single?.update(done) }
            }
            single?.finish()
            for warning in output.warnings { printError("warning: \(document.name): \(warning)") }
            totalWarnings += output.warnings.count
            if json {
                var members: [(key: String, value: JSONValue)] = []
                if documents.count > 1 { members.append(("document", .string(document.name))) }
                members += [("task", .string(task.rawValue)), ("result", output.result.oneKEObject(task: task, schema: schema)),
                            ("spans", .array(output.spans.map { s in
                                .object([("text", .string(s.text)), ("label", .string(s.label)),
                                         ("start", .number(String(s.start))), ("end", .number(String(s.end)))])
                            }))]
                if output.parseErrors > 0 { members.append(("parse_errors", .number(String(output.parseErrors)))) }
                print(JSONValue.object(members).serialized(itemSeparator: ", ", keySeparator: ": "))
            } else {
                if documents.count > 1 { print("# \(document.name)") }
                printHuman(output, task: task)
            }
            if let base {
                let report = try output.store(in: base, document: document.name, schema: schema, model: loaded.name)
                printError("\(document.name): \(report.facts) facts, \(report.added) new triples, \(report.removed) from an earlier run removed (\(base.url.path))")
            }
            progress?.update(n + 1)
        }
        progress?.finish()
    }

    struct Document { var name: String; var text: String }

    func readDocuments() throws -> [Document] {
        if let input { return [Document(name: URL(fileURLWithPath: input).standardizedFileURL.path, text: try readText(input))] }
        if let jsonl {
            let body = try readText(jsonl)
            var out: [Document] = []
            for (n, line) in body.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                let value: JSONValue
                do { value = try JSONValue.parse(trimmed) } catch { throw ValidationError("\(jsonl) line \(n + 1) is not JSON: \(error)") }
                guard let text = value.stringValue ?? (value["text"] ?? value["sentence"] ?? value["input"])?.stringValue else {
                    throw ValidationError("\(jsonl) line \(n + 1): expected a string or an object with \"text\", \"sentence\" or \"input\"")
                }
                out.append(Document(name: "\(URL(fileURLWithPath: jsonl).standardizedFileURL.path)#\(n + 1)", text: text))
            }
            return out
        }
        let text = self.text ?? ""
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: text, isDirectory: &isDirectory), isDirectory.boolValue {
            let files = (try FileManager.default.contentsOfDirectory(atPath: text)).filter { $0.hasSuffix(".txt") || $0.hasSuffix(".md") }.sorted()
            guard !files.isEmpty else { throw ValidationError("\(text) holds no .txt or .md files") }
            return try files.map { f in
                let path = URL(fileURLWithPath: text).appendingPathComponent(f).standardizedFileURL.path
                return Document(name: path, text: try readText(path))
            }
        }
        return [Document(name: "text:" + String(SHA256.hex(Array(text.utf8)).prefix(16)), text: text)]
    }

    func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        if data.contains(0) { throw ValidationError("\(path) contains NUL bytes: it looks like a binary file, not text") }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(path) is not UTF-8 text") }
        return text
    }

    func printHuman(_ output: ExtractionOutput, task: IETask) {
        let r = output.result
        if r.isEmpty { print("(nothing found)"); return }
        for e in r.entities where !task.extractsRelations || task == .kg {
            let at = output.spans.first { $0.text == e.mention && $0.label == e.type }.map { " [\($0.start)-\($0.end)]" } ?? ""
            print("\(e.type): \(e.mention)\(at)")
        }
        for x in r.relations { print("\(x.subject) | \(x.relation) | \(x.object)") }
        for e in r.events {
            let arguments = e.arguments.map { "\($0.role)=\($0.argument)" }.joined(separator: ", ")
            print("\(e.type): \(e.trigger)\(arguments.isEmpty ? "" : " (\(arguments))")")
        }
    }
}
