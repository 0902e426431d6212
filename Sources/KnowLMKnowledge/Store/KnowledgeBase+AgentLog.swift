import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// One agent run as the execution-feedback log keeps it.
public struct AgentRunRecord: Sendable, Codable, Equatable {
    public var id: String
    public var task: String
    public var model: String
    public var tools: [String]
    public var startedAt: Date
    public var finishedAt: Date?
    /// running, answered, forced, call, failed, cancelled, interrupted.
    public var outcome: String
    public var answer: String?
    /// detect's JSON object, when the answer was verified.
    public var verification: String?
    public var steps: Int
}

/// One step of a run.
public struct AgentStepRecord: Sendable, Codable, Equatable {
    public var run: String
    public var step: Int
    public var promptTokens: Int
    public var thought: String
    /// nil for the final answer.
    public var tool: String?
    /// The arguments as JSON text.
    public var arguments: String?
    /// What the tool returned (as shown to the model), the error, or the final answer.
    public var observation: String?
    /// ok, error, timeout, cancelled, repeated, answer, call.
    public var outcome: String
    public var outputBytes: Int
    public var seconds: Double
    public var modelSeconds: Double
    /// Why the planner took this step itself (knowledge first); nil when the model chose it.
    public var planner: String?
    public init(run: String, step: Int, promptTokens: Int, thought: String, tool: String?, arguments: String?,
                observation: String?, outcome: String, outputBytes: Int, seconds: Double, modelSeconds: Double,
                planner: String? = nil) {
        self.run = run; self.step = step; self.promptTokens = promptTokens; self.thought = thought; self.tool = tool
        self.arguments = arguments; self.observation = observation; self.outcome = outcome; self.outputBytes = outputBytes
        self.seconds = seconds; self.modelSeconds = modelSeconds; self.planner = planner
    }
}

extension KnowledgeBase {
    /// Starts a run in the log. Runs left `running` by a process that no longer exists (killed)
    /// are marked `interrupted` first. Each write is its own transaction: a run killed at any
    /// point leaves the log with the steps recorded so far and the rest of the file untouched.
    @discardableResult
    public func beginAgentRun(task: String, model: String, tools: [String], taskEmbedding: [Float]?) throws -> String {
        let id = UUID().uuidString.lowercased()
        let toolsJSON = String(decoding: try JSONEncoder().encode(tools), as: UTF8.self)
        try pool.write { db in
            try markInterruptedRuns(db)
            try db.execute(sql: """
                INSERT INTO agent_runs (id, task, model, tools, started_at, outcome, pid, task_embedding)
                VALUES (?, ?, ?, ?, ?, 'running', ?, ?)
                """, arguments: [id, task, model, toolsJSON, Date().timeIntervalSince1970, Int(getpid()),
                                 taskEmbedding.map { v in v.withUnsafeBufferPointer { Data(buffer: $0) } }])
        }
        return id
    }

    private func markInterruptedRuns(_ db: Database) throws {
        let running = try Row.fetchAll(db, sql: "SELECT id, pid FROM agent_runs WHERE outcome = 'running'")
        for row in running {
            let pid: Int = row[1]
            let alive = pid == Int(getpid()) || kill(pid_t(pid), 0) == 0 || errno == EPERM
            if !alive {
                try db.execute(sql: "UPDATE agent_runs SET outcome = 'interrupted' WHERE id = ?", arguments: [row[0] as String])
            }
        }
    }

    public func recordAgentStep(_ step: AgentStepRecord) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO agent_steps (run, step, prompt_tokens, thought, tool, arguments, observation, outcome,
                                                    output_bytes, seconds, model_seconds, planner)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [step.run, step.step, step.promptTokens, step.thought, step.tool, step.arguments, step.observation,
                                 step.outcome, step.outputBytes, step.seconds, step.modelSeconds, step.planner])
        }
    }

    public func finishAgentRun(_ id: String, outcome: String, answer: String?, verification: String?) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE agent_runs SET finished_at = ?, outcome = ?, answer = ?, verification = ? WHERE id = ?",
                           arguments: [Date().timeIntervalSince1970, outcome, answer, verification, id])
        }
    }

    private static let runColumns = """
        r.id, r.task, r.model, r.tools, r.started_at, r.finished_at, r.outcome, r.answer, r.verification,
        (SELECT COUNT(*) FROM agent_steps s WHERE s.run = r.id)
        """

    private func runRecord(_ row: Row) -> AgentRunRecord {
        let tools = (try? JSONDecoder().decode([String].self, from: Data((row[3] as String).utf8))) ?? []
        return AgentRunRecord(id: row[0], task: row[1], model: row[2], tools: tools,
                              startedAt: Date(timeIntervalSince1970: row[4]),
                              finishedAt: (row[5] as Double?).map { Date(timeIntervalSince1970: $0) },
                              outcome: row[6], answer: row[7], verification: row[8], steps: row[9])
    }

    private func stepRecords(_ db: Database, run: String) throws -> [AgentStepRecord] {
        try Row.fetchAll(db, sql: """
            SELECT run, step, prompt_tokens, thought, tool, arguments, observation, outcome, output_bytes, seconds, model_seconds,
                   planner
            FROM agent_steps WHERE run = ? ORDER BY step
            """, arguments: [run]).map {
            AgentStepRecord(run: $0[0], step: $0[1], promptTokens: $0[2], thought: $0[3], tool: $0[4], arguments: $0[5],
                            observation: $0[6], outcome: $0[7], outputBytes: $0[8], seconds: $0[9], modelSeconds: $0[10],
                            planner: $0[11])
        }
    }

    /// The most recent runs first.
    public func agentRuns(limit: Int = 20) throws -> [AgentRunRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.runColumns) FROM agent_runs r ORDER BY r.started_at DESC LIMIT ?",
                             arguments: [limit]).map(runRecord)
        }
    }

    /// A run and its steps; the id may be abbreviated to a unique prefix.
    public func agentRun(_ id: String) throws -> (run: AgentRunRecord, steps: [AgentStepRecord])? {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT \(Self.runColumns) FROM agent_runs r WHERE r.id LIKE ? || '%' LIMIT 2",
                                        arguments: [id.lowercased()])
            guard rows.count == 1 else {
                if rows.count > 1 { throw KnowledgeBaseError.invalidArgument("run id \(id) is ambiguous; give more of it") }
                return nil
            }
            let run = runRecord(rows[0])
            return (run, try stepRecords(db, run: run.id))
        }
    }

    /// Past runs that ended with a verified answer (or a caller's function call), most similar
    /// task first by cosine similarity of the task embeddings, with their steps.
    public func similarSuccessfulAgentRuns(to embedding: [Float], limit: Int, minimumSimilarity: Float)
        throws -> [(run: AgentRunRecord, steps: [AgentStepRecord], similarity: Float)] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(Self.runColumns), r.task_embedding FROM agent_runs r
                WHERE r.outcome IN ('answered', 'call') AND r.task_embedding IS NOT NULL
                  AND (r.verification IS NULL OR r.verification NOT LIKE '%"response_label":"hallucination"%')
                ORDER BY r.started_at DESC LIMIT 5000
                """)
            var scored: [(Row, Float)] = []
            for row in rows {
                let data: Data = row[10]
                let vector = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                guard vector.count == embedding.count else { continue }
                var dot: Float = 0, a: Float = 0, b: Float = 0
                for i in 0..<vector.count { dot += vector[i] * embedding[i]; a += vector[i] * vector[i]; b += embedding[i] * embedding[i] }
                let cosine = a > 0 && b > 0 ? dot / (a.squareRoot() * b.squareRoot()) : 0
                if cosine >= minimumSimilarity { scored.append((row, cosine)) }
            }
            scored.sort { $0.1 > $1.1 }
            return try scored.prefix(limit).map { (row, similarity) in
                let run = runRecord(row)
                return (run, try stepRecords(db, run: run.id), similarity)
            }
        }
    }
}
