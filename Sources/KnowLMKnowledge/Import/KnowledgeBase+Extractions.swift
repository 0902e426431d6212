import Foundation
import GRDB

/// A fact an extractor found in a document, with where it was found.
public struct ExtractedFact: Sendable, Equatable {
    public var subject: String
    public var relation: String
    public var object: String
    /// Where the evidence lies in the document (Unicode scalar offsets, end exclusive): the
    /// sentence or window the fact came from.
    public var start: Int
    public var end: Int
    public init(subject: String, relation: String, object: String, start: Int, end: Int) {
        self.subject = subject; self.relation = relation; self.object = object; self.start = start; self.end = end
    }
}

/// An extracted entity and its type (stored as `rdf:type`).
public struct ExtractedEntity: Sendable, Equatable {
    public var mention: String
    public var type: String
    public var start: Int
    public var end: Int
    public init(mention: String, type: String, start: Int, end: Int) {
        self.mention = mention; self.type = type; self.start = start; self.end = end
    }
}

/// Who extracted what from which document.
public struct ExtractionRun: Sendable, Equatable {
    public var document: String
    public var model: String
    public var task: String
    /// The schema as JSON text.
    public var schema: String
    public init(document: String, model: String, task: String, schema: String) {
        self.document = document; self.model = model; self.task = task; self.schema = schema
    }
}

public struct ExtractionImportReport: Sendable, Equatable {
    /// Triples new to the graph.
    public var added = 0
    /// Triples that only the document's earlier extraction had given, now removed.
    public var removed = 0
    public var facts = 0
}

extension KnowledgeBase {
    /// Puts what was extracted from one document into the graph, replacing what an earlier
    /// extraction of the same document put there (re-running does not duplicate). Entities are
    /// matched to existing ones by exact preferred label, else minted; types become `rdf:type`
    /// edges to classes named by the schema. Provenance — the document, the offsets of the
    /// evidence, the model, the task and the schema — is kept in `extractions` and
    /// `extraction_evidence`. One transaction: on any error nothing changes.
    @discardableResult
    public func replaceExtraction(_ run: ExtractionRun, facts: [ExtractedFact], entities: [ExtractedEntity]) throws -> ExtractionImportReport {
        try pool.write { db in
            var report = ExtractionImportReport()
            let earlier = try Int64.fetchAll(db, sql: "SELECT id FROM sources WHERE kind = 'extraction' AND name = ?", arguments: [run.document])
            let source = try TripleWriter.addSource(kind: "extraction", name: run.document, hash: nil, in: db)
            try db.execute(sql: "INSERT INTO extractions(source, document, model, task, schema, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [source, run.document, run.model, run.task, run.schema, Date().timeIntervalSince1970])
            let writer = try TripleWriter(db)
            func entity(_ name: String) throws -> (RDFTerm, [Triple]) {
                if let existing = try Row.fetchOne(db, sql: """
                    SELECT t.kind, t.value, t.datatype, t.lang FROM labels l JOIN terms t ON t.id = l.term
                    WHERE l.label = ? AND l.preferred = 1 AND t.kind = 0 LIMIT 1
                    """, arguments: [name]) {
                    let term = TripleWriter.term(kind: existing[0], value: existing[1], datatype: existing[2], lang: existing[3])
                    // An entity an extraction minted keeps its name under this extraction too, so
                    // replacing the earlier one does not take the name away.
                    let minted: Bool
                    if case .iri(let iri) = term { minted = iri.hasPrefix(RDFTerm.mintedEntity) } else { minted = false }
                    return (term, minted ? [Triple(term, .iri(RDFTerm.rdfsLabel), .literal(name))] : [])
                }
                let term = RDFTerm.mintedEntity(name)
                return (term, [Triple(term, .iri(RDFTerm.rdfsLabel), .literal(name))])
            }
            func record(_ triple: Triple, start: Int, end: Int) throws {
                if try writer.add(triple, source: source) { report.added += 1 }
                let s = try writer.id(for: triple.subject), p = try writer.id(for: triple.predicate), o = try writer.id(for: triple.object)
                try db.execute(sql: "INSERT OR IGNORE INTO extraction_evidence(source, s, p, o, start, \"end\") VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [source, s, p, o, start, end])
            }
            for fact in facts {
                let (subject, subjectLabels) = try entity(fact.subject)
                let (object, objectLabels) = try entity(fact.object)
                let relation = RDFTerm.mintedRelation(fact.relation)
                try record(Triple(subject, relation, object), start: fact.start, end: fact.end)
                for t in subjectLabels + objectLabels + [Triple(relation, .iri(RDFTerm.rdfsLabel), .literal(fact.relation))] {
                    if try writer.add(t, source: source) { report.added += 1 }
                }
                report.facts += 1
            }
            for e in entities {
                let (subject, labels) = try entity(e.mention)
                let type = RDFTerm.mintedEntity(e.type)
                try record(Triple(subject, .iri(RDFTerm.rdfType), type), start: e.start, end: e.end)
                for t in labels + [Triple(type, .iri(RDFTerm.rdfsLabel), .literal(e.type))] {
                    if try writer.add(t, source: source) { report.added += 1 }
                }
            }
            // Only now drop the earlier extraction: what the new one repeats stays (it is not new
            // either), what only the old one said goes.
            if !earlier.isEmpty { report.removed = try removeSources(earlier, keeping: source, db) }
            return report
        }
    }

    /// The provenance of a triple given by extraction: the documents, offsets and models.
    public func extractionEvidence(subject: RDFTerm, predicate: RDFTerm, object: RDFTerm) throws -> [(run: ExtractionRun, start: Int, end: Int)] {
        try pool.read { db in
            guard let s = try TripleWriter.existingID(of: subject, in: db), let p = try TripleWriter.existingID(of: predicate, in: db),
                  let o = try TripleWriter.existingID(of: object, in: db) else { return [] }
            return try Row.fetchAll(db, sql: """
                SELECT x.document, x.model, x.task, x.schema, e.start, e."end" FROM extraction_evidence e
                JOIN extractions x ON x.source = e.source WHERE e.s = ? AND e.p = ? AND e.o = ?
                """, arguments: [s, p, o]).map {
                (ExtractionRun(document: $0[0], model: $0[1], task: $0[2], schema: $0[3]), $0[4], $0[5])
            }
        }
    }
}
