/// A recursive-descent parser for the supported SPARQL SELECT subset.
///
/// It reads the query character by character rather than through a token list because `<`
/// means two things: an IRI where a term is expected, less-than where an operator is.
/// Every construct outside the subset is recognised and refused by name ("UNION is not
/// supported"), so a user learns what to change instead of reading a generic syntax error.
struct SPARQLParser {
    private let text: [Unicode.Scalar]
    private var i = 0
    private var prefixes: [String: String] = [:]
    private var anonymousBlanks = 0

    static let aggregateNames: Set<String> = ["SUM", "AVG", "MIN", "MAX", "SAMPLE", "GROUP_CONCAT"]

    init(_ query: String) {
        text = Array(query.unicodeScalars)
    }

    static func parse(_ query: String) throws -> SPARQLQuery {
        var parser = SPARQLParser(query)
        return try parser.query()
    }

    // MARK: query

    private mutating func query() throws -> SPARQLQuery {
        try prologue()
        skipSpace()
        let start = i
        guard let word = peekWord() else { throw parseError("expected SELECT") }
        switch word {
        case "SELECT": break
        case "CONSTRUCT", "ASK", "DESCRIBE":
            throw unsupported(word, hint: "only SELECT queries are", at: start)
        case "INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "WITH", "COPY", "MOVE", "ADD":
            throw unsupported("SPARQL Update", hint: "\(word) is an update; only SELECT queries are", at: start)
        default:
            throw parseError("expected SELECT")
        }
        i += word.unicodeScalars.count
        var query = SPARQLQuery()
        try selectClause(&query)
        if isKeyword("FROM") { throw unsupported("FROM") }
        _ = acceptKeyword("WHERE")
        try expect("{")
        query.pattern = try group(insideOptional: false)
        try solutionModifiers(&query)
        skipSpace()
        if i < text.count { throw parseError("unexpected text after the query") }
        return query
    }

    private mutating func prologue() throws {
        while true {
            skipSpace()
            if acceptKeyword("PREFIX") {
                skipSpace()
                let start = i
                var name = ""
                while let c = current, c != ":" {
                    guard isNameChar(c) || c == "." || c == "-" else { throw parseError("expected a prefix name ending in ':'") }
                    name.unicodeScalars.append(c)
                    i += 1
                }
                guard current == ":" else { throw parseError("expected ':' after the prefix name", at: start) }
                i += 1
                skipSpace()
                guard current == "<" else { throw parseError("expected <IRI> after PREFIX \(name):") }
                prefixes[name] = try iriRef()
            } else if isKeyword("BASE") {
                throw unsupported("BASE")
            } else {
                return
            }
        }
    }

    private mutating func selectClause(_ query: inout SPARQLQuery) throws {
        if acceptKeyword("DISTINCT") {
            query.distinct = true
        } else if isKeyword("REDUCED") {
            throw unsupported("REDUCED")
        }
        skipSpace()
        if current == "*" {
            i += 1
            query.projection = nil
            return
        }
        var items: [SPARQLProjection] = []
        while true {
            skipSpace()
            if current == "?" || current == "$" {
                items.append(.variable(try variable()))
            } else if current == "(" {
                items.append(try aggregate())
            } else {
                break
            }
        }
        if items.isEmpty { throw parseError("expected variables, * or (COUNT(…) AS ?name) after SELECT") }
        query.projection = items
    }

    private mutating func aggregate() throws -> SPARQLProjection {
        i += 1  // (
        skipSpace()
        let start = i
        let name = peekWord() ?? ""
        if name == "COUNT" {
            i += 5
            try expect("(")
            let distinct = acceptKeyword("DISTINCT")
            skipSpace()
            var argument: String?
            if current == "*" {
                if distinct { throw unsupported("COUNT(DISTINCT *)", at: start) }
                i += 1
            } else if current == "?" || current == "$" {
                argument = try variable()
            } else {
                throw unsupported("COUNT of an expression", hint: "count * or a variable", at: start)
            }
            try expect(")")
            guard acceptKeyword("AS") else { throw parseError("expected AS ?name after COUNT(…)") }
            skipSpace()
            guard current == "?" || current == "$" else { throw parseError("expected a variable after AS") }
            let alias = try variable()
            try expect(")")
            return .count(variable: argument, distinct: distinct, alias: alias)
        }
        if Self.aggregateNames.contains(name) { throw unsupported(name, hint: "COUNT is the only aggregate", at: start) }
        throw unsupported("expressions in SELECT", hint: "only (COUNT(…) AS ?name) is", at: start)
    }

    private mutating func solutionModifiers(_ query: inout SPARQLQuery) throws {
        while true {
            skipSpace()
            let start = i
            if acceptKeyword("GROUP") {
                guard acceptKeyword("BY") else { throw parseError("expected BY after GROUP") }
                while true {
                    skipSpace()
                    if current == "?" || current == "$" {
                        query.groupBy.append(try variable())
                    } else if current == "(" || (peekWord() != nil && !isKeyword("HAVING") && !isKeyword("ORDER") && !isKeyword("LIMIT") && !isKeyword("OFFSET") && !isKeyword("VALUES")) {
                        throw unsupported("GROUP BY expressions", hint: "group by variables", at: i)
                    } else {
                        break
                    }
                }
                if query.groupBy.isEmpty { throw parseError("expected variables after GROUP BY", at: start) }
            } else if isKeyword("HAVING") {
                throw unsupported("HAVING")
            } else if acceptKeyword("ORDER") {
                guard acceptKeyword("BY") else { throw parseError("expected BY after ORDER") }
                var keys: [SPARQLOrderKey] = []
                while true {
                    skipSpace()
                    if current == "?" || current == "$" {
                        keys.append(SPARQLOrderKey(variable: try variable(), descending: false))
                    } else if isKeyword("ASC") || isKeyword("DESC") {
                        let descending = isKeyword("DESC")
                        i += descending ? 4 : 3
                        try expect("(")
                        skipSpace()
                        guard current == "?" || current == "$" else {
                            throw unsupported("ORDER BY expressions", hint: "order by variables", at: i)
                        }
                        keys.append(SPARQLOrderKey(variable: try variable(), descending: descending))
                        try expect(")")
                    } else if current == "(" || (peekWord() != nil && !isKeyword("LIMIT") && !isKeyword("OFFSET") && !isKeyword("VALUES")) {
                        throw unsupported("ORDER BY expressions", hint: "order by variables", at: i)
                    } else {
                        break
                    }
                }
                if keys.isEmpty { throw parseError("expected variables after ORDER BY", at: start) }
                query.orderBy += keys
            } else if acceptKeyword("LIMIT") {
                query.limit = try integer("LIMIT")
            } else if acceptKeyword("OFFSET") {
                query.offset = try integer("OFFSET")
            } else if isKeyword("VALUES") {
                throw unsupported("VALUES")
            } else {
                return
            }
        }
    }

    private mutating func integer(_ clause: String) throws -> Int {
        skipSpace()
        let start = i
        var digits = ""
        while let c = current, ("0"..."9").contains(c) { digits.unicodeScalars.append(c); i += 1 }
        guard let value = Int(digits) else { throw parseError("expected a non-negative integer after \(clause)", at: start) }
        return value
    }

    // MARK: graph patterns

    /// The body of a `{ … }` group whose `{` was consumed; consumes the closing `}`.
    private mutating func group(insideOptional: Bool) throws -> SPARQLGroup {
        var result = SPARQLGroup()
        while true {
            skipSpace()
            guard let c = current else { throw parseError("expected '}'") }
            if c == "}" { i += 1; return result }
            if c == "." { i += 1; continue }
            let start = i
            if c == "{" {
                i += 1
                if isKeyword("SELECT") { throw unsupported("subqueries", at: start) }
                _ = try self.group(insideOptional: insideOptional)
                if isKeyword("UNION") { throw unsupported("UNION") }
                throw unsupported("nested group patterns", at: start)
            }
            if let word = peekWord() {
                switch word {
                case "FILTER":
                    i += 6
                    result.elements.append(.filter(try filterConstraint()))
                    continue
                case "OPTIONAL":
                    if insideOptional { throw unsupported("OPTIONAL inside OPTIONAL") }
                    i += 8
                    try expect("{")
                    result.elements.append(.optional(try self.group(insideOptional: true)))
                    continue
                case "UNION", "MINUS", "BIND", "VALUES", "GRAPH", "SERVICE":
                    throw unsupported(word)
                case "EXISTS", "NOT":
                    throw unsupported("EXISTS")
                default:
                    break
                }
            }
            try triplesSameSubject(into: &result)
            skipSpace()
            if current == "." {
                i += 1
            } else if current != "}" && current != "{" && !isKeyword("FILTER") && !isKeyword("OPTIONAL")
                        && !isKeyword("UNION") && !isKeyword("MINUS") && !isKeyword("BIND") && !isKeyword("VALUES") {
                throw parseError("expected '.' or '}' after a triple pattern")
            }
        }
    }

    private mutating func triplesSameSubject(into group: inout SPARQLGroup) throws {
        let subject = try patternTerm(what: "subject")
        while true {
            let verb = try verb()
            while true {
                let object = try patternTerm(what: "object")
                group.elements.append(.triple(SPARQLTriplePattern(subject: subject, predicate: verb, object: object)))
                skipSpace()
                guard current == "," else { break }
                i += 1
            }
            var semicolons = 0
            while true {
                skipSpace()
                guard current == ";" else { break }
                i += 1
                semicolons += 1
            }
            if semicolons == 0 { return }
            skipSpace()
            if current == nil || current == "." || current == "}" || current == "{" || isKeyword("FILTER") || isKeyword("OPTIONAL") { return }
        }
    }

    private mutating func verb() throws -> SPARQLPatternTerm {
        skipSpace()
        let start = i
        if current == "a" && !isNameChar(peek(1)) && peek(1) != ":" {
            i += 1
            return .term(.iri(RDFTerm.rdfType))
        }
        if current == "^" || current == "!" || current == "(" { throw unsupported("property paths") }
        let verb = try patternTerm(what: "predicate")
        if case .term(let t) = verb, t.isLiteral { throw parseError("a literal cannot be a predicate", at: start) }
        skipSpace()
        if let c = current {
            let next = peek(1)
            if c == "/" || c == "|" || c == "*" || (c == "+" && !isDigit(next)) || (c == "?" && !isNameChar(next)) {
                throw unsupported("property paths")
            }
        }
        return verb
    }

    /// A subject, predicate or object: a variable, IRI, prefixed name, literal or blank node.
    private mutating func patternTerm(what: String) throws -> SPARQLPatternTerm {
        skipSpace()
        guard let c = current else { throw parseError("expected \(Self.withArticle(what))") }
        switch c {
        case "?", "$":
            return .variable(try variable())
        case "_" where peek(1) == ":":
            i += 2
            var label = ""
            while let c = current, isNameChar(c) || c == "-" { label.unicodeScalars.append(c); i += 1 }
            guard !label.isEmpty else { throw parseError("empty blank node label") }
            return .variable("_:" + label)
        case "[":
            let start = i
            i += 1
            skipSpace()
            guard current == "]" else { throw unsupported("blank node property lists", at: start) }
            i += 1
            anonymousBlanks += 1
            return .variable("_:anon\(anonymousBlanks)")
        case "(":
            throw unsupported("RDF collections")
        default:
            return .term(try termConstant(what: what))
        }
    }

    /// An IRI, prefixed name or literal (no variables).
    private mutating func termConstant(what: String) throws -> RDFTerm {
        skipSpace()
        guard let c = current else { throw parseError("expected \(Self.withArticle(what))") }
        switch c {
        case "<":
            return .iri(try iriRef())
        case "\"", "'":
            let value = try stringLiteral()
            if current == "@" {
                i += 1
                var tag = ""
                while let c = current, isASCIIAlnum(c) || c == "-" { tag.unicodeScalars.append(c); i += 1 }
                guard !tag.isEmpty else { throw parseError("empty language tag") }
                // The importers lowercase language tags; so does the query.
                return .literal(value, datatype: nil, language: tag.lowercased())
            }
            if current == "^" && peek(1) == "^" {
                i += 2
                let datatype: String
                if current == "<" { datatype = try iriRef() } else { datatype = try prefixedName() }
                return .literal(value, datatype: datatype == RDFTerm.xsd + "string" ? nil : datatype, language: nil)
            }
            return .literal(value)
        case "0"..."9", "+", "-":
            return try numericLiteral()
        case "." where isDigit(peek(1)):
            return try numericLiteral()
        default:
            if let word = peekWord(), word == "TRUE" || word == "FALSE" {
                i += word.unicodeScalars.count
                return .literal(word.lowercased(), datatype: RDFTerm.xsd + "boolean")
            }
            guard isNameStart(c) || c == ":" else { throw parseError("expected \(Self.withArticle(what))") }
            return .iri(try prefixedName())
        }
    }

    private mutating func numericLiteral() throws -> RDFTerm {
        let start = i
        var lexical = ""
        if current == "+" || current == "-" { lexical.unicodeScalars.append(current!); i += 1 }
        var digits = 0
        while let c = current, isDigit(c) { lexical.unicodeScalars.append(c); i += 1; digits += 1 }
        var datatype = "integer"
        if current == "." && isDigit(peek(1)) {
            lexical += "."
            i += 1
            while let c = current, isDigit(c) { lexical.unicodeScalars.append(c); i += 1; digits += 1 }
            datatype = "decimal"
        }
        if digits > 0, current == "e" || current == "E" {
            var exponent = String(current!)
            var j = i + 1
            if j < text.count && (text[j] == "+" || text[j] == "-") { exponent.unicodeScalars.append(text[j]); j += 1 }
            if j < text.count && isDigit(text[j]) {
                while j < text.count && isDigit(text[j]) { exponent.unicodeScalars.append(text[j]); j += 1 }
                lexical += exponent
                i = j
                datatype = "double"
            }
        }
        guard digits > 0 else { throw parseError("expected a number", at: start) }
        return .literal(lexical, datatype: RDFTerm.xsd + datatype)
    }

    // MARK: expressions

    private mutating func filterConstraint() throws -> SPARQLExpression {
        skipSpace()
        if current == "(" {
            i += 1
            let e = try expression()
            try expect(")")
            return e
        }
        if peekWord() != nil { return try primary() }
        throw parseError("expected '(' after FILTER")
    }

    private mutating func expression() throws -> SPARQLExpression {
        var e = try conjunction()
        while accept("||") { e = .or(e, try conjunction()) }
        return e
    }

    private mutating func conjunction() throws -> SPARQLExpression {
        var e = try relational()
        while accept("&&") { e = .and(e, try relational()) }
        return e
    }

    private mutating func relational() throws -> SPARQLExpression {
        let left = try operand()
        skipSpace()
        let op: SPARQLComparison?
        switch (current, peek(1)) {
        case ("=", _): op = .equal; i += 1
        case ("!", "="): op = .notEqual; i += 2
        case ("<", "="): op = .lessOrEqual; i += 2
        case (">", "="): op = .greaterOrEqual; i += 2
        case ("<", _): op = .less; i += 1
        case (">", _): op = .greater; i += 1
        default: op = nil
        }
        if let op { return .compare(op, left, try operand()) }
        if isKeyword("IN") || (isKeyword("NOT") && wordAfterCurrentWord() == "IN") { throw unsupported("IN") }
        return left
    }

    /// A unary expression; arithmetic after it is refused here, where it would start.
    private mutating func operand() throws -> SPARQLExpression {
        let e = try unary()
        skipSpace()
        if let c = current, c == "+" || c == "-" || c == "*" || c == "/" { throw unsupported("arithmetic") }
        return e
    }

    private mutating func unary() throws -> SPARQLExpression {
        skipSpace()
        if current == "!" && peek(1) != "=" {
            i += 1
            return .not(try unary())
        }
        if current == "+" || current == "-" {
            if isDigit(peek(1)) || (peek(1) == "." && isDigit(peek(2))) { return .term(try numericLiteral()) }
            throw unsupported("arithmetic")
        }
        return try primary()
    }

    private mutating func primary() throws -> SPARQLExpression {
        skipSpace()
        guard let c = current else { throw parseError("expected an expression") }
        let start = i
        switch c {
        case "(":
            i += 1
            let e = try expression()
            try expect(")")
            return e
        case "?", "$":
            return .variable(try variable())
        case "<":
            let iri = try iriRef()
            skipSpace()
            if current == "(" { throw unsupported("function calls by IRI", at: start) }
            return .term(.iri(iri))
        case "\"", "'", "0"..."9", ".":
            return .term(try termConstant(what: "expression"))
        default:
            guard let word = peekWord() else {
                let term = try termConstant(what: "expression")
                skipSpace()
                if current == "(" { throw unsupported("function calls by IRI", at: start) }
                return .term(term)
            }
            if word == "TRUE" || word == "FALSE" { return .term(try termConstant(what: "expression")) }
            if word == "EXISTS" || (word == "NOT" && wordAfterCurrentWord() == "EXISTS") { throw unsupported("EXISTS") }
            i += word.unicodeScalars.count
            skipSpace()
            guard current == "(" else { throw parseError("unexpected '\(word.lowercased())'", at: start) }
            i += 1
            switch word {
            case "STR":
                let e = try expression()
                try expect(")")
                return .str(e)
            case "LANG":
                let e = try expression()
                try expect(")")
                return .lang(e)
            case "BOUND":
                skipSpace()
                guard current == "?" || current == "$" else { throw parseError("bound() takes a variable") }
                let v = try variable()
                try expect(")")
                return .bound(v)
            case "REGEX":
                let subject = try expression()
                try expect(",")
                let pattern = try constantString("the regex pattern")
                var flags = ""
                if accept(",") { flags = try constantString("the regex flags") }
                try expect(")")
                if let bad = flags.unicodeScalars.first(where: { !"ismxq".unicodeScalars.contains($0) }) {
                    throw unsupported("regex flag '\(bad)'", hint: "i, s, m, x and q are", at: start)
                }
                return .regex(subject, pattern: pattern, flags: flags)
            case "COUNT", "SUM", "AVG", "MIN", "MAX", "SAMPLE", "GROUP_CONCAT":
                throw unsupported("\(word) outside SELECT", at: start)
            default:
                throw unsupported("function \(word)", hint: "regex, lang, str and bound are", at: start)
            }
        }
    }

    private mutating func constantString(_ what: String) throws -> String {
        skipSpace()
        let start = i
        guard current == "\"" || current == "'" else {
            throw unsupported("\(what) other than a string literal", at: start)
        }
        let term = try termConstant(what: what)
        guard case .literal(let value, nil, nil) = term else { throw parseError("\(what) must be a plain string", at: start) }
        return value
    }

    // MARK: lexical pieces

    private mutating func variable() throws -> String {
        let start = i
        i += 1  // ? or $
        var name = ""
        while let c = current, isNameChar(c) { name.unicodeScalars.append(c); i += 1 }
        guard !name.isEmpty else { throw parseError("expected a variable name", at: start) }
        return name
    }

    private mutating func iriRef() throws -> String {
        let start = i
        i += 1  // <
        // Most IRIs have no escapes: take them as one slice.
        var end = i
        while end < text.count, text[end] != ">", text[end] != "\\", text[end].value > 0x20,
              text[end] != "<", text[end] != "\"", text[end] != "{", text[end] != "}" { end += 1 }
        if end < text.count && text[end] == ">" {
            let iri = Self.string(text[i..<end])
            i = end + 1
            return iri
        }
        var iri = ""
        while let c = current, c != ">" {
            if c == " " || c == "\n" || c == "\t" || c == "<" || c == "\"" || c == "{" || c == "}" {
                throw parseError("invalid character in IRI", at: start)
            }
            if c == "\\" {
                iri.unicodeScalars.append(try escapedScalar(allowSimple: false))
                continue
            }
            iri.unicodeScalars.append(c)
            i += 1
        }
        guard current == ">" else { throw parseError("unterminated IRI", at: start) }
        i += 1
        return iri
    }

    private mutating func prefixedName() throws -> String {
        let start = i
        var prefix = ""
        while let c = current, c != ":" {
            guard isNameChar(c) || c == "." || c == "-" else { break }
            prefix.unicodeScalars.append(c)
            i += 1
        }
        guard current == ":" else {
            i = start
            throw parseError(prefix.isEmpty ? "expected a term" : "unexpected '\(prefix)'", at: start)
        }
        i += 1
        var local = ""
        while let c = current {
            if isNameChar(c) || c == "-" || c == ":" || c == "." || c == "\u{B7}" {
                local.unicodeScalars.append(c)
                i += 1
            } else if c == "%", let h1 = peek(1), let h2 = peek(2), h1.properties.isASCIIHexDigit, h2.properties.isASCIIHexDigit {
                local.unicodeScalars.append(contentsOf: [c, h1, h2])
                i += 3
            } else if c == "\\", let e = peek(1), "_~.-!$&'()*+,;=/?#@%".unicodeScalars.contains(e) {
                local.unicodeScalars.append(e)
                i += 2
            } else {
                break
            }
        }
        // A local name cannot end with '.': that dot ends the triple.
        while local.unicodeScalars.last == "." && text[i - 1] == "." {
            local.unicodeScalars.removeLast()
            i -= 1
        }
        guard let namespace = prefixes[prefix] else { throw parseError("undeclared prefix '\(prefix):'", at: start) }
        return namespace + local
    }

    private mutating func stringLiteral() throws -> String {
        let start = i
        let quote = current!
        let long = peek(1) == quote && peek(2) == quote
        i += long ? 3 : 1
        var value = ""
        while true {
            guard let c = current else { throw parseError("unterminated string literal", at: start) }
            if c == quote {
                if !long { i += 1; return value }
                if peek(1) == quote && peek(2) == quote { i += 3; return value }
            }
            if !long && (c == "\n" || c == "\r") { throw parseError("line break in a string literal (use \"\"\"…\"\"\")", at: start) }
            if c == "\\" {
                value.unicodeScalars.append(try escapedScalar(allowSimple: true))
                continue
            }
            value.unicodeScalars.append(c)
            i += 1
        }
    }

    /// The character a `\` escape at `i` stands for; advances past it.
    private mutating func escapedScalar(allowSimple: Bool) throws -> Unicode.Scalar {
        let start = i
        guard let e = peek(1) else { throw parseError("dangling backslash", at: start) }
        i += 2
        if e == "u" || e == "U" {
            let count = e == "u" ? 4 : 8
            var hex = ""
            for _ in 0..<count {
                guard let h = current, h.properties.isASCIIHexDigit else { throw parseError("bad \\\(e) escape", at: start) }
                hex.unicodeScalars.append(h)
                i += 1
            }
            guard let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) else { throw parseError("bad \\\(e) escape", at: start) }
            return scalar
        }
        guard allowSimple else { throw parseError("bad escape in IRI", at: start) }
        switch e {
        case "t": return "\t"
        case "n": return "\n"
        case "r": return "\r"
        case "b": return "\u{8}"
        case "f": return "\u{C}"
        case "\"", "'", "\\": return e
        default: throw parseError("unknown escape \\\(e)", at: start)
        }
    }

    // MARK: scanning

    private var current: Unicode.Scalar? { i < text.count ? text[i] : nil }

    private func peek(_ offset: Int) -> Unicode.Scalar? {
        i + offset < text.count ? text[i + offset] : nil
    }

    private mutating func skipSpace() {
        while let c = current {
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                i += 1
            } else if c == "#" {
                while let c = current, c != "\n" { i += 1 }
            } else {
                return
            }
        }
    }

    private func isDigit(_ c: Unicode.Scalar?) -> Bool {
        guard let c else { return false }
        return ("0"..."9").contains(c)
    }

    /// A string from scalars, through UTF-8 (appending scalar by scalar to a String is slow).
    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(scalars.count)
        for c in scalars {
            if c.isASCII { utf8.append(UInt8(c.value)) } else { UTF8.encode(c) { utf8.append($0) } }
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    private func isASCIIAlnum(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }

    private func isNameStart(_ c: Unicode.Scalar) -> Bool {
        // ASCII first: Unicode property lookups cost more than the rest of a short query's parse.
        if c.isASCII { return c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        return c.properties.isAlphabetic
    }

    private func isNameChar(_ c: Unicode.Scalar?) -> Bool {
        guard let c else { return false }
        return isNameStart(c) || isDigit(c)
    }

    /// The keyword-like word at the cursor (after spaces), uppercased; nil when the word
    /// is the prefix of a prefixed name (`city:1` is a term, not the word `city`).
    private mutating func peekWord() -> String? {
        skipSpace()
        return word(at: i)
    }

    private func word(at index: Int) -> String? {
        var j = index
        var word = ""
        while j < text.count, isNameChar(text[j]) { word.unicodeScalars.append(text[j]); j += 1 }
        if word.isEmpty { return nil }
        // A prefix may go on with '-' and '.': look past them for the ':' of a prefixed name.
        var k = j
        while k < text.count, isNameChar(text[k]) || text[k] == "-" || text[k] == "." { k += 1 }
        if k < text.count && text[k] == ":" { return nil }
        return word.uppercased()
    }

    /// The word after the one at the cursor (for `NOT IN`, `NOT EXISTS`).
    private func wordAfterCurrentWord() -> String? {
        var j = i
        while j < text.count, isNameChar(text[j]) { j += 1 }
        while j < text.count, text[j] == " " || text[j] == "\t" || text[j] == "\n" || text[j] == "\r" { j += 1 }
        return word(at: j)
    }

    /// Whether the word at the cursor (after spaces) is `keyword` (uppercase ASCII), in any
    /// case; compares in place, since the parser asks this at every step.
    private mutating func isKeyword(_ keyword: String) -> Bool {
        skipSpace()
        var j = i
        for byte in keyword.utf8 {
            guard j < text.count else { return false }
            var value = text[j].value
            if value >= 0x61 && value <= 0x7A { value -= 0x20 }
            guard value == UInt32(byte) else { return false }
            j += 1
        }
        if j < text.count && isNameChar(text[j]) { return false }
        var k = j
        while k < text.count, isNameChar(text[k]) || text[k] == "-" || text[k] == "." { k += 1 }
        return !(k < text.count && text[k] == ":")
    }

    private mutating func acceptKeyword(_ keyword: String) -> Bool {
        guard isKeyword(keyword) else { return false }
        i += keyword.unicodeScalars.count
        return true
    }

    private mutating func accept(_ symbol: String) -> Bool {
        skipSpace()
        var j = i
        for scalar in symbol.unicodeScalars {
            guard j < text.count, text[j] == scalar else { return false }
            j += 1
        }
        i = j
        return true
    }

    private mutating func expect(_ symbol: String) throws {
        guard accept(symbol) else { throw parseError("expected '\(symbol)'") }
    }

    // MARK: errors

    /// "an object", "a subject", but "the regex pattern".
    private static func withArticle(_ noun: String) -> String {
        if noun.hasPrefix("the ") { return noun }
        return ("aeiou".contains(noun.prefix(1)) ? "an " : "a ") + noun
    }

    private func location(_ index: Int) -> String {
        var line = 1, column = 1
        for scalar in text[..<min(index, text.count)] {
            if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return "line \(line), column \(column)"
    }

    private func found(_ index: Int) -> String {
        guard index < text.count else { return "end of query" }
        var snippet = ""
        var j = index
        while j < text.count, snippet.unicodeScalars.count < 12, text[j] != "\n" { snippet.unicodeScalars.append(text[j]); j += 1 }
        return "'\(snippet)'"
    }

    private func parseError(_ message: String, at index: Int? = nil) -> KnowledgeBaseError {
        let at = index ?? i
        return .sparql("parse error at \(location(at)): \(message), found \(found(at))")
    }

    private func unsupported(_ construct: String, hint: String? = nil, at index: Int? = nil) -> KnowledgeBaseError {
        let at = index ?? i
        return .sparql("\(construct) is not supported (\(hint.map { $0 + "; " } ?? "")at \(location(at)))")
    }
}
