import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMKnowledge
import KnowLMRuntime

/// `--kb PATH`, shared by every command that opens a knowledge base.
struct KnowledgeBaseOptions: ParsableArguments {
    @Option(name: .customLong("kb"), help: "Knowledge base file (default: $KNOWLM_HOME/kb/default.sqlite).")
    var path: String?

    var url: URL { path.map { URL(fileURLWithPath: $0) } ?? KnowledgeBase.defaultURL }

    func open(mustExist: Bool = true) throws -> KnowledgeBase {
        if mustExist && !FileManager.default.fileExists(atPath: url.path) {
            throw ValidationError("no knowledge base at \(url.path); create one with `knowlm kb init`\(path == nil ? " or build the default one with scripts/setup.sh" : "")")
        }
        return try KnowledgeBase(url: url)
    }
}

/// Loads the default embedder (all-MiniLM-L6-v2) or the one named.
func loadEmbedder(_ name: String?, fast: Bool = false) throws -> BERTEmbedder {
    let store = ModelStore()
    let path = try store.resolve(name ?? ModelStore.defaultEmbedder)
    return try BERTEmbedder(folder: URL(fileURLWithPath: path), precision: fast ? .bfloat16 : .float32)
}

/// The help of `--fast-embeddings`, shared by the commands that embed.
let fastEmbeddingsHelp: ArgumentHelp = "Embed with bfloat16 linear layers where the CPU has AVX512_BF16: faster, vectors in the same space (BENCHMARKS.md: speed and the recall it costs)."

struct KB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kb",
        abstract: "Build and query knowledge bases (a triple store and documents in one SQLite file).",
        subcommands: [Init.self, ImportTriples.self, Ingest.self, Index.self, Stats.self, Search.self, Sparql.self, Neighbors.self, Paths.self, Export.self, VectorBench.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty knowledge base (or bring an old one's schema up to date).")
        @OptionGroup var kb: KnowledgeBaseOptions
        func run() async throws {
            let base = try kb.open(mustExist: false)
            print("knowledge base ready at \(base.url.path)")
        }
    }

    struct ImportTriples: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-triples",
            abstract: "Import N-Triples/N-Quads, TSV/CSV (head relation tail) or JSONL triples, all or nothing.")
        @OptionGroup var kb: KnowledgeBaseOptions
        @Argument(help: "Files to import (each in its own transaction).") var files: [String]
        @Option(help: "Format when the extension does not tell: nt, nq, tsv, csv, jsonl.") var format: String?
        @Flag(help: "Skip bad lines (and report them) instead of refusing the file.") var skipBad = false
        @Flag(help: "The file is a new version of one imported before (same file name): remove the triples only the earlier versions added.")
        var replace = false

        func run() async throws {
            let base = try kb.open(mustExist: false)
            let forced = try format.map { value -> TripleFormat in
                guard let f = TripleFormat(rawValue: value) else { throw ValidationError("unknown --format \(value)") }
                return f
            }
            for file in files {
                let size = ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0
                let bar = ProgressLine((file as NSString).lastPathComponent, total: max(1, size >> 20), unit: "MB")
                // After a big file is read (16 MB and more, where the indexes and the commit take
                // seconds): what is being done, and how long each part took.
                let name = (file as NSString).lastPathComponent
                let showsPhases = size >= 16 << 20
                let isTerminal = isatty(STDERR_FILENO) == 1
                var phaseStart: (String, Date)?
                func endPhase() {
                    guard let (phase, start) = phaseStart else { return }
                    let seconds = Date().timeIntervalSince(start)
                    printError(isTerminal ? String(format: " %.1f s", seconds) : String(format: "%@: %@ took %.1f s", name, phase, seconds))
                }
                let report = try base.importTriples(from: URL(fileURLWithPath: file), format: forced, skipBad: skipBad, replacing: replace) { p in
                    guard let phase = p.phase else { bar.update(p.bytes >> 20); return }
                    guard showsPhases else { return }
                    if phaseStart == nil { bar.finish() }
                    endPhase()
                    phaseStart = (phase, Date())
                    if isTerminal { FileHandle.standardError.write(Data("\(name): \(phase)…".utf8)) }
                }
                if phaseStart == nil { bar.finish() } else { endPhase() }
                if report.alreadyImported {
                    print("\(file): already imported (same content); nothing to do")
                    continue
                }
                let rate = report.seconds > 0 ? Double(report.parsed) / report.seconds : 0
                print(String(format: "%@: %d lines, %d triples (%d new) in %.2f s (%.0f triples/s)", file, report.lines, report.parsed, report.added, report.seconds, rate)
                      + (replace ? "; \(report.removed) triples of earlier versions removed" : ""))
                for skipped in report.skipped.prefix(20) { printError("  skipped line \(skipped.line): \(skipped.reason)") }
                if report.skippedCount > 20 { printError("  … \(report.skippedCount - 20) more skipped lines") }
            }
        }
    }

    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add documents (text, Markdown, HTML, JSONL): chunked, full-text indexed and embedded.")
        @OptionGroup var kb: KnowledgeBaseOptions
        @Argument(help: "Files or folders.") var paths: [String]
        @Option(help: "Most tokens per chunk.") var chunkTokens = 200
        @Option(help: "Sentences shared by consecutive chunks.") var overlap = 0
        @Option(help: "Embedder folder or catalog name (default: all-minilm-l6-v2).") var embedder: String?
        @Flag(help: "Skip embeddings (full-text search only).") var noEmbed = false
        @Flag(help: fastEmbeddingsHelp) var fastEmbeddings = false

        func run() async throws {
            let base = try kb.open(mustExist: false)
            let model: BERTEmbedder? = noEmbed ? nil : try loadEmbedder(embedder, fast: fastEmbeddings)
            var documents: [KnowledgeBase.DocumentInput] = []
            for path in paths { documents += try KnowledgeBase.readDocuments(at: URL(fileURLWithPath: path)) }
            printError("ingesting \(documents.count) documents")
            var embedding: ProgressLine?, indexing: ProgressLine?
            let report = try base.ingest(documents, chunker: Chunker(tokenBudget: chunkTokens, overlapSentences: overlap), embedder: model,
                                         progress: { done, total in
                                             guard total > 0 else { return }
                                             if embedding == nil { embedding = ProgressLine("embedding", total: total, unit: "chunks") }
                                             embedding?.update(done)
                                         },
                                         indexProgress: { done, total in
                                             guard total > 0 else { return }
                                             if indexing == nil { embedding?.finish(); indexing = ProgressLine("vector index", total: total, unit: "vectors") }
                                             indexing?.update(done)
                                         })
            (indexing ?? embedding)?.finish()
            print(String(format: "%d documents added, %d replaced, %d unchanged; %d chunks in %.1f s",
                         report.documentsAdded, report.documentsReplaced, report.documentsUnchanged, report.chunks, report.seconds))
        }
    }

    struct Index: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the HNSW vector index of each embedding model up to date (ingest does this too).")
        @OptionGroup var kb: KnowledgeBaseOptions
        @Flag(help: "Build the index again from the stored embeddings.") var rebuild = false
        @Option(name: .customShort("M"), help: "Links per node (layer 0 keeps twice as many); used when an index is built (first time or --rebuild).") var m = 16
        @Option(help: "Candidate list size while building; used when an index is built (first time or --rebuild).") var efConstruction = 200

        func validate() throws {
            if m < 2 || m > 512 { throw ValidationError("-M must be between 2 and 512") }
            if efConstruction < 1 { throw ValidationError("--ef-construction must be at least 1") }
        }

        func run() async throws {
            let base = try kb.open()
            let models = try base.embeddingModels()
            if models.isEmpty { print("no embeddings to index (ingest documents with an embedder first)") }
            for model in models {
                let r = try base.updateVectorIndex(model: model, rebuild: rebuild,
                                                   parameters: .init(m: m, efConstruction: efConstruction)) { done, total in
                    printError("  \(model): \(done)/\(total)")
                }
                print(String(format: "%@: %d vectors; %d added, %d removed%@ in %.1f s", model, r.vectors, r.added, r.removed,
                             r.rebuilt ? " (built from scratch)" : "", r.seconds))
            }
        }
    }

    /// Recall and query rate of the HNSW index against exact search (Benchmarks/vector_index_vs_hnswlib.py).
    struct VectorBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vector-bench",
            abstract: "Measure the HNSW index against exact search: recall@k and queries/s at several ef.",
            shouldDisplay: false)
        @OptionGroup var kb: KnowledgeBaseOptions
        @Option(help: "Queries: little-endian float32 vectors, one after another.") var queries: String
        @Option(help: "Embedding model name (default: the only one stored).") var model: String?
        @Option var k = 10
        @Option(help: "Comma-separated ef values.") var ef = "16,32,64,128,256"
        @Option(help: "Write the exact top-k ids here (int64, k per query).") var exactOut: String?

        func run() async throws {
            let base = try kb.open()
            let models = try base.embeddingModels()
            guard let name = model ?? models.first else { throw ValidationError("no embeddings in \(base.url.path)") }
            let loadStart = Date()
            guard let hnsw = try base.loadVectorIndex(model: name) else { throw ValidationError("no embeddings for \(name)") }
            let loadSeconds = Date().timeIntervalSince(loadStart)
            let exact = try ExactVectorIndex.load(from: base, model: name)
            let data = try Data(contentsOf: URL(fileURLWithPath: queries))
            let d = hnsw.dimension
            let all: [Float] = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            guard all.count % d == 0 else { throw ValidationError("\(queries) does not hold \(d)-dimensional float32 vectors") }
            let qs = stride(from: 0, to: all.count, by: d).map { Array(all[$0..<($0 + d)]) }
            var truth: [[Int64]] = []
            let exactStart = Date()
            for q in qs { truth.append(exact.search(q, k: k).map(\.id)) }
            let exactQPS = Double(qs.count) / Date().timeIntervalSince(exactStart)
            if let exactOut {
                var out = Data()
                for row in truth { for id in row { withUnsafeBytes(of: id.littleEndian) { out.append(contentsOf: $0) } } }
                try out.write(to: URL(fileURLWithPath: exactOut))
            }
            var runs: [[String: Any]] = []
            for efValue in ef.split(separator: ",").compactMap({ Int($0) }) {
                var found = 0
                let start = Date()
                var results: [[Int64]] = []
                for q in qs { results.append(hnsw.search(q, k: k, ef: efValue).map(\.id)) }
                let qps = Double(qs.count) / Date().timeIntervalSince(start)
                for (r, t) in zip(results, truth) { found += Set(r).intersection(t).count }
                runs.append(["ef": efValue, "recall": Double(found) / Double(qs.count * k), "qps": qps])
            }
            print(try jsonLine(["vectors": hnsw.count, "queries": qs.count, "k": k, "load_seconds": loadSeconds,
                                "exact_qps": exactQPS, "hnsw": runs]))
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Counts of triples, entities, documents, chunks and embeddings.")
        @OptionGroup var kb: KnowledgeBaseOptions
        @Flag var json = false
        func run() async throws {
            let s = try kb.open().statistics()
            if json {
                print(try jsonLine(["triples": s.triples, "terms": s.terms, "entities": s.labelledEntities, "sources": s.sources,
                                    "documents": s.documents, "chunks": s.chunks, "embeddings": s.embeddings,
                                    "vector_index": s.indexedVectors]))
            } else {
                print("triples \(s.triples)\nterms \(s.terms)\nlabelled entities \(s.labelledEntities)\nsources \(s.sources)\ndocuments \(s.documents)\nchunks \(s.chunks)\nembeddings \(s.embeddings)\nvectors in HNSW index \(s.indexedVectors)")
            }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Search passages (BM25 + dense, fused by reciprocal rank) and link entities.")
        @OptionGroup var kb: KnowledgeBaseOptions
        @Argument(help: "The query (or --batch FILE).") var text: String?
        @Option(name: .shortAndLong, help: "Passages to return.") var limit = 5
        @Option(help: "Passage search: fused (BM25 + dense), text (BM25) or vector (dense).") var mode = "fused"
        @Option(help: "Embedder for dense search (default: all-minilm-l6-v2; 'none' disables).") var embedder: String?
        @Option(help: "Search every query of a file (one per line, or JSONL with \"question\" or \"query\" and optional \"id\"), printing one JSON line each.")
        var batch: String?
        @Flag(help: "Print JSON: {\"entities\", \"passages\": [{\"chunk\", \"document\", \"source\", \"title\", \"score\", \"text\"}]}.")
        var json = false

        func validate() throws {
            if (text == nil) == (batch == nil) { throw ValidationError("give a query or --batch FILE") }
            if Retriever.PassageSearch(rawValue: mode) == nil { throw ValidationError("--mode must be fused, text or vector") }
        }

        func run() async throws {
            let base = try kb.open()
            let searchMode = Retriever.PassageSearch(rawValue: mode) ?? .fused
            let dense: (any TextEmbedder)? = embedder == "none" || searchMode == .text ? nil : try loadEmbedder(embedder)
            let retriever = Retriever(kb: base, embedder: dense)
            func passages(_ query: String) throws -> [[String: Any]] {
                try retriever.searchPassages(query, limit: limit, mode: searchMode).map {
                    ["chunk": $0.chunkID, "document": $0.documentID, "source": $0.source, "title": $0.documentTitle, "score": $0.score, "text": $0.text]
                }
            }
            if let batch {
                for (id, query) in try readBatch(batch) {
                    print(try jsonLine(["id": id, "query": query, "passages": try passages(query)]))
                }
                return
            }
            let query = text ?? ""
            let entities = try base.linkEntities(query, limit: limit)
            if json {
                print(try jsonLine([
                    "entities": entities.map { ["term": "\($0.term)", "label": $0.label, "match": $0.match.rawValue] },
                    "passages": try passages(query),
                ]))
                return
            }
            for entity in entities {
                print("entity  \(entity.term)  \"\(entity.label)\"  (\(entity.match.rawValue) match on \"\(entity.matchedName)\")")
            }
            for hit in try retriever.searchPassages(query, limit: limit, mode: searchMode) {
                print(String(format: "passage %.4f  [%@] %@", hit.score, hit.documentTitle.isEmpty ? hit.source : hit.documentTitle, String(hit.text.prefix(160))))
            }
        }
    }

    struct Neighbors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Facts around an entity, up to 3 hops.")
        @OptionGroup var kb: KnowledgeBaseOptions
        @Argument(help: "Entity IRI or name.") var entity: String
        @Option var hops = 1
        @Option(help: "Only through these predicates (IRIs; repeatable).") var predicate: [String] = []
        @Option(name: .shortAndLong) var limit = 50
        func run() async throws {
            let base = try kb.open()
            let term = try resolveEntity(entity, in: base)
            let triples = try base.neighbors(of: term, hops: hops, predicates: predicate.isEmpty ? nil : Set(predicate.map { RDFTerm.iri($0) }), limit: limit)
            for t in triples {
                print("\(try base.label(of: t.subject)) | \(try base.label(of: t.predicate)) | \(try base.label(of: t.object))    \(t)")
            }
        }
    }

    struct Paths: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Paths between two entities, up to 3 hops.")
        @OptionGroup var kb: KnowledgeBaseOptions
        @Argument var from: String
        @Argument var to: String
        @Option var hops = 3
        func run() async throws {
            let base = try kb.open()
            for path in try base.paths(from: try resolveEntity(from, in: base), to: try resolveEntity(to, in: base), maxHops: hops) {
                print(try path.map { "\(try base.label(of: $0.subject)) -\(try base.label(of: $0.predicate))-> \(try base.label(of: $0.object))" }.joined(separator: " ; "))
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write every triple as N-Triples to standard output.")
        @OptionGroup var kb: KnowledgeBaseOptions
        func run() async throws {
            let base = try kb.open()
            try base.exportNTriples { line in writeOut(line) }
        }
    }
}

/// An IRI as given (`<…>` or http/urn), or the best entity linked from a name.
func resolveEntity(_ text: String, in base: KnowledgeBase) throws -> RDFTerm {
    if text.hasPrefix("<") && text.hasSuffix(">") { return .iri(String(text.dropFirst().dropLast())) }
    if text.hasPrefix("http://") || text.hasPrefix("https://") || text.hasPrefix("urn:") { return .iri(text) }
    guard let best = try base.linkEntities(text, limit: 1).first else {
        throw ValidationError("no entity named \"\(text)\" in the knowledge base")
    }
    return best.term
}
