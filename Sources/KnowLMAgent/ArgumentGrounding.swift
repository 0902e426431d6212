import Foundation
import KnowLMCore

/// Holds the arguments of a caller's declared functions to what the task says.
///
/// A small model under a schema grammar writes well-formed calls with invented values: numbers
/// that appear nowhere in the request (`"gravity": 100`, a digit repeated to the length limit)
/// and optional arguments filled in for the sake of it (`"unit": "square meters"`). Two rules,
/// both about the request and the schema only:
/// - a numeric parameter takes one of the numbers written in the task (digits, or a number word
///   up to twenty), when the task has any that fit its type: the grammar offers only those,
///   and only the one the task ties to the parameter when it does (`bindNumbers`);
/// - an optional argument stays only when the task mentions its value (a string as whole words,
///   a number among the task's numbers, a flag when the task names the parameter); otherwise it
///   is left out, and the function's default applies.
public enum ArgumentGrounding {
    /// The numbers written in `text`, each once, in order: `10`, `-3`, `2.5`, `1e-9`, `1,000`
    /// (as 1000), and the number words "zero" to "twenty".
    public static func numbers(in text: String) -> [Double] {
        var out: [Double] = []
        for case .number(let d) in pieces(text) where d.isFinite && !out.contains(d) { out.append(d) }
        return out
    }

    static let numberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                              "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                              "nineteen", "twenty"]

    /// Whether `d` can be written as a JSON integer.
    static func isInteger(_ d: Double) -> Bool { d == d.rounded() && abs(d) < 9e15 }

    /// Lower-case alphanumeric words.
    static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// A piece of the task: a lower-case word or a number.
    enum Piece: Equatable { case word(String), number(Double) }

    /// The task as words and numbers, in order (punctuation dropped, except `%`, kept as a word
    /// so that a percentage can be told from a plain number, and `,` and `;`, which separate
    /// a number from a name: "depth 30, width 45").
    static func pieces(_ text: String) -> [Piece] {
        var out: [Piece] = []
        // A number (sign, thousands commas, decimals, exponent; not inside a word), or a word.
        let pattern = #"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[\p{L}\p{N}]+|[%,;]"#
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return out }
        let ns = text as NSString
        for m in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let t = ns.substring(with: m.range)
            if let d = Double(t.replacingOccurrences(of: ",", with: "")), t.first.map({ $0.isNumber || $0 == "-" }) == true {
                out.append(.number(d))
            } else if let n = numberWords.firstIndex(of: t.lowercased()) {
                out.append(.number(Double(n)))
            } else {
                out.append(.word(t.lowercased()))
            }
        }
        return out
    }

    /// Whether the number at `index` of `pieces` is written as a percentage ("5%", "5 percent").
    static func isPercentage(_ pieces: [Piece], at index: Int) -> Bool {
        index + 1 < pieces.count && (pieces[index + 1] == .word("%") || pieces[index + 1] == .word("percent"))
    }

    /// Whether a parameter takes a percentage as a fraction (5% as 0.05): a non-integer number
    /// whose description does not say it is given in percent. Rates and shares passed to
    /// functions are fractions by convention; "as a percentage" in the description says otherwise.
    static func takesFraction(_ schema: JSONValue) -> Bool {
        schema["type"]?.stringValue == "number"
            && !(schema["description"]?.stringValue?.lowercased().contains("percent") ?? false)
    }

    /// The value the number at `index` gives a parameter: a percentage as a fraction where the
    /// parameter takes one (`takesFraction`), otherwise the number as written.
    static func value(_ pieces: [Piece], at index: Int, for schema: JSONValue) -> Double? {
        guard case .number(let d) = pieces[index] else { return nil }
        return isPercentage(pieces, at: index) && takesFraction(schema) ? d / 100 : d
    }

    /// A parameter name as words: `initial_velocity`, `initialVelocity`, `math.x` → words.
    static func nameWords(_ name: String) -> [String] {
        var spaced = ""
        var previous: Character?
        for c in name {
            if let p = previous, p.isLowercase, c.isUppercase { spaced.append(" ") }
            spaced.append("_.-".contains(c) ? " " : c)
            previous = c
        }
        return words(spaced)
    }

    /// Which of the task's numbers each top-level numeric parameter (integer or number, no
    /// `enum`/`const`) takes, where the task says so:
    /// - the parameter is named in the task and a number follows closely ("a base of 10",
    ///   "b = -3", "initial velocity 5"; a name of one or two letters must be followed at once);
    /// - then, when the required numeric parameters left and the numbers left are as many,
    ///   they pair up in order (the function's order, the task's order: "the gcd of 12 and 18").
    /// A number is bound to one parameter at most. Returns the bindings and the numbers left.
    public static func bindNumbers(_ parameters: JSONValue, task: String) -> (bound: [String: Double], unused: [Double]) {
        let properties = parameters["properties"]?.objectValue ?? []
        let required = Set((parameters["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        let numeric = properties.filter { p in
            p.value["enum"] == nil && p.value["const"] == nil && ["integer", "number"].contains(p.value["type"]?.stringValue ?? "")
        }
        let pieces = pieces(task)
        var usedAt = Set<Int>()
        var bound: [String: Double] = [:]
        func fits(_ d: Double, _ schema: JSONValue) -> Bool {
            schema["type"]?.stringValue != "integer" || isInteger(d)
        }
        // A count written before what it counts ("3 bedrooms, 2 bathrooms", "in 5 years"): the
        // number right before the last word of the parameter's name (either number of it).
        for (name, schema) in numeric {
            guard let last = nameWords(name).last, last.count >= 3 else { continue }
            let forms: Set<String> = [last, last + "s", last.hasSuffix("s") ? String(last.dropLast()) : last]
            for i in pieces.indices.dropLast() where !usedAt.contains(i) {
                let j = isPercentage(pieces, at: i) && pieces[i + 1] == .word("%") ? i + 2 : i + 1  // "a 2% fee"
                if j < pieces.count, case .number(let d) = pieces[i], case .word(let next) = pieces[j], forms.contains(next), fits(d, schema) {
                    bound[name] = value(pieces, at: i, for: schema) ?? d
                    usedAt.insert(i)
                    break
                }
            }
        }
        for (name, schema) in numeric where bound[name] == nil {
            let w = nameWords(name)
            guard !w.isEmpty else { continue }
            let window = name.count <= 2 ? 1 : 4
            search: for start in pieces.indices where start + w.count <= pieces.count {
                guard (0..<w.count).allSatisfy({ pieces[start + $0] == .word(w[$0]) }) else { continue }
                let after = start + w.count
                for i in after..<min(pieces.count, after + window) {
                    if pieces[i] == .word(",") || pieces[i] == .word(";") { break }
                    if case .number(let d) = pieces[i] {
                        if !usedAt.contains(i), fits(d, schema) { bound[name] = value(pieces, at: i, for: schema) ?? d; usedAt.insert(i); break search }
                        break
                    }
                }
            }
        }
        // The numbers no parameter took, each once. A number written again is the same number,
        // unless once as a percentage and once not ("5% for 5 years" is two numbers).
        func key(_ i: Int) -> String {
            guard case .number(let d) = pieces[i] else { return "" }
            return "\(d)" + (isPercentage(pieces, at: i) ? "%" : "")
        }
        let taken = Set(usedAt.map(key))
        var left: [(index: Int, value: Double)] = []
        for (i, piece) in pieces.enumerated() where !usedAt.contains(i) {
            if case .number(let d) = piece, !taken.contains(key(i)), !left.contains(where: { key($0.index) == key(i) }) { left.append((i, d)) }
        }
        let open = numeric.filter { required.contains($0.key) && bound[$0.key] == nil }
        if !open.isEmpty, open.count == left.count, zip(open, left).allSatisfy({ fits($1.value, $0.value) }) {
            for (p, n) in zip(open, left) { bound[p.key] = value(pieces, at: n.index, for: p.value) ?? n.value }
            left = []
        }
        return (bound, left.map(\.value))
    }

    /// `parameters` (a normalized object schema) with its top-level numeric parameters held to
    /// the task: a bound parameter (`bindNumbers`) to its number, the others to the numbers not
    /// bound (or to all the task's numbers when none is left). Unchanged where the task has
    /// no number that fits, so a required value can still be written.
    public static func restrictNumbers(_ parameters: JSONValue, task: String) -> JSONValue {
        guard case .object(var members) = parameters, let pi = members.firstIndex(where: { $0.key == "properties" }),
              let properties = members[pi].value.objectValue else { return parameters }
        let found = numbers(in: task)
        guard !found.isEmpty else { return parameters }
        let (bound, unused) = bindNumbers(parameters, task: task)
        let all = pieces(task)
        // Numbers written as percentages, and whether each is also written plainly.
        var percentages = Set<Double>(), plain = Set<Double>()
        for i in all.indices { if case .number(let d) = all[i] { if isPercentage(all, at: i) { percentages.insert(d) } else { plain.insert(d) } } }
        let written = listLength(task)
        let restricted: [(key: String, value: JSONValue)] = properties.map { property in
            if case .object(let schema) = property.value, property.value["type"]?.stringValue == "array",
               case .object(let items)? = property.value["items"], property.value["items"]?["enum"] == nil,
               let type = property.value["items"]?["type"]?.stringValue, type == "integer" || type == "number" {
                // A list of numbers: its items are the task's numbers, and it has no more items
                // than the task writes numbers (a small model otherwise goes on counting).
                let values = type == "integer" ? found.filter(isInteger) : found
                guard !values.isEmpty else { return property }
                let literals = values.map { JSONValue.number(literal($0, integer: type == "integer")) }
                let limit = min(written, property.value["maxItems"]?.intValue ?? written)
                guard limit >= (property.value["minItems"]?.intValue ?? 0) else { return property }
                let held: JSONValue = .object(items.filter { $0.key != "type" } + [("enum", .array(literals))])
                return (property.key, .object(schema.filter { $0.key != "items" && $0.key != "maxItems" }
                                              + [("items", held), ("maxItems", .number(String(limit)))]))
            }
            guard case .object(let schema) = property.value, property.value["enum"] == nil, property.value["const"] == nil,
                  let type = property.value["type"]?.stringValue, type == "integer" || type == "number" else { return property }
            var candidates = bound[property.key].map { [$0] } ?? (unused.isEmpty ? found : unused)
            if bound[property.key] == nil, takesFraction(property.value) {
                // A percentage offered as its fraction (and as written, where the task also writes it plainly).
                candidates = candidates.flatMap { d -> [Double] in
                    percentages.contains(d) ? (plain.contains(d) ? [d, d / 100] : [d / 100]) : [d]
                }
            }
            var values: [Double] = []
            for d in candidates where (type != "integer" || isInteger(d)) && !values.contains(d) { values.append(d) }
            guard !values.isEmpty else { return property }
            let literals = values.map { JSONValue.number(literal($0, integer: type == "integer")) }
            return (property.key, .object(schema.filter { $0.key != "type" } + [("enum", .array(literals))]))
        }
        members[pi] = ("properties", .object(restricted))
        // An optional number the task ties to its name ("a fee of 2%") is an argument to write.
        return requiring(properties.map(\.key).filter { bound[$0] != nil }, in: members)
    }

    /// The most numbers one list of the task can hold: the most numbers written inside one pair
    /// of brackets or parentheses ("(40.7, -74.0) and (34.1, -118.2)": 2), or, when no bracket
    /// holds two or more, all the numbers the task writes.
    static func listLength(_ task: String) -> Int {
        func count(_ text: String) -> Int { pieces(text).filter { if case .number = $0 { return true } else { return false } }.count }
        var longest = 0
        if let regex = try? NSRegularExpression(pattern: #"[\[(]([^\[\]()]*)[\])]"#) {
            let ns = task as NSString
            for m in regex.matches(in: task, range: NSRange(location: 0, length: ns.length)) {
                longest = max(longest, count(ns.substring(with: m.range(at: 1))))
            }
        }
        return longest >= 2 ? longest : count(task)
    }

    /// An object schema's members with `names` added to its `required` list (in order, once each).
    static func requiring(_ names: [String], in members: [(key: String, value: JSONValue)]) -> JSONValue {
        var members = members
        var required = (JSONValue.object(members)["required"]?.arrayValue ?? []).compactMap(\.stringValue)
        for name in names where !required.contains(name) { required.append(name) }
        guard !required.isEmpty else { return .object(members) }
        if let ri = members.firstIndex(where: { $0.key == "required" }) {
            members[ri] = ("required", .array(required.map { .string($0) }))
        } else {
            members.append(("required", .array(required.map { .string($0) })))
        }
        return .object(members)
    }

    /// The values a string parameter offers: its `enum`, or, without one, the values its
    /// description quotes when it quotes two or more ("'real' for real roots, 'all' for both",
    /// "('Celsius' or 'Fahrenheit')"): one quoted value is more often an example or the default
    /// than a list of choices.
    public static func listedValues(_ schema: JSONValue) -> [String] {
        guard schema["type"]?.stringValue == "string" || schema["enum"] != nil else { return [] }
        if let values = schema["enum"]?.arrayValue { return values.compactMap(\.stringValue) }
        guard let description = schema["description"]?.stringValue,
              let regex = try? NSRegularExpression(pattern: #"(?<![\w'])'([^'\n]{1,40})'(?![\w'])|"([^"\n]{1,40})""#) else { return [] }
        let ns = description as NSString
        var out: [String] = []
        for m in regex.matches(in: description, range: NSRange(location: 0, length: ns.length)) {
            let r = m.range(at: 1).location != NSNotFound ? m.range(at: 1) : m.range(at: 2)
            let v = ns.substring(with: r)
            if !out.contains(v) { out.append(v) }
        }
        return out.count >= 2 ? out : []
    }

    /// The listed value (`listedValues`) of each top-level string parameter that the task names:
    /// exactly one of its values occurs in the task as whole words (case-insensitive; values of
    /// fewer than three letters are left alone, as they occur by chance: "in", "a").
    public static func bindChoices(_ parameters: JSONValue, task: String) -> [String: String] {
        let properties = parameters["properties"]?.objectValue ?? []
        let taskText = " " + words(task).joined(separator: " ") + " "
        var bound: [String: String] = [:]
        for (name, schema) in properties {
            let named = listedValues(schema).filter { value in
                let w = words(value)
                return w.joined().count >= 3 && taskText.contains(" " + w.joined(separator: " ") + " ")
            }
            if named.count == 1 { bound[name] = named[0] }
        }
        return bound
    }

    /// Words of a flag's name that say nothing of what it turns on ("include_dissent" is about
    /// dissent).
    static let flagVerbs: Set<String> = ["include", "includes", "with", "allow", "enable", "show", "return", "use", "get",
                                         "only", "flag", "option", "should", "want"]
    /// Words that turn a flag off when they come shortly before it ("don't return full text").
    static let negations: Set<String> = ["not", "don", "dont", "no", "without", "never", "exclude", "excluding", "except"]

    /// Whether two words are forms of one another: one is the start of the other and has four
    /// letters or more ("toll"/"tolls", "avoid"/"avoided"), or they share their first five
    /// ("details"/"detailed").
    static func sameStem(_ a: String, _ b: String) -> Bool {
        let (short, long) = a.count <= b.count ? (a, b) : (b, a)
        if short.count >= 4 && long.hasPrefix(short) { return true }
        return short.count >= 5 && zip(a, b).prefix { $0 == $1 }.count >= 5
    }

    /// The boolean parameters the task names: every word of four letters or more in the
    /// parameter's name (other than `flagVerbs`) occurs in the task in some form (`sameStem`):
    /// true, or false when a negation comes up to three words before the first of them.
    public static func bindFlags(_ parameters: JSONValue, task: String) -> [String: Bool] {
        let properties = parameters["properties"]?.objectValue ?? []
        let taskWords = words(task)
        var bound: [String: Bool] = [:]
        for (name, schema) in properties where schema["type"]?.stringValue == "boolean" && schema["enum"] == nil && schema["const"] == nil {
            let significant = nameWords(name).filter { $0.count >= 4 && !flagVerbs.contains($0) }
            guard !significant.isEmpty else { continue }
            let positions = significant.map { w in taskWords.firstIndex { sameStem($0, w) } }
            guard positions.allSatisfy({ $0 != nil }), let first = positions.compactMap({ $0 }).min() else { continue }
            bound[name] = !taskWords[max(0, first - 3)..<first].contains { negations.contains($0) }
        }
        return bound
    }

    /// `parameters` with each string parameter whose listed value the task names
    /// (`bindChoices`) and each flag the task names (`bindFlags`) held to that value, and made
    /// required when it was optional: a small model leaves out an optional argument the task
    /// asks for ("in Celsius", "with details") as often as not.
    public static func restrictChoices(_ parameters: JSONValue, task: String) -> JSONValue {
        guard case .object(var members) = parameters, let pi = members.firstIndex(where: { $0.key == "properties" }),
              let properties = members[pi].value.objectValue else { return parameters }
        var bound = bindChoices(parameters, task: task).mapValues { JSONValue.string($0) }
        for (name, flag) in bindFlags(parameters, task: task) { bound[name] = .bool(flag) }
        guard !bound.isEmpty else { return parameters }
        members[pi] = ("properties", .object(properties.map { property in
            guard let value = bound[property.key] else { return property }
            let description = property.value["description"].map { [(key: "description", value: $0)] } ?? []
            return (property.key, .object(description + [("enum", .array([value]))]))
        }))
        return requiring(properties.map(\.key).filter { bound[$0] != nil }, in: members)
    }

    /// `arguments` without list items that have no letter or digit (a small model writes `","`
    /// as an item of a list of names), at any depth.
    public static func dropEmptyItems(_ arguments: JSONValue) -> JSONValue {
        switch arguments {
        case .array(let items):
            return .array(items.filter { item in
                guard case .string(let s) = item else { return true }
                return s.contains { $0.isLetter || $0.isNumber }
            }.map(dropEmptyItems))
        case .object(let members):
            return .object(members.map { ($0.key, dropEmptyItems($0.value)) })
        default:
            return arguments
        }
    }

    /// `arguments` with numbers written as the declared schema types them: where a parameter
    /// (or an array's items, or an object's properties) is declared with Python's `float` or
    /// `double`, an integral number is written with a decimal point (`5.0`), so that a Python
    /// caller gets a `float` as declared, not an `int`. JSON Schema's `number` is left as written.
    public static func conformNumbers(_ arguments: JSONValue, declared schema: JSONValue) -> JSONValue {
        switch arguments {
        case .number(let literal):
            guard let type = schema["type"]?.stringValue?.lowercased(), type == "float" || type == "double",
                  !literal.contains("."), !literal.lowercased().contains("e"), Double(literal) != nil else { return arguments }
            return .number(literal + ".0")
        case .array(let items):
            guard let itemSchema = schema["items"] else { return arguments }
            return .array(items.map { conformNumbers($0, declared: itemSchema) })
        case .object(let members):
            guard let properties = schema["properties"] else { return arguments }
            return .object(members.map { member in
                (member.key, properties[member.key].map { conformNumbers(member.value, declared: $0) } ?? member.value)
            })
        default:
            return arguments
        }
    }

    static func literal(_ d: Double, integer: Bool) -> String {
        if integer || (d == d.rounded() && abs(d) < 1e15) { return String(Int(d)) }
        return String(d)
    }

    /// The numbers in a JSON value, at any depth.
    static func numbers(within value: JSONValue) -> [Double] {
        switch value {
        case .number(let n): return Double(n).map { [$0] } ?? []
        case .array(let items): return items.flatMap(numbers(within:))
        case .object(let members): return members.flatMap { numbers(within: $0.value) }
        default: return []
        }
    }

    /// `arguments` without the optional ones whose value the task does not mention.
    public static func pruneOptional(_ arguments: JSONValue, parameters: JSONValue, task: String) -> JSONValue {
        guard case .object(let members) = arguments else { return arguments }
        let required = Set((parameters["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        let taskWords = words(task)
        let taskText = " " + taskWords.joined(separator: " ") + " "
        let taskPieces = pieces(task)
        let flags = bindFlags(parameters, task: task)
        // The task's numbers, and each percentage as its fraction too (5% may be passed as 0.05).
        let taskNumbers = numbers(in: task) + taskPieces.indices.compactMap { i -> Double? in
            guard case .number(let d) = taskPieces[i], isPercentage(taskPieces, at: i) else { return nil }
            return d / 100
        }
        func mentioned(_ value: JSONValue, name: String) -> Bool {
            switch value {
            case .string(let s):
                let w = words(s)
                return !w.isEmpty && taskText.contains(" " + w.joined(separator: " ") + " ")
            case .number(let n):
                // One of the task's numbers, and not one another argument already took (as its
                // value, or inside its list: "B(1, 2)" does not also give `rounding: 1`).
                guard let d = Double(n), taskNumbers.contains(d) else { return false }
                return !members.contains { $0.key != name && numbers(within: $0.value).contains(d) }
            case .bool:
                // A flag is kept when the task names it (a word of the parameter's name).
                return flags[name] != nil || nameWords(name).contains { $0.count >= 4 && taskWords.contains($0) }
            case .array(let items):
                return !items.isEmpty && items.allSatisfy { mentioned($0, name: name) }
            case .object(let inner):
                return !inner.isEmpty && inner.allSatisfy { mentioned($0.value, name: $0.key) }
            case .null:
                return false
            }
        }
        return .object(members.filter { required.contains($0.key) || mentioned($0.value, name: $0.key) })
    }
}
