import ArgumentParser
import Foundation
import KnowLMKnowledge

/// `knowlm sparql`: a SPARQL SELECT query (the supported subset) over a knowledge base.
struct Sparql: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sparql",
        abstract: "Run a SPARQL SELECT query (subset)",
        discussion: """
        Supported: PREFIX; SELECT [DISTINCT] ?a ?b | * | (COUNT(*|[DISTINCT] ?x) AS ?n); basic graph \
        patterns with ';' ',' and 'a'; FILTER with = != < > <= >= && || ! regex() lang() str() bound(); \
        OPTIONAL { … }; GROUP BY; ORDER BY [ASC|DESC](?v); LIMIT; OFFSET. Anything else is refused by name.

        Example:
          knowlm kb sparql 'PREFIX o: <http://knowlm.dev/ontology/>
            SELECT ?capital WHERE { <http://knowlm.dev/geo/country/FR> o:capital ?capital }'
        """)

    @OptionGroup var kb: KnowledgeBaseOptions

    @Argument(help: "The query (or pass -f FILE).")
    var query: String?

    @Option(name: .shortAndLong, help: "Read the query from a file ('-' for standard input).")
    var file: String?

    @Flag(help: "Print {\"variables\": [...], \"rows\": [[term or null, ...], ...]} (terms in N-Triples syntax).")
    var json = false

    @Flag(help: "Print the SQL the query compiles to and SQLite's plan for it instead of the results.")
    var explain = false

    @Option(name: .customLong("repeat"), help: "Run the query this many more times and report the median time (for benchmarks).")
    var repeatCount = 0

    func validate() throws {
        if (query == nil) == (file == nil) { throw ValidationError("give the query as an argument or with -f FILE (one of them)") }
    }

    func run() async throws {
        let text: String
        if let file {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            text = String(decoding: data, as: UTF8.self)
        } else {
            text = query ?? ""
        }
        let base = try kb.open()
        if explain {
            print(try base.sparqlExplanation(text))
            return
        }
        var start = Date()
        let result = try base.sparql(text)
        var elapsed = Date().timeIntervalSince(start)
        if repeatCount > 0 {
            var samples: [TimeInterval] = []
            for _ in 0..<repeatCount {
                start = Date()
                _ = try base.sparql(text)
                samples.append(Date().timeIntervalSince(start))
            }
            let sorted = samples.sorted()
            elapsed = sorted[sorted.count / 2]
            printError(String(format: "median of %d runs after the first: %.3f ms (min %.3f, max %.3f)",
                              repeatCount, elapsed * 1000, sorted[0] * 1000, sorted[sorted.count - 1] * 1000))
        }
        if json {
            let rows: [[Any]] = result.textRows.map { $0.map { $0.map { $0 as Any } ?? NSNull() } }
            print(try jsonLine(["variables": result.variables, "rows": rows]))
        } else {
            print(Self.table(result))
            printError(String(format: "%d row%@ in %.2f ms", result.rows.count, result.rows.count == 1 ? "" : "s", elapsed * 1000))
        }
    }

    /// A plain text table: one column per variable, terms in N-Triples syntax, long ones cut.
    static func table(_ result: SPARQLResult, maxWidth: Int = 60) -> String {
        let header = result.variables.map { "?" + $0 }
        let cells = result.textRows.map { row in
            row.map { cell -> String in
                guard let cell else { return "" }
                return cell.count > maxWidth ? String(cell.prefix(maxWidth - 1)) + "…" : cell
            }
        }
        var widths = header.map(\.count)
        for row in cells { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ values: [String]) -> String {
            zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var lines = [line(header), line(widths.map { String(repeating: "-", count: $0) })]
        lines += cells.map(line)
        return lines.joined(separator: "\n")
    }
}
