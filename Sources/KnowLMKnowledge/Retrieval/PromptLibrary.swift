import Foundation
import Mustache

/// The Mustache templates in `Prompts/` (shipped as resources of this module).
public struct PromptLibrary: Sendable {
    private let templates: [String: MustacheTemplate]

    /// Loads every `*.mustache` in `directory` (default: the bundled `Prompts/`).
    public init(directory: URL? = nil) throws {
        guard let folder = directory ?? Bundle.module.resourceURL?.appendingPathComponent("Prompts") else {
            throw KnowledgeBaseError.notFound("the Prompts resource folder")
        }
        var templates: [String: MustacheTemplate] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for file in files where file.hasSuffix(".mustache") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            do { templates[String(file.dropLast(".mustache".count))] = try MustacheTemplate(string: text) } catch {
                throw KnowledgeBaseError.invalidArgument("prompt template \(file) does not parse: \(error)")
            }
        }
        guard !templates.isEmpty else { throw KnowledgeBaseError.notFound("prompt templates in \(folder.path)") }
        self.templates = templates
    }

    public var names: [String] { templates.keys.sorted() }

    /// A data file shipped beside the templates (for example `oneke_instructions.json`).
    public static func resource(named file: String) throws -> Data {
        guard let url = Bundle.module.resourceURL?.appendingPathComponent("Prompts").appendingPathComponent(file),
              let data = FileManager.default.contents(atPath: url.path) else {
            throw KnowledgeBaseError.notFound("\(file) in the Prompts resource folder")
        }
        return data
    }

    /// Renders `name` (for example `knowledge_qa.en`). Mustache comments and the blank line
    /// they leave at the top are dropped.
    public func render(_ name: String, _ context: [String: Any]) throws -> String {
        guard let template = templates[name] else { throw KnowledgeBaseError.notFound("prompt template \(name).mustache") }
        var text = template.render(context)
        while text.hasPrefix("\n") { text.removeFirst() }
        return text
    }
}
