/// The answer to a SPARQL SELECT query: one column per projected variable, one row per
/// solution; `nil` where a variable is unbound in that solution.
public struct SPARQLResult: Sendable, Equatable {
    /// Projected variable names, without the leading `?`.
    public var variables: [String]
    /// Solutions in order (the ORDER BY order where the query has one).
    public var rows: [[RDFTerm?]]

    public init(variables: [String], rows: [[RDFTerm?]]) {
        self.variables = variables
        self.rows = rows
    }

    /// Rows as N-Triples term strings (`nil` for unbound), the form the goldens and the CLI use.
    public var textRows: [[String?]] {
        rows.map { $0.map { $0?.description } }
    }
}
