import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMKnowledge
import KnowLMRuntime

struct Ask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a question from a knowledge base, citing the facts and passages used.",
        discussion: """
            Works on any knowledge base (--kb): entities and relations are found by their labels and by meaning, \
            facts along both directions and two-step chains; counts, comparisons and superlatives are computed from \
            the graph. When nothing retrieved supports an answer it says so ("The knowledge base has nothing on …"). \
            The default knowledge base (GeoNames facts and HaluEval passages) is built by scripts/setup.sh.
            """)

    @OptionGroup var kb: KnowledgeBaseOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Remote model") var backend: BackendOptions

    @Argument(help: "The question (English or Chinese).") var question: String?

    @Option(help: "Answer every question of a file (one per line, or JSONL with \"question\" and optional \"id\"), printing one JSON line each.")
    var batch: String?

    @Flag(help: "Also print the retrieved facts, passages and the prompt.") var showContext = false
    @Flag(help: "Print {\"answer\", \"citations\": [{\"id\", \"kind\", \"text\"}], \"supported\", \"decided_by\"}: supported is false for an abstention; decided_by says what chose the words (model, graph, or computed).") var json = false
    @Option(help: "Most facts in the prompt.") var facts = 6
    @Option(help: "Most passages in the prompt.") var passages = 3
    @Option(help: "Embedder folder or catalog name for dense passage search (default: all-minilm-l6-v2; 'none' disables).") var embedder: String?

    func validate() throws {
        if (question == nil) == (batch == nil) { throw ValidationError("give a question or --batch FILE") }
    }

    func run() async throws {
        let base = try kb.open()
        let embedding: (any TextEmbedder)? = embedder == "none" ? nil : try? loadEmbedder(embedder)
        let retriever = Retriever(kb: base, embedder: embedding)
        retriever.maxFacts = facts
        retriever.maxPassages = passages
        let options = model, remote = backend
        // Loaded only when an answer needs it (not for facts the graph gives or computes).
        let qa = KnowledgeQA(retriever: retriever, loadModel: { remote.isRemote ? try remote.remote() as any LanguageModel : try options.load() },
                             prompts: try PromptLibrary())
        if let batch {
            try await answerBatch(qa, file: batch)
            return
        }
        let result = try await qa.answer(question ?? "")
        if showContext {
            printError("entities: " + result.context.entities.map { "\($0.label) (\($0.match.rawValue) \"\($0.matchedName)\")" }.joined(separator: ", "))
            for item in result.context.items { printError(String(format: "[%@] %@ (%.2f): ", item.id, item.kind.rawValue, item.score) + item.text.prefix(300)) }
            printError(String(format: "retrieval %.3f s, model %.3f s", result.retrievalSeconds, result.generationSeconds))
            printError("relations: " + result.context.relations.map { String(format: "%@ %.2f", $0.name, $0.score) }.joined(separator: ", "))
            if let computed = result.context.computed { printError("computed (\(computed.kind)): \(computed.answer)") }
            printError("---- prompt ----\n\(result.prompt)\n---- output ----\n\(result.rawOutput)\n----")
        }
        if json {
            print(try jsonLine([
                "answer": result.answer,
                "citations": result.citations.map { ["id": $0.id, "kind": $0.kind, "text": $0.text] },
                "supported": result.supported, "decided_by": result.decidedBy.rawValue,
            ]))
        } else {
            print(result.answer)
            for c in result.citations { print("  [\(c.id)] \(c.text.prefix(200))") }
        }
    }

    func answerBatch(_ qa: KnowledgeQA, file: String) async throws {
        let lines = try readBatch(file)
        let start = Date()
        for (index, (id, text)) in lines.enumerated() {
            let asked = Date()
            let result = try await qa.answer(text)
            print(try jsonLine([
                "id": id, "question": text, "answer": result.answer,
                "citations": result.citations.map { ["id": $0.id, "kind": $0.kind, "text": $0.text] },
                "supported": result.supported, "decided_by": result.decidedBy.rawValue,
                "seconds": Date().timeIntervalSince(asked),
            ]))
            if (index + 1) % 25 == 0 {
                printError(String(format: "%d/%d questions, %.1f s each", index + 1, lines.count, Date().timeIntervalSince(start) / Double(index + 1)))
            }
        }
    }
}

/// Lines of a batch file: plain text (one item per line, numbered from 1) or JSONL objects with
/// "question" or "query" and an optional "id". Blank lines are skipped.
func readBatch(_ file: String) throws -> [(id: Any, text: String)] {
    let content: String
    do { content = try String(contentsOfFile: file, encoding: .utf8) } catch {
        throw ValidationError("cannot read \(file): \(error.localizedDescription)")
    }
    var items: [(id: Any, text: String)] = []
    for (index, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { continue }
        if trimmed.hasPrefix("{") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any],
                  let text = (object["question"] ?? object["query"]) as? String else {
                throw ValidationError("\(file):\(index + 1): expected a JSON object with \"question\" or \"query\"")
            }
            items.append((object["id"] ?? index + 1, text))
        } else {
            items.append((index + 1, trimmed))
        }
    }
    return items
}
