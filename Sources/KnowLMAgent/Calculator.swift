import Foundation

/// Arithmetic by a real parser (recursive descent over doubles), never by evaluating code.
///
/// Grammar: `expr = term (("+"|"-") term)*`, `term = unary (("*"|"/"|"%") unary)*`,
/// `unary = ("-"|"+") unary | power`, `power = primary ("^" ("-"|"+")* power)?` (also `**`;
/// so `-2^2` is -4 and `2^-1` is 0.5), `primary = call`,
/// `call = NAME "(" expr ("," expr)* ")" | NAME | NUMBER | "(" expr ")"`. Numbers accept
/// thousands separators written as `_`, a decimal point and an exponent; `x` and `×` multiply,
/// `÷` divides. Functions: sqrt, abs, exp, ln, log (base 10, or `log(x, base)`), log2, sin,
/// cos, tan, asin, acos, atan, floor, ceil, round, min, max, pow; constants pi, e.
public struct Calculator: Sendable {
    public init() {}

    public struct Failure: Error, LocalizedError, Equatable, Sendable {
        public var message: String
        public var errorDescription: String? { message }
    }

    public func evaluate(_ expression: String) throws -> Double {
        var parser = Parser(Array(expression.unicodeScalars))
        let value = try parser.expression()
        parser.skipSpace()
        if parser.index < parser.text.count {
            throw Failure(message: "unexpected '\(String(parser.text[parser.index]))' at position \(parser.index + 1)")
        }
        guard value.isFinite else { throw Failure(message: value.isNaN ? "the result is not a number" : "the result is infinite (division by zero or overflow)") }
        return value
    }

    /// The value as people write it: integers without a decimal point, others to 12 significant digits.
    public static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        var s = String(format: "%.12g", value)
        if s.contains("e") { return s }
        if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }

    struct Parser {
        let text: [Unicode.Scalar]
        var index = 0
        var depth = 0
        init(_ text: [Unicode.Scalar]) { self.text = text }

        mutating func skipSpace() { while index < text.count, text[index].properties.isWhitespace { index += 1 } }
        mutating func peek() -> Unicode.Scalar? { skipSpace(); return index < text.count ? text[index] : nil }
        mutating func take(_ s: String) -> Bool {
            skipSpace()
            let scalars = Array(s.unicodeScalars)
            guard index + scalars.count <= text.count, Array(text[index..<index + scalars.count]) == scalars else { return false }
            index += scalars.count
            return true
        }

        mutating func expression() throws -> Double {
            depth += 1
            defer { depth -= 1 }
            guard depth < 200 else { throw Failure(message: "expression nested too deeply") }
            var value = try term()
            while true {
                if take("+") { value += try term() } else if take("-") || take("−") { value -= try term() } else { return value }
            }
        }

        mutating func term() throws -> Double {
            var value = try unary()
            while true {
                if take("*") || take("×") || take("x") || take("·") { value *= try unary() }
                else if take("/") || take("÷") {
                    let d = try unary()
                    guard d != 0 else { throw Failure(message: "division by zero") }
                    value /= d
                } else if take("%") {
                    let d = try unary()
                    guard d != 0 else { throw Failure(message: "division by zero") }
                    value = value.truncatingRemainder(dividingBy: d)
                } else { return value }
            }
        }

        mutating func power() throws -> Double {
            let base = try primary()
            if take("^") || take("**") { return Foundation.pow(base, try powerOperand()) }
            return base
        }

        /// The right side of `^` binds tighter than unary minus on the left (`-2^2` = -4) but
        /// may itself be negative (`2^-1`).
        mutating func powerOperand() throws -> Double {
            if take("-") { return -(try powerOperand()) }
            if take("+") { return try powerOperand() }
            let base = try primary()
            if take("^") || take("**") { return Foundation.pow(base, try powerOperand()) }
            return base
        }

        mutating func unary() throws -> Double {
            depth += 1
            defer { depth -= 1 }
            guard depth < 200 else { throw Failure(message: "expression nested too deeply") }
            if take("-") || take("−") { return -(try unary()) }
            if take("+") { return try unary() }
            return try power()
        }

        mutating func primary() throws -> Double {
            guard let c = peek() else { throw Failure(message: "the expression ends early") }
            if c == "(" {
                index += 1
                let v = try expression()
                guard take(")") else { throw Failure(message: "missing ')'") }
                return v
            }
            if c.properties.numericType != nil && c.isASCII || c == "." { return try number() }
            if c.properties.isAlphabetic { return try call() }
            throw Failure(message: "unexpected '\(String(c))' at position \(index + 1)")
        }

        mutating func number() throws -> Double {
            let start = index
            var digits = ""
            func isDigit(_ s: Unicode.Scalar) -> Bool { s.isASCII && s.properties.numericType != nil }
            while index < text.count, isDigit(text[index]) || text[index] == "_" || text[index] == "." {
                if text[index] != "_" { digits.unicodeScalars.append(text[index]) }
                index += 1
            }
            if index < text.count, text[index] == "e" || text[index] == "E" {
                var j = index + 1
                if j < text.count, text[j] == "+" || text[j] == "-" { j += 1 }
                if j < text.count, isDigit(text[j]) {
                    digits += String(String.UnicodeScalarView(text[index..<j]))
                    index = j
                    while index < text.count, isDigit(text[index]) { digits.unicodeScalars.append(text[index]); index += 1 }
                }
            }
            guard let v = Double(digits) else { throw Failure(message: "bad number at position \(start + 1)") }
            return v
        }

        mutating func call() throws -> Double {
            let start = index
            while index < text.count, text[index].properties.isAlphabetic || (text[index].isASCII && text[index].properties.numericType != nil) {
                index += 1
            }
            let name = String(String.UnicodeScalarView(text[start..<index])).lowercased()
            if !take("(") {
                switch name {
                case "pi", "π": return Double.pi
                case "e": return M_E
                default: throw Failure(message: "unknown name '\(name)'")
                }
            }
            var args = [try expression()]
            while take(",") { args.append(try expression()) }
            guard take(")") else { throw Failure(message: "missing ')' after the arguments of \(name)") }
            func one() throws -> Double {
                guard args.count == 1 else { throw Failure(message: "\(name) takes one argument, got \(args.count)") }
                return args[0]
            }
            switch name {
            case "sqrt":
                let x = try one()
                guard x >= 0 else { throw Failure(message: "square root of a negative number") }
                return x.squareRoot()
            case "abs": return abs(try one())
            case "exp": return Foundation.exp(try one())
            case "ln":
                let x = try one()
                guard x > 0 else { throw Failure(message: "logarithm of a non-positive number") }
                return Foundation.log(x)
            case "log":
                guard args.allSatisfy({ $0 > 0 }) else { throw Failure(message: "logarithm of a non-positive number") }
                if args.count == 2 { return Foundation.log(args[0]) / Foundation.log(args[1]) }
                return Foundation.log10(try one())
            case "log2":
                let x = try one()
                guard x > 0 else { throw Failure(message: "logarithm of a non-positive number") }
                return Foundation.log2(x)
            case "sin": return Foundation.sin(try one())
            case "cos": return Foundation.cos(try one())
            case "tan": return Foundation.tan(try one())
            case "asin": return Foundation.asin(try one())
            case "acos": return Foundation.acos(try one())
            case "atan": return Foundation.atan(try one())
            case "floor": return Foundation.floor(try one())
            case "ceil": return Foundation.ceil(try one())
            case "round":
                if args.count == 2 { let f = Foundation.pow(10, args[1].rounded()); return (args[0] * f).rounded() / f }
                return (try one()).rounded()
            case "min": return args.min()!
            case "max": return args.max()!
            case "pow":
                guard args.count == 2 else { throw Failure(message: "pow takes two arguments") }
                return Foundation.pow(args[0], args[1])
            default: throw Failure(message: "unknown function '\(name)'")
            }
        }
    }
}
