import Foundation
import GRDB

/// What the SPARQL engine keeps per SQLite connection, so that a small query costs little
/// more than running its statement:
///
/// - term ids and selectivity estimates already looked up, valid while `PRAGMA data_version`
///   says no other connection has committed (a service answers the same templates again and
///   again, mostly asking for the same predicates and classes);
/// - prepared statements (GRDB's per-connection cache, emptied after `statementLimit`
///   distinct queries so a long-running server does not keep one per query shape forever);
/// - the `regex()` SQL function, registered once: registering or removing a function expires
///   every prepared statement of the connection, so each query hands its matchers over
///   instead.
final class SPARQLConnectionState: @unchecked Sendable {
    static let shared = SPARQLConnectionState()

    struct Lookups {
        var ids: [RDFTerm: Int64?] = [:]
        var estimates: [[Int64?]: Int] = [:]
    }

    /// The matchers of the query running on a connection, read by its `regex()` function.
    final class RegexSlot: @unchecked Sendable {
        var matchers: [SPARQLRegexMatcher] = []
    }

    /// One connection's state. Only the thread using the connection touches it (GRDB
    /// serializes the use of a connection); the table of states is behind `lock`.
    private final class State {
        /// Weak, so that a new connection at a freed one's address is not taken for it.
        weak var connection: Database?
        var version = Int64.min
        var lookups = Lookups()
        var prepared = Set<String>()
        var regex: RegexSlot?
        init(_ connection: Database) { self.connection = connection }
    }

    private let lookupCapacity = 20_000
    private let statementLimit = 256
    private let lock = NSLock()
    private var states: [ObjectIdentifier: State] = [:]

    private func state(for db: Database) -> State {
        lock.withLock {
            let key = ObjectIdentifier(db)
            if let state = states[key], state.connection === db { return state }
            states = states.filter { $0.value.connection != nil }
            let state = State(db)
            states[key] = state
            return state
        }
    }

    /// What the connection looked up before, if the database has not changed since.
    func lookups(for db: Database) throws -> Lookups {
        let version = try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0
        let state = state(for: db)
        if state.version != version {
            state.version = version
            state.lookups = Lookups()
        }
        return state.lookups
    }

    func keep(_ lookups: Lookups, for db: Database) {
        state(for: db).lookups = lookups.ids.count + lookups.estimates.count > lookupCapacity ? Lookups() : lookups
    }

    /// A prepared statement for `sql`, reused across calls.
    func statement(_ sql: String, in db: Database) throws -> Statement {
        let state = state(for: db)
        if state.prepared.insert(sql).inserted && state.prepared.count > statementLimit {
            state.prepared = [sql]
            db.releaseMemory()
        }
        return try db.cachedStatement(sql: sql)
    }

    /// Runs `body` with `matchers` behind the SQL function `SPARQLCompiler.regexFunction`.
    func withRegex<T>(_ matchers: [SPARQLRegexMatcher], in db: Database, _ body: () throws -> T) throws -> T {
        guard !matchers.isEmpty else { return try body() }
        let state = state(for: db)
        let slot: RegexSlot
        if let registered = state.regex {
            slot = registered
        } else {
            slot = RegexSlot()
            db.add(function: DatabaseFunction(SPARQLCompiler.regexFunction, argumentCount: 2, pure: true) { arguments in
                guard let text = String.fromDatabaseValue(arguments[0]), let index = Int.fromDatabaseValue(arguments[1]),
                      slot.matchers.indices.contains(index) else { return nil }
                return slot.matchers[index].matches(text)
            })
            state.regex = slot
        }
        slot.matchers = matchers
        defer { slot.matchers = [] }
        return try body()
    }
}
