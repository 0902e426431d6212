import Foundation
import GRDB
import Testing
@testable import KnowLMKnowledge

/// A scratch knowledge base removed when the value goes away.
final class ScratchKnowledgeBase {
    let directory: URL
    let kb: KnowledgeBase
    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-kb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        kb = try KnowledgeBase(url: directory.appendingPathComponent("kb.sqlite"))
    }
    deinit { try? FileManager.default.removeItem(at: directory) }
    func write(_ name: String, _ text: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }
}

struct TripleStoreTests {
    static let sample = """
    <http://x.org/Peru> <http://x.org/capital> <http://x.org/Lima> .
    <http://x.org/Peru> <http://www.w3.org/2000/01/rdf-schema#label> "Peru"@en .
    <http://x.org/Peru> <http://www.w3.org/2000/01/rdf-schema#label> "秘鲁"@zh .
    <http://x.org/Lima> <http://www.w3.org/2000/01/rdf-schema#label> "Lima"@en .
    <http://x.org/Lima> <http://x.org/population> "7737002"^^<http://www.w3.org/2001/XMLSchema#integer> .
    # a comment
    <http://x.org/Lima> <http://x.org/motto> "Say \\"hi\\"\\n\\u00E9" <http://x.org/graph> .

    """

    @Test func importsNTriplesAndQueriesThem() throws {
        let scratch = try ScratchKnowledgeBase()
        let report = try scratch.kb.importTriples(from: try scratch.write("s.nq", Self.sample))
        #expect(report.parsed == 6 && report.added == 6)
        let capital = try scratch.kb.triples(matching: TriplePattern(subject: .iri("http://x.org/Peru"), predicate: .iri("http://x.org/capital")))
        #expect(capital == [Triple(.iri("http://x.org/Peru"), .iri("http://x.org/capital"), .iri("http://x.org/Lima"))])
        let motto = try scratch.kb.triples(matching: TriplePattern(predicate: .iri("http://x.org/motto")))
        #expect(motto.first?.object == .literal("Say \"hi\"\né"))
        #expect(try scratch.kb.linkEntities("秘鲁").first?.term == .iri("http://x.org/Peru"))
        #expect(try scratch.kb.label(of: .iri("http://x.org/Peru")) == "Peru")
        // Re-import: nothing changes.
        let again = try scratch.kb.importTriples(from: try scratch.write("s.nq", Self.sample))
        #expect(again.alreadyImported)
        #expect(try scratch.kb.statistics().triples == 6)
    }

    /// Files are read in blocks (ParsedChunks.blockSize): lines that straddle a block boundary,
    /// a last line without a newline and a bad line far into the file all behave as in memory;
    /// the content hash is the same as for the bytes uploaded at once.
    @Test func largeFilesAreReadInBlocks() throws {
        let scratch = try ScratchKnowledgeBase()
        var text = ""
        var n = 0
        while text.utf8.count < ParsedChunks.blockSize * 2 + 1000 {
            text += "<http://x.org/e\(n)> <http://x.org/p\(n % 7)> \"value \(n) \(String(repeating: "é", count: n % 13))\"@en .\n"
            n += 1
        }
        text += "<http://x.org/last> <http://x.org/p> <http://x.org/end> ."   // no newline
        let url = try scratch.write("big.nt", text)
        let report = try scratch.kb.importTriples(from: url)
        #expect(report.parsed == n + 1 && report.added == n + 1 && report.lines == n + 1)
        #expect(try scratch.kb.triples(matching: TriplePattern(subject: .iri("http://x.org/e\(n - 1)"))).count == 1)
        #expect(try scratch.kb.triples(matching: TriplePattern(subject: .iri("http://x.org/last"))).count == 1)
        let upload = try scratch.kb.importTriples(bytes: Array(text.utf8), sourceName: "again.nt", format: .nTriples)
        #expect(upload.alreadyImported, "the streamed hash equals the in-memory one")

        let broken = text.replacingOccurrences(of: "<http://x.org/e\(n - 5)> <http://x.org/p", with: "<http://x.org/e\(n - 5) <http://x.org/p")
        let other = try ScratchKnowledgeBase()
        #expect {
            try other.kb.importTriples(from: try other.write("broken.nt", broken))
        } throws: { error in
            error.localizedDescription.hasPrefix("broken.nt:\(n - 4):")
        }
        #expect(try other.kb.statistics().triples == 0)
    }

    @Test func aBadLineRefusesTheWholeFileUnlessSkipped() throws {
        let scratch = try ScratchKnowledgeBase()
        let bad = Self.sample + "<http://x.org/a> <http://x.org/b> \"unterminated .\n<http://x.org/c> <http://x.org/d> <http://x.org/e> .\n"
        let url = try scratch.write("bad.nt", bad)
        #expect {
            try scratch.kb.importTriples(from: url)
        } throws: { error in
            error.localizedDescription.hasPrefix("bad.nt:8: unterminated string literal")
        }
        #expect(try scratch.kb.statistics().triples == 0)
        let skipped = try scratch.kb.importTriples(from: url, skipBad: true)
        #expect(skipped.skipped.map(\.line) == [8])
        #expect(try scratch.kb.statistics().triples == 7)
    }

    @Test func importsHeadRelationTailFiles() throws {
        let scratch = try ScratchKnowledgeBase()
        _ = try scratch.kb.importTriples(from: try scratch.write("t.tsv", "head\trelation\ttail\n浙江大学\t位于\t杭州\nHangzhou\tpopulation\t11936010\n"))
        _ = try scratch.kb.importTriples(from: try scratch.write("t.csv", "\"Paris, France\",capital of,France\n"))
        _ = try scratch.kb.importTriples(from: try scratch.write("t.jsonl", #"{"subject": "Lima", "predicate": "founded", "object": {"value": "1535", "datatype": "http://www.w3.org/2001/XMLSchema#gYear"}}"# + "\n"))
        let zju = try scratch.kb.linkEntities("浙江大学").first
        #expect(zju?.label == "浙江大学")
        let located = try scratch.kb.neighbors(of: zju!.term)
        #expect(located.contains { $0.object == .mintedEntity("杭州") })
        #expect(try scratch.kb.triples(matching: TriplePattern(subject: .mintedEntity("Hangzhou"))).contains {
            $0.object == .literal("11936010", datatype: RDFTerm.xsd + "integer")
        })
        #expect(try scratch.kb.linkEntities("Paris, France").first?.term == .mintedEntity("Paris, France"))
        #expect(try scratch.kb.count(matching: TriplePattern(subject: .mintedEntity("Lima"))) == 2)
    }

    @Test func findsPathsAndMultiHopNeighbours() throws {
        let scratch = try ScratchKnowledgeBase()
        let nt = """
        <http://x.org/Osaka> <http://x.org/country> <http://x.org/Japan> .
        <http://x.org/Japan> <http://x.org/currency> <http://x.org/Yen> .
        <http://x.org/Yen> <http://x.org/symbol> "¥" .

        """
        _ = try scratch.kb.importTriples(from: try scratch.write("g.nt", nt))
        let paths = try scratch.kb.paths(from: .iri("http://x.org/Osaka"), to: .iri("http://x.org/Yen"))
        #expect(paths.count == 1 && paths[0].count == 2)
        #expect(try scratch.kb.neighbors(of: .iri("http://x.org/Osaka"), hops: 1).count == 1)
        #expect(try scratch.kb.neighbors(of: .iri("http://x.org/Osaka"), hops: 3).count == 3)
        #expect(try scratch.kb.neighbors(of: .iri("http://x.org/Osaka"), hops: 3, predicates: [.iri("http://x.org/country")]).count == 1)
        var exported = ""
        try scratch.kb.exportNTriples { exported += $0 }
        #expect(exported.split(separator: "\n").count == 3)
    }

    @Test func documentsAreChunkedIndexedAndSkippedWhenUnchanged() throws {
        let scratch = try ScratchKnowledgeBase()
        let doc = KnowledgeBase.DocumentInput(source: "a.txt", title: "Zhejiang", text: "浙江大学位于杭州。它创建于1897年。Zhejiang University is in Hangzhou. It is old.", format: "text")
        let first = try scratch.kb.ingest([doc], chunker: Chunker(tokenBudget: 12))
        #expect(first.documentsAdded == 1 && first.chunks >= 2)
        #expect(try scratch.kb.searchText("杭州").first?.text.contains("杭州") == true)
        #expect(try scratch.kb.searchText("hangzhou university").first?.text.contains("Hangzhou") == true)
        #expect(try scratch.kb.ingest([doc]).documentsUnchanged == 1)
        var changed = doc
        changed.text = "浙江大学位于杭州西湖区。"
        let replaced = try scratch.kb.ingest([changed])
        #expect(replaced.documentsReplaced == 1)
        #expect(try scratch.kb.statistics().documents == 1)
        #expect(try scratch.kb.searchText("1897").isEmpty)
        #expect(try scratch.kb.integrityCheck() == "ok")
    }

    /// A large file into a small graph rebuilds the secondary indexes after loading; they must
    /// be there afterwards, and still there when such an import fails.
    @Test func bulkImportKeepsTheIndexes() throws {
        let scratch = try ScratchKnowledgeBase()
        func indexes() throws -> Set<String> {
            try scratch.kb.pool.read { db in
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('triples_pos', 'triples_osp', 'provenance_source', 'labels_text')"))
            }
        }
        var lines = (0..<60_000).map { "<http://x.org/e\($0)> <http://x.org/p\($0 % 7)> <http://x.org/e\(($0 * 31) % 60_000)> ." }
        lines += (0..<1_000).map { "<http://x.org/e\($0)> <http://www.w3.org/2000/01/rdf-schema#label> \"Entity \($0)\"@en ." }
        let good = try scratch.write("big.nt", lines.joined(separator: "\n") + "\n")
        lines.append("<http://x.org/broken")
        let bad = try scratch.write("bad.nt", lines.joined(separator: "\n") + "\n")
        #expect(throws: KnowledgeBaseError.self) { try scratch.kb.importTriples(from: bad) }
        func fullText(_ match: String) throws -> Int? {
            try scratch.kb.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM labels_fts WHERE labels_fts MATCH ?", arguments: [match]) }
        }
        #expect(try indexes().count == 4 && scratch.kb.statistics().triples == 0)
        #expect(try fullText("entity") == 0)
        let report = try scratch.kb.importTriples(from: good)
        #expect(report.added == 61_000)
        #expect(try indexes().count == 4)
        let named = try scratch.kb.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM labels WHERE label = 'ENTITY 42' COLLATE NOCASE")
        }
        #expect(named == 1)
        // The full-text index of names, built in one pass after the rows, has every name.
        #expect(try fullText("entity") == 1_000 && fullText("entity 42") == 1)
        #expect(try scratch.kb.linkEntities("Entty 42").contains { $0.matchedName == "Entity 42" })
        let byObject = try scratch.kb.triples(matching: TriplePattern(predicate: .iri("http://x.org/p3"), object: .iri("http://x.org/e93")))
        #expect(byObject.count == 1)
        #expect(try scratch.kb.integrityCheck() == "ok")
    }

    /// A knowledge base made before the name index read its text from `labels` (schema v5)
    /// opens with its names still found, in English and in Chinese.
    @Test func namesSurviveTheLabelIndexMigration() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-kb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("kb.sqlite")
        do {
            let old = try DatabasePool(path: url.path)
            try KnowledgeBase.migrator.migrate(old, upTo: "v5-agent-step-planner")
            try old.write { db in
                try db.execute(sql: "INSERT INTO terms(id, kind, value) VALUES (1, 0, 'http://x.org/Peru')")
                for (id, label, lang) in [(1, "Republic of Peru", "en"), (2, "秘鲁共和国", "zh")] {
                    try db.execute(sql: "INSERT INTO labels(id, term, label, lang, preferred) VALUES (?, 1, ?, ?, 1)", arguments: [id, label, lang])
                    try db.execute(sql: "INSERT INTO labels_fts(rowid, label, cjk) VALUES (?, ?, ?)", arguments: [id, label, CJKText.indexTerms(label)])
                }
            }
        }
        let kb = try KnowledgeBase(url: url)
        #expect(try kb.linkEntities("Peru").first?.matchedName == "Republic of Peru")
        #expect(try kb.linkEntities("秘鲁").first?.matchedName == "秘鲁共和国")
        #expect(try kb.integrityCheck() == "ok")
        // New names after the migration go into the same index.
        let more = directory.appendingPathComponent("more.nt")
        try "<http://x.org/Lima> <http://www.w3.org/2000/01/rdf-schema#label> \"Lima Metropolitana\"@en .\n"
            .write(to: more, atomically: true, encoding: .utf8)
        _ = try kb.importTriples(from: more)
        #expect(try kb.linkEntities("Metropolitana").first?.matchedName == "Lima Metropolitana")
        #expect(try kb.integrityCheck() == "ok")
    }

    @Test func chunkerKeepsSentencesWhole() {
        let text = "Dr. Smith went to Washington. He arrived at 3 p.m. on Monday! Did he stay? 他住了三天。然后回家了！"
        let sentences = Chunker.sentences(text)
        #expect(sentences == ["Dr. Smith went to Washington.", "He arrived at 3 p.m. on Monday!", "Did he stay?", "他住了三天。", "然后回家了！"])
        let chunks = Chunker(tokenBudget: 10, overlapSentences: 1).chunks(text)
        #expect(chunks.count >= 3)
        #expect(chunks.allSatisfy { chunk in sentences.contains { chunk.hasPrefix($0) } })
    }
}
