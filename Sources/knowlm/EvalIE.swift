import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMExtraction
import KnowLMRuntime

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the system on evaluation data.",
        subcommands: [IE.self])

    struct IE: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ie",
            abstract: "Information extraction: micro precision, recall and F1 by exact tuple match, and answers that failed to parse.",
            discussion: """
            Reads CrossNER files (a JSON array or lines of {"sentence", "entity_list": [{"name", "type"}]}
            or "relation_list"; the schema from class.json beside the file, else the labels seen) and
            IEPile files (lines of {"id", "instruction", "label"}; records with one id are one text).

            --check-prompts (IEPile files, no model needed) rebuilds every record's OneKE message from
            its schema and input and compares it byte for byte with the record's instruction.
            """)

        @OptionGroup var model: ModelOptions
        @OptionGroup(title: "Extraction") var extraction: ExtractionOptionGroup
        @Option(help: "Evaluation file.") var data: String
        @Option(help: "Task (default: from the file).") var task: String?
        @Option(help: "Evaluate only the first N texts (after --offset).") var limit: Int?
        @Option(help: "Skip the first N texts.") var offset = 0
        @Flag(help: "Print {precision, recall, f1, parse_errors, count, seconds} as JSON.") var json = false
        @Flag(name: .customLong("check-prompts"), help: "Only check that OneKE messages are rebuilt byte for byte (IEPile files).")
        var checkPrompts = false
        @Option(name: .customLong("predictions"), help: "Write each text's prediction and gold as JSON lines to this file.")
        var predictions: String?

        func run() async throws {
            let requested = try task.map(parseTask)
            if checkPrompts { return try runPromptCheck(requested) }
            let loaded: (examples: [IEExample], format: IEDataset.Format, task: IETask)
            do { loaded = try IEDataset.load(path: data, task: requested) } catch let e as ExtractionError { throw ValidationError(e.localizedDescription) }
            var examples = Array(loaded.examples.dropFirst(offset))
            if let limit { examples = Array(examples.prefix(limit)) }
            guard !examples.isEmpty else { throw ValidationError("no texts to evaluate in \(data) after --offset/--limit") }
            let model = try self.model.load()
            let extractor = try extraction.makeExtractor(model: model)
            let options = extraction.options(task: loaded.task)
            var score = IEScore()
            var warnings = 0
            let progress = ProgressLine("eval ie", total: examples.count, unit: "texts")
            let out = try predictions.map { path -> FileHandle in
                FileManager.default.createFile(atPath: path, contents: nil)
                guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot write \(path)") }
                return h
            }
            let start = Date()
            for (n, example) in examples.enumerated() {
                let output = try await extractor.extract(example.text, schema: example.schema, options: options)
                score.add(predicted: output.result, gold: example.gold, task: loaded.task)
                score.parseErrors += output.parseErrors
                warnings += output.warnings.count
                if let out {
                    let line = JSONValue.object([
                        ("id", .string(example.id)), ("text", .string(example.text)),
                        ("predicted", output.result.oneKEObject(task: loaded.task, schema: example.schema)),
                        ("gold", example.gold.oneKEObject(task: loaded.task, schema: example.schema)),
                    ]).serialized(itemSeparator: ", ", keySeparator: ": ")
                    out.write(Data((line + "\n").utf8))
                }
                progress.update(n + 1)
            }
            progress.finish()
            let seconds = Date().timeIntervalSince(start)
            if json {
                print(JSONValue.object([
                    ("task", .string(loaded.task.rawValue)), ("precision", .number(String(format: "%.2f", score.precision))),
                    ("recall", .number(String(format: "%.2f", score.recall))), ("f1", .number(String(format: "%.2f", score.f1))),
                    ("parse_errors", .number(String(score.parseErrors))), ("count", .number(String(score.count))),
                    ("predicted", .number(String(score.predicted))), ("gold", .number(String(score.gold))),
                    ("seconds", .number(String(format: "%.1f", seconds))),
                    ("texts_per_second", .number(String(format: "%.3f", Double(score.count) / max(seconds, 1e-9)))),
                ]).serialized(itemSeparator: ", ", keySeparator: ": "))
            } else {
                print(String(format: "%@ on %d texts: P %.2f  R %.2f  F1 %.2f  (%d predicted, %d gold, %d correct); parse errors %d; %.2f texts/s",
                             loaded.task.rawValue, score.count, score.precision, score.recall, score.f1,
                             score.predicted, score.gold, score.correct, score.parseErrors, Double(score.count) / max(seconds, 1e-9)))
            }
        }

        /// Rebuilds each IEPile record's user message and compares it with the record's.
        func runPromptCheck(_ requested: IETask?) throws {
            guard let body = FileManager.default.contents(atPath: data), let text = String(data: body, encoding: .utf8) else {
                throw ValidationError("cannot read \(data)")
            }
            let format = try OneKEFormat.load()
            var same = 0, different: [String] = []
            var total = 0
            for (n, line) in text.split(separator: "\n").enumerated() {
                guard let record = try? JSONValue.parse(String(line)), let instruction = record["instruction"]?.stringValue,
                      let message = try? JSONValue.parse(instruction), let schema = message["schema"], let input = message["input"]?.stringValue else {
                    different.append("line \(n + 1): not an IEPile record with a OneKE instruction")
                    total += 1
                    continue
                }
                total += 1
                let asked = message["instruction"]?.stringValue ?? ""
                let examples = message["example"]?.arrayValue ?? []
                // The task and language whose instruction the record uses.
                var rebuilt: String?
                search: for task in requested.map({ [$0] }) ?? IETask.allCases {
                    for language in IELanguage.allCases where (try? format.instruction(task, language, withExamples: !examples.isEmpty)) == asked {
                        rebuilt = try format.userMessage(task: task, language: language, schema: schema, input: input, examples: examples)
                        break search
                    }
                }
                if rebuilt == instruction { same += 1 } else {
                    different.append("line \(n + 1): \(rebuilt == nil ? "its instruction text is not one of OneKE's" : "the rebuilt message differs")")
                }
            }
            for d in different.prefix(10) { printError(d) }
            print("\(same) of \(total) messages rebuilt byte for byte\(different.isEmpty ? "" : "; \(different.count) differ")")
            if !different.isEmpty { throw ExitCode(1) }
        }
    }
}
