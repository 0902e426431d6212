import Foundation
import GRDB

/// Formats `import-triples` reads.
public enum TripleFormat: String, Sendable, CaseIterable {
    case nTriples = "nt"
    case nQuads = "nq"
    case tsv
    case csv
    case jsonl

    /// From a file extension (`.nt`, `.nq`, `.tsv`, `.csv`, `.jsonl`/`.json`).
    public init?(path: String) {
        let ext = (path as NSString).pathExtension.lowercased()
        switch ext {
        case "nt", "ntriples": self = .nTriples
        case "nq", "nquads": self = .nQuads
        case "tsv", "tab": self = .tsv
        case "csv": self = .csv
        case "jsonl", "ndjson", "json": self = .jsonl
        default: return nil
        }
    }
}

/// How far an import has got.
public struct ImportProgress: Sendable {
    public var lines: Int
    public var bytes: Int
    public var totalBytes: Int
    /// Set once the file is read, for the work after it ("building index triples_pos", …).
    public var phase: String?

    public init(lines: Int, bytes: Int, totalBytes: Int, phase: String? = nil) {
        self.lines = lines
        self.bytes = bytes
        self.totalBytes = totalBytes
        self.phase = phase
    }
}

/// What an import did.
public struct TripleImportReport: Sendable, Equatable {
    public var file: String
    public var lines = 0
    public var parsed = 0
    /// Triples that were not in the knowledge base before.
    public var added = 0
    /// Bad lines skipped with --skip-bad: (line number, reason), the first `skippedListed` of them.
    public var skipped: [SkippedLine] = []
    /// How many bad lines were skipped in all.
    public var skippedCount = 0
    public static let skippedListed = 1000
    public var seconds: Double = 0
    /// The same file content was imported before; nothing was done.
    public var alreadyImported = false
    /// Triples removed by `replacing`: those only an earlier import of a file of the same name
    /// had added.
    public var removed = 0

    public struct SkippedLine: Sendable, Equatable {
        public var line: Int
        public var reason: String
    }
}

extension KnowledgeBase {
    /// Imports a triples file in one transaction: all of it or, on the first bad line (unless
    /// `skipBad`), none of it. Re-importing the same content changes nothing (the content hash is
    /// compared at the end, off the critical path, and a repeat is rolled back).
    ///
    /// `replacing`: the file is a new version of one imported before (same file name): triples
    /// that only the earlier versions added are removed, in the same transaction.
    public func importTriples(from url: URL, format: TripleFormat? = nil, skipBad: Bool = false, replacing: Bool = false,
                              progress: ((ImportProgress) -> Void)? = nil) throws -> TripleImportReport {
        guard let format = format ?? TripleFormat(path: url.path) else {
            throw KnowledgeBaseError.unsupportedFormat("cannot tell the format of \(url.lastPathComponent) from its extension; pass --format (nt, nq, tsv, csv, jsonl)")
        }
        let handle: FileHandle
        let size: Int
        do {
            handle = try FileHandle(forReadingFrom: url)
            size = Int(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
        } catch {
            throw KnowledgeBaseError.notFound("\(url.path): \(error.localizedDescription)")
        }
        return try importTriples(input: .file(handle), size: size, sourceName: url.path, format: format, skipBad: skipBad,
                                 replacing: replacing, progress: progress)
    }

    /// Imports triples held in memory (an upload), recorded under `sourceName` as if it were a
    /// file of that path: the same all-or-nothing transaction, repeat detection and
    /// `replacing` by the name's last component as `importTriples(from:)`.
    public func importTriples(bytes: [UInt8], sourceName: String, format: TripleFormat, skipBad: Bool = false,
                              replacing: Bool = false, progress: ((ImportProgress) -> Void)? = nil) throws -> TripleImportReport {
        try importTriples(input: .bytes(bytes), size: bytes.count, sourceName: sourceName, format: format, skipBad: skipBad,
                          replacing: replacing, progress: progress)
    }

    /// The import itself. A file is read in blocks (never all of it in memory); terms are
    /// cached up to a bound and found in SQLite beyond it, so memory stays flat however large
    /// the file is.
    private func importTriples(input: ParsedChunks.Input, size: Int, sourceName: String, format: TripleFormat, skipBad: Bool,
                               replacing: Bool, progress: ((ImportProgress) -> Void)?) throws -> TripleImportReport {
        let start = Date()
        let fileName = URL(fileURLWithPath: sourceName).lastPathComponent
        var report = TripleImportReport(file: fileName)
        struct AlreadyImported: Error {}
        do { try pool.write { db in
            let source = try TripleWriter.addSource(kind: "file", name: sourceName, hash: nil, in: db)
            // A file at least as large as the graph loads faster with the secondary indexes
            // built afterwards (one sorted pass) than maintained row by row. Same transaction:
            // a failed or killed import leaves them as they were.
            let existing = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM triples") ?? 0
            let rebuildIndexes = size / 100 >= max(existing, 50_000)
            if rebuildIndexes {
                for (name, _) in Self.bulkIndexes { try db.execute(sql: "DROP INDEX IF EXISTS \(name)") }
            }
            // A bigger page cache for big files (only used as the tables grow): 256 MB, inside
            // the 1 GB an import may take; the connection's usual 64 MB afterwards.
            if size > 64 << 20 { try db.execute(sql: "PRAGMA cache_size = -262144") }
            defer { if size > 64 << 20 { try? db.execute(sql: "PRAGMA cache_size = -65536") } }
            let writer = try TripleWriter(db)
            writer.expectTerms(size / 150)   // GeoNames: 186k distinct terms in 28.8 MB
            writer.defersLabelIndex = rebuildIndexes
            // Parsing runs on another thread, a chunk of lines ahead of the inserts; that thread
            // then hashes the file. The same content imported before rolls all of this back.
            let chunks = ParsedChunks(input: input, format: format)
            defer { chunks.cancel() }
            var lineNumber = 0
            while var chunk = chunks.next() {
                defer { chunks.giveBack(&chunk) }
                for item in chunk.items {
                    switch item {
                    case .triple(let triple):
                        try writer.add(triple, source: source)
                        report.parsed += 1
                    case .failure(let line, let reason):
                        if !skipBad { throw KnowledgeBaseError.badLine(file: fileName, line: line, reason: reason) }
                        report.skippedCount += 1
                        if report.skipped.count < TripleImportReport.skippedListed { report.skipped.append(.init(line: line, reason: reason)) }
                    }
                }
                if chunk.lastLine / 50_000 > lineNumber / 50_000 { progress?(ImportProgress(lines: chunk.lastLine, bytes: chunk.bytesDone, totalBytes: size)) }
                lineNumber = chunk.lastLine
            }
            report.lines = lineNumber
            report.added = writer.added
            func phase(_ text: String) { progress?(ImportProgress(lines: lineNumber, bytes: size, totalBytes: size, phase: text)) }
            if rebuildIndexes {
                // The index builds sort with helper threads (one per core, up to 4) and the
                // connection's usual page cache: at 27M triples 56 s instead of 100 s with one
                // thread and 256 MB, and a lower peak (SQLite sizes each sorter by the cache).
                let helpers = min(ProcessInfo.processInfo.activeProcessorCount, 4)
                try db.execute(sql: "PRAGMA cache_size = -65536")
                if helpers > 1 { try db.execute(sql: "PRAGMA threads = \(helpers)") }
                defer { if helpers > 1 { try? db.execute(sql: "PRAGMA threads = 0") } }
                for (name, definition) in Self.bulkIndexes {
                    phase("building index \(name)")
                    try db.execute(sql: definition)
                }
                phase("building the full-text index of names")
                try TripleWriter.rebuildLabelIndex(db)
            }
            if let failure = chunks.failure { throw KnowledgeBaseError.notFound("\(fileName): \(failure)") }
            guard let hash = chunks.contentHash() else { throw KnowledgeBaseError.notFound("\(fileName): could not be read to the end") }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM sources WHERE kind = 'file' AND content_hash = ?", arguments: [hash]) == true {
                throw AlreadyImported()
            }
            try db.execute(sql: "UPDATE sources SET content_hash = ? WHERE id = ?", arguments: [hash, source])
            if replacing { report.removed = try removeEarlierVersions(of: fileName, keeping: source, db) }
            phase("committing")
        } } catch is AlreadyImported {
            report = TripleImportReport(file: fileName)
            report.alreadyImported = true
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Removes what earlier imports of a file named `fileName` added and no other source
    /// (including `keeping`, the new version) also added; returns how many triples went.
    func removeEarlierVersions(of fileName: String, keeping source: Int64, _ db: Database) throws -> Int {
        let earlier = try Row.fetchAll(db, sql: "SELECT id, name FROM sources WHERE kind = 'file' AND id != ?", arguments: [source])
            .filter { URL(fileURLWithPath: $0[1] as String).lastPathComponent == fileName }.map { $0[0] as Int64 }
        guard !earlier.isEmpty else { return 0 }
        return try removeSources(earlier, keeping: source, db)
    }

    /// Removes the sources `ids` with the triples that no other source (including `keeping`)
    /// also gave, their labels and their extraction provenance; returns how many triples went.
    func removeSources(_ ids: [Int64], keeping source: Int64, _ db: Database) throws -> Int {
        let earlier = ids.filter { $0 != source }
        guard !earlier.isEmpty else { return 0 }
        let list = earlier.map(String.init).joined(separator: ",")
        let orphans = try Row.fetchAll(db, sql: """
            SELECT DISTINCT s, p, o FROM provenance AS old WHERE source IN (\(list)) AND NOT EXISTS (
              SELECT 1 FROM provenance AS other WHERE other.s = old.s AND other.p = old.p AND other.o = old.o AND other.source NOT IN (\(list)))
            """)
        let labelPredicates = try labelPredicateIDs(db)
        for row in orphans {
            let s: Int64 = row[0], p: Int64 = row[1], o: Int64 = row[2]
            try db.execute(sql: "DELETE FROM triples WHERE s = ? AND p = ? AND o = ?", arguments: [s, p, o])
            if labelPredicates.contains(p), let label = try Row.fetchOne(db, sql: "SELECT value, lang FROM terms WHERE id = ?", arguments: [o]) {
                for id in try Int64.fetchAll(db, sql: "SELECT id FROM labels WHERE term = ? AND label = ? AND lang = ?", arguments: [s, label[0] as String, label[1] as String]) {
                    try TripleWriter.removeLabel(id: id, db)
                }
            }
        }
        try db.execute(sql: "DELETE FROM provenance WHERE source IN (\(list))")
        try db.execute(sql: "DELETE FROM extraction_evidence WHERE source IN (\(list))")
        try db.execute(sql: "DELETE FROM extractions WHERE source IN (\(list))")
        try db.execute(sql: "DELETE FROM sources WHERE id IN (\(list))")
        return orphans.count
    }

    /// Secondary indexes a bulk import may drop and rebuild (as the v1-graph migration defines them).
    static let bulkIndexes: [(String, String)] = [
        ("triples_pos", "CREATE INDEX triples_pos ON triples(p, o, s)"),
        ("triples_osp", "CREATE INDEX triples_osp ON triples(o, s, p)"),
        ("provenance_source", "CREATE INDEX provenance_source ON provenance(source)"),
        ("labels_text", "CREATE INDEX labels_text ON labels(label COLLATE NOCASE)"),
    ]

    /// Adds triples from a program (extraction results, tests) as one transaction, recording
    /// `sourceName` as their provenance. Returns how many were new.
    @discardableResult
    public func addTriples(_ triples: [Triple], sourceKind: String = "extraction", sourceName: String) throws -> Int {
        try pool.write { db in
            let source = try TripleWriter.addSource(kind: sourceKind, name: sourceName, hash: nil, in: db)
            let writer = try TripleWriter(db)
            for t in triples { try writer.add(t, source: source) }
            return writer.added
        }
    }
}

/// Lines parsed into triples by a background thread, handed over in order, a bounded number of
/// chunks ahead of the consumer. A file is read in blocks; the content hash is computed as the
/// blocks go by.
final class ParsedChunks: @unchecked Sendable {
    // @unchecked: the queue is guarded by `condition`; the input is read only by the thread.
    enum Item { case triple(Triple), failure(line: Int, reason: String) }
    struct Chunk { var items: [Item]; var lastLine: Int; var bytesDone: Int }
    enum Input { case file(FileHandle), bytes([UInt8]) }

    private let condition = NSCondition()
    private var ready: [Chunk] = []
    private var finished = false
    private var cancelled = false
    private var hash: String?
    private var readError: String?
    private let depth = 4
    static let blockSize = 4 << 20
    /// Item arrays the consumer is done with, for the parsing thread to empty and fill again:
    /// their terms are freed there, on the other core, and their storage is reused instead of
    /// being mapped fresh for every chunk.
    private var spent: [[Item]] = []

    init(input: Input, format: TripleFormat) {
        Thread.detachNewThread { [self] in
            var hasher = SHA256()
            var lines = LineParser(reader: TripleLineReader(format: format))
            var consumed = 0   // input bytes before the buffer being parsed
            func parse(_ buffer: [UInt8], upTo end: Int, last: Bool) -> Bool {
                lines.parse(buffer, upTo: end, last: last, offset: consumed, push: push, fresh: reuse)
            }
            var completed = true
            switch input {
            case .bytes(let bytes):
                bytes.withUnsafeBytes { hasher.update($0) }
                completed = parse(bytes, upTo: bytes.count, last: true)
                consumed = bytes.count
            case .file(let handle):
                var carry: [UInt8] = []
                while completed {
                    let block: Data
                    do { block = try handle.read(upToCount: Self.blockSize) ?? Data() } catch {
                        condition.lock(); readError = error.localizedDescription; condition.unlock()
                        break
                    }
                    if block.isEmpty {
                        if !carry.isEmpty { completed = parse(carry, upTo: carry.count, last: true); consumed += carry.count }
                        break
                    }
                    block.withUnsafeBytes { hasher.update($0) }
                    carry.append(contentsOf: block)
                    guard let lastNewline = carry.lastIndex(of: 0x0A) else { continue }
                    completed = parse(carry, upTo: lastNewline, last: false)
                    carry.removeSubrange(0...lastNewline)
                    consumed += lastNewline + 1
                }
                try? handle.close()
            }
            if completed && !lines.items.isEmpty { completed = push(Chunk(items: lines.items, lastLine: lines.lineNumber, bytesDone: consumed)) }
            condition.lock()
            finished = true
            if completed { hash = hasher.finalize() } else { cancelled = true }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Splits a buffer into lines and parses them, handing over a chunk every 10,000 items.
    struct LineParser {
        var reader: TripleLineReader
        var lineNumber = 0
        var items: [Item] = []

        /// Parses the lines of buffer[..<end]; false once the consumer has gone. `fresh` gives an
        /// empty array to fill next.
        mutating func parse(_ buffer: [UInt8], upTo end: Int, last: Bool, offset: Int, push: (Chunk) -> Bool,
                            fresh: () -> [Item]) -> Bool {
            if items.capacity < 10_000 { items.reserveCapacity(10_000) }
            var start = 0
            while start < end {
                let stop = buffer.withUnsafeBufferPointer { b -> Int in
                    guard let hit = memchr(b.baseAddress! + start, 0x0A, end - start) else { return end }
                    return b.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                }
                lineNumber += 1
                do {
                    for triple in try reader.triples(from: buffer[start..<stop], lineNumber: lineNumber) {
                        items.append(.triple(triple))
                    }
                } catch let failure as NTriplesParser.Failure {
                    items.append(.failure(line: lineNumber, reason: failure.reason))
                } catch {
                    items.append(.failure(line: lineNumber, reason: "\(error)"))
                }
                start = stop + 1
                if items.count >= 10_000 || (last && start >= end) {
                    if !push(Chunk(items: items, lastLine: lineNumber, bytesDone: offset + start)) { return false }
                    items = fresh()
                }
            }
            return true
        }
    }

    /// Why reading the file failed, if it did (checked after the last chunk).
    var failure: String? {
        condition.lock()
        defer { condition.unlock() }
        return readError
    }

    /// SHA-256 of the whole input (computed as it is read); waits for the end. nil when the
    /// input could not be read to the end.
    func contentHash() -> String? {
        condition.lock()
        defer { condition.unlock() }
        while hash == nil && !finished { condition.wait() }
        return hash
    }

    /// Waits while `depth` chunks are queued; false once the consumer has gone.
    private func push(_ chunk: Chunk) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while ready.count >= depth && !cancelled { condition.wait() }
        if cancelled { return false }
        ready.append(chunk)
        condition.broadcast()
        return true
    }

    /// The next chunk in file order; nil at the end.
    func next() -> Chunk? {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty && !finished { condition.wait() }
        if ready.isEmpty { return nil }
        let chunk = ready.removeFirst()
        condition.broadcast()
        return chunk
    }

    /// Takes back a chunk the consumer is done with (its items go to the parsing thread).
    func giveBack(_ chunk: inout Chunk) {
        condition.lock()
        defer { condition.unlock() }
        guard spent.count < depth else { return }
        spent.append([])
        swap(&spent[spent.count - 1], &chunk.items)   // moved, never shared: the parser empties it in place
    }

    /// An empty item array for the parsing thread: a spent one emptied here, or a new one.
    private func reuse() -> [Item] {
        condition.lock()
        var items = spent.popLast() ?? []
        condition.unlock()
        items.removeAll(keepingCapacity: true)
        if items.capacity < 10_000 { items.reserveCapacity(10_000) }
        return items
    }

    /// Stops the parser (the consumer failed or finished early).
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Turns lines of any supported format into triples. Plain `head relation tail` rows mint
/// entity IRIs and label them with the names as written.
struct TripleLineReader {
    let format: TripleFormat
    private var nTriples = NTriplesParser()
    private var sawHeader = false

    init(format: TripleFormat) { self.format = format }

    mutating func triples(from line: ArraySlice<UInt8>, lineNumber: Int) throws -> [Triple] {
        switch format {
        case .nTriples, .nQuads:
            return try nTriples.parse(line).map { [$0] } ?? []
        case .tsv, .csv:
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            if text.trimmingCharacters(in: .whitespaces).isEmpty || text.hasPrefix("#") { return [] }
            let fields = format == .tsv ? text.components(separatedBy: "\t") : try Self.csvFields(text)
            guard fields.count == 3 else {
                throw NTriplesParser.Failure(reason: "expected 3 fields (head, relation, tail), found \(fields.count)")
            }
            let cleaned = fields.map { $0.trimmingCharacters(in: .whitespaces) }
            if lineNumber == 1, Self.isHeader(cleaned) { return [] }
            guard !cleaned.contains(where: \.isEmpty) else { throw NTriplesParser.Failure(reason: "empty field") }
            return Self.namedTriples(head: cleaned[0], relation: cleaned[1], tail: .plain(cleaned[2]))
        case .jsonl:
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { return [] }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                throw NTriplesParser.Failure(reason: "not a JSON object")
            }
            func field(_ keys: [String]) -> Any? { keys.lazy.compactMap { object[$0] }.first }
            guard let head = field(["head", "subject", "s"]), let relation = field(["relation", "predicate", "p", "rel"]),
                  let tail = field(["tail", "object", "o"]) else {
                throw NTriplesParser.Failure(reason: "needs head/subject, relation/predicate and tail/object")
            }
            guard let headName = head as? String, let relationName = relation as? String, !headName.isEmpty, !relationName.isEmpty else {
                throw NTriplesParser.Failure(reason: "head and relation must be non-empty strings")
            }
            return Self.namedTriples(head: headName, relation: relationName, tail: try Self.jsonObjectTerm(tail))
        }
    }

    enum Tail { case plain(String), term(RDFTerm) }

    static func isAbsoluteIRI(_ s: String) -> Bool {
        s.hasPrefix("http://") || s.hasPrefix("https://") || s.hasPrefix("urn:")
    }

    static func isHeader(_ f: [String]) -> Bool {
        let lower = f.map { $0.lowercased() }
        return lower == ["head", "relation", "tail"] || lower == ["subject", "predicate", "object"] || lower == ["s", "p", "o"]
    }

    static func entity(_ name: String) -> (RDFTerm, Bool) {
        isAbsoluteIRI(name) ? (.iri(name), false) : (.mintedEntity(name), true)
    }

    static func namedTriples(head: String, relation: String, tail: Tail) -> [Triple] {
        var out: [Triple] = []
        let (h, mintedHead) = entity(head)
        let r: RDFTerm = isAbsoluteIRI(relation) ? .iri(relation) : .mintedRelation(relation)
        let t: RDFTerm
        var mintedTail = false
        switch tail {
        case .term(let term): t = term
        case .plain(let text):
            if let number = Int(text) {
                t = .literal(String(number), datatype: RDFTerm.xsd + "integer")
            } else if Double(text) != nil, text.contains(".") || text.lowercased().contains("e") {
                t = .literal(text, datatype: RDFTerm.xsd + "double")
            } else {
                (t, mintedTail) = entity(text)
            }
        }
        out.append(Triple(h, r, t))
        if mintedHead { out.append(Triple(h, .iri(RDFTerm.rdfsLabel), .literal(head))) }
        if mintedTail { out.append(Triple(t, .iri(RDFTerm.rdfsLabel), .literal(t.shortForm))) }
        if !isAbsoluteIRI(relation) { out.append(Triple(r, .iri(RDFTerm.rdfsLabel), .literal(relation))) }
        return out
    }

    static func jsonObjectTerm(_ value: Any) throws -> Tail {
        switch value {
        case let s as String: return .plain(s)
        case let n as NSNumber:
            let objCType = String(cString: n.objCType)
            if objCType == "c" || objCType == "B" { return .term(.literal(n.boolValue ? "true" : "false", datatype: RDFTerm.xsd + "boolean")) }
            if n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 {
                return .term(.literal(String(n.int64Value), datatype: RDFTerm.xsd + "integer"))
            }
            return .term(.literal(String(n.doubleValue), datatype: RDFTerm.xsd + "double"))
        case let o as [String: Any]:
            if let iri = o["iri"] as? String { return .term(.iri(iri)) }
            if let v = o["value"] {
                let text = (v as? String) ?? "\(v)"
                return .term(.literal(text, datatype: o["datatype"] as? String, language: (o["lang"] ?? o["language"]) as? String))
            }
            throw NTriplesParser.Failure(reason: "object must have \"iri\" or \"value\"")
        default:
            throw NTriplesParser.Failure(reason: "unsupported tail value")
        }
    }

    /// RFC 4180 fields of one CSV line.
    static func csvFields(_ line: String) throws -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(line).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else { quoted = false }
                } else { current.append(c) }
            } else if c == "\"" && current.isEmpty {
                quoted = true
            } else if c == "," {
                fields.append(current); current = ""
            } else {
                current.append(c)
            }
        }
        guard !quoted else { throw NTriplesParser.Failure(reason: "unterminated quoted field") }
        fields.append(current)
        return fields
    }
}
