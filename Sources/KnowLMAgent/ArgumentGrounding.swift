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

    /// The task as words and numbers, in order (punctuation dropped).
    static func pieces(_ text: String) -> [Piece] {
        var out: [Piece] = []
        // A number (sign, thousands commas, decimals, exponent; not inside a word), or a word.
        let pattern = #"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[\p{L}\p{N}]+"#
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
        for (name, schema) in numeric {
            let w = nameWords(name)
            guard !w.isEmpty else { continue }
            let window = name.count <= 2 ? 1 : 4
            search: for start in pieces.indices where start + w.count <= pieces.count {
                guard (0..<w.count).allSatisfy({ pieces[start + $0] == .word(w[$0]) }) else { continue }
                let after = start + w.count
                for i in after..<min(pieces.count, after + window) {
                    if case .number(let d) = pieces[i] {
                        if !usedAt.contains(i), fits(d, schema) { bound[name] = d; usedAt.insert(i); break search }
                        break
                    }
                }
            }
        }
        var left: [(index: Int, value: Double)] = []
        for (i, piece) in pieces.enumerated() where !usedAt.contains(i) {
            if case .number(let d) = piece, !left.contains(where: { $0.value == d }), !bound.values.contains(d) { left.append((i, d)) }
        }
        let open = numeric.filter { required.contains($0.key) && bound[$0.key] == nil }
        if !open.isEmpty, open.count == left.count, zip(open, left).allSatisfy({ fits($1.value, $0.value) }) {
            for (p, n) in zip(open, left) { bound[p.key] = n.value }
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
        let restricted: [(key: String, value: JSONValue)] = properties.map { property in
            guard case .object(let schema) = property.value, property.value["enum"] == nil, property.value["const"] == nil,
                  let type = property.value["type"]?.stringValue, type == "integer" || type == "number" else { return property }
            let candidates = bound[property.key].map { [$0] } ?? (unused.isEmpty ? found : unused)
            let values = type == "integer" ? candidates.filter(isInteger) : candidates
            guard !values.isEmpty else { return property }
            let literals = values.map { JSONValue.number(literal($0, integer: type == "integer")) }
            return (property.key, .object(schema.filter { $0.key != "type" } + [("enum", .array(literals))]))
        }
        members[pi] = ("properties", .object(restricted))
        return .object(members)
    }

    static func literal(_ d: Double, integer: Bool) -> String {
        if integer || (d == d.rounded() && abs(d) < 1e15) { return String(Int(d)) }
        return String(d)
    }

    /// `arguments` without the optional ones whose value the task does not mention.
    public static func pruneOptional(_ arguments: JSONValue, parameters: JSONValue, task: String) -> JSONValue {
        guard case .object(let members) = arguments else { return arguments }
        let required = Set((parameters["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        let taskWords = words(task)
        let taskText = " " + taskWords.joined(separator: " ") + " "
        let taskNumbers = numbers(in: task)
        func mentioned(_ value: JSONValue, name: String) -> Bool {
            switch value {
            case .string(let s):
                let w = words(s)
                return !w.isEmpty && taskText.contains(" " + w.joined(separator: " ") + " ")
            case .number(let n):
                // One of the task's numbers, and not one another argument already took.
                guard let d = Double(n), taskNumbers.contains(d) else { return false }
                return !members.contains { member in
                    if case .number(let other) = member.value { return member.key != name && Double(other) == d }
                    return false
                }
            case .bool:
                // A flag is kept when the task names it (a word of the parameter's name).
                return nameWords(name).contains { $0.count >= 4 && taskWords.contains($0) }
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
