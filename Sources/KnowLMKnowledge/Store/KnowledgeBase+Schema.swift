import GRDB

extension KnowledgeBase {
    /// Versioned schema. Never edit a registered migration: add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-graph") { db in
            // Every distinct IRI, literal and blank node once; triples refer to terms by id.
            try db.execute(sql: """
                CREATE TABLE terms (
                    id INTEGER PRIMARY KEY,
                    kind INTEGER NOT NULL,          -- 0 IRI, 1 literal, 2 blank node
                    value TEXT NOT NULL,
                    datatype TEXT NOT NULL DEFAULT '',
                    lang TEXT NOT NULL DEFAULT '',
                    number REAL                     -- numeric literals, for comparisons
                );
                CREATE UNIQUE INDEX terms_key ON terms(value, kind, datatype, lang);
                CREATE TABLE triples (
                    s INTEGER NOT NULL, p INTEGER NOT NULL, o INTEGER NOT NULL,
                    PRIMARY KEY (s, p, o)
                ) WITHOUT ROWID;
                CREATE INDEX triples_pos ON triples(p, o, s);
                CREATE INDEX triples_osp ON triples(o, s, p);
                CREATE TABLE sources (
                    id INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL,             -- file, document, extraction
                    name TEXT NOT NULL,
                    content_hash TEXT,
                    created_at REAL NOT NULL
                );
                CREATE UNIQUE INDEX sources_hash ON sources(kind, content_hash);
                CREATE TABLE provenance (
                    s INTEGER NOT NULL, p INTEGER NOT NULL, o INTEGER NOT NULL, source INTEGER NOT NULL,
                    PRIMARY KEY (s, p, o, source)
                ) WITHOUT ROWID;
                CREATE INDEX provenance_source ON provenance(source);
                -- Names of entities (rdfs:label, skos:altLabel, ...) for entity linking.
                CREATE TABLE labels (
                    id INTEGER PRIMARY KEY,
                    term INTEGER NOT NULL,
                    label TEXT NOT NULL,
                    lang TEXT NOT NULL DEFAULT '',
                    preferred INTEGER NOT NULL       -- 1 for rdfs:label / prefLabel, 0 for aliases
                );
                CREATE UNIQUE INDEX labels_key ON labels(term, label, lang);
                CREATE INDEX labels_text ON labels(label COLLATE NOCASE);
                CREATE VIRTUAL TABLE labels_fts USING fts5(label, cjk, tokenize = 'unicode61 remove_diacritics 2');
                """)
        }
        migrator.registerMigration("v1-documents") { db in
            try db.execute(sql: """
                CREATE TABLE documents (
                    id INTEGER PRIMARY KEY,
                    source TEXT NOT NULL,
                    title TEXT NOT NULL,
                    format TEXT NOT NULL,
                    content_hash TEXT NOT NULL UNIQUE,
                    created_at REAL NOT NULL
                );
                CREATE INDEX documents_source ON documents(source);
                CREATE TABLE chunks (
                    id INTEGER PRIMARY KEY,
                    document INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                    ordinal INTEGER NOT NULL,
                    text TEXT NOT NULL,
                    tokens INTEGER NOT NULL
                );
                CREATE INDEX chunks_document ON chunks(document, ordinal);
                -- English words through unicode61; CJK text as overlapping bigrams and single
                -- characters in a column of its own (FTS5's trigram tokenizer cannot match
                -- two-character Chinese words).
                CREATE VIRTUAL TABLE chunks_fts USING fts5(text, cjk, tokenize = 'unicode61 remove_diacritics 2');
                CREATE TABLE embeddings (
                    chunk INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
                    model TEXT NOT NULL,
                    vector BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-vector-index") { db in
            // Approximate-search graphs over the embeddings of one model (derived data: rebuilt
            // from `embeddings` when missing or damaged). The vectors stay in `embeddings`.
            try db.execute(sql: """
                CREATE TABLE vector_indexes (
                    model TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,            -- 'hnsw'
                    graph BLOB NOT NULL,
                    vectors INTEGER NOT NULL,
                    updated_at REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v3-extractions") { db in
            // Provenance of facts put into the graph by information extraction: which document,
            // model, task and schema, and where in the document the evidence lies.
            try db.execute(sql: """
                CREATE TABLE extractions (
                    source INTEGER PRIMARY KEY,     -- sources.id (kind 'extraction')
                    document TEXT NOT NULL,
                    model TEXT NOT NULL,
                    task TEXT NOT NULL,
                    schema TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE INDEX extractions_document ON extractions(document);
                CREATE TABLE extraction_evidence (
                    source INTEGER NOT NULL, s INTEGER NOT NULL, p INTEGER NOT NULL, o INTEGER NOT NULL,
                    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
                    PRIMARY KEY (s, p, o, source, start)
                ) WITHOUT ROWID;
                CREATE INDEX extraction_evidence_source ON extraction_evidence(source);
                """)
        }
        migrator.registerMigration("v4-agent-runs") { db in
            // Execution feedback of the agent: every run and every step, what was called with
            // which arguments, what came back, how long it took and how the run ended.
            try db.execute(sql: """
                CREATE TABLE agent_runs (
                    id TEXT PRIMARY KEY,
                    task TEXT NOT NULL,
                    model TEXT NOT NULL,
                    tools TEXT NOT NULL,            -- JSON array of tool names
                    started_at REAL NOT NULL,
                    finished_at REAL,
                    outcome TEXT NOT NULL,          -- running, answered, forced, call, failed, cancelled, interrupted
                    answer TEXT,
                    verification TEXT,              -- JSON, detect's object
                    pid INTEGER NOT NULL,
                    task_embedding BLOB             -- float32, for retrieving similar past runs
                );
                CREATE INDEX agent_runs_started ON agent_runs(started_at);
                CREATE TABLE agent_steps (
                    run TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    prompt_tokens INTEGER NOT NULL,
                    thought TEXT NOT NULL,
                    tool TEXT,                      -- NULL for the final answer
                    arguments TEXT,                 -- JSON
                    observation TEXT,
                    outcome TEXT NOT NULL,          -- ok, error, timeout, cancelled, repeated, answer, call
                    output_bytes INTEGER NOT NULL DEFAULT 0,
                    seconds REAL NOT NULL,
                    model_seconds REAL NOT NULL,
                    PRIMARY KEY (run, step)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v5-agent-step-planner") { db in
            // A step the planner took itself (not the model's choice) says why.
            try db.execute(sql: "ALTER TABLE agent_steps ADD COLUMN planner TEXT")
        }
        migrator.registerMigration("v6-label-index-external-content") { db in
            // The full-text index of entity names reads its text from `labels` (external content)
            // instead of keeping a second copy: a bulk import can then build it in one pass
            // after the rows (`rebuild`) rather than one insert per name. The CJK index form is
            // kept in `labels.cjk`, taken from what the old index stored.
            try db.execute(sql: """
                ALTER TABLE labels ADD COLUMN cjk TEXT NOT NULL DEFAULT '';
                UPDATE labels SET cjk = old.c1 FROM labels_fts_content AS old WHERE old.id = labels.id AND old.c1 != '';
                DROP TABLE labels_fts;
                CREATE VIRTUAL TABLE labels_fts USING fts5(label, cjk, content = 'labels', content_rowid = 'id',
                                                          tokenize = 'unicode61 remove_diacritics 2');
                INSERT INTO labels_fts(labels_fts) VALUES ('rebuild');
                """)
        }
        return migrator
    }
}
