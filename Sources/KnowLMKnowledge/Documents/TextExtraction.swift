import Foundation

/// Plain text out of the document formats `kb ingest` reads.
enum TextExtraction {
    enum Format: String { case text, markdown, html }

    static func format(of path: String) -> Format? {
        switch (path as NSString).pathExtension.lowercased() {
        case "txt", "text", "": return .text
        case "md", "markdown": return .markdown
        case "html", "htm", "xhtml": return .html
        default: return nil
        }
    }

    static func plainText(_ raw: String, format: Format) -> String {
        switch format {
        case .text: return raw
        case .markdown: return markdownToText(raw)
        case .html: return htmlToText(raw)
        }
    }

    /// Drops Markdown markup, keeping the words: headings, emphasis, links (their text), images,
    /// code fences (their content), block quotes and list markers.
    static func markdownToText(_ s: String) -> String {
        var lines: [String] = []
        for var line in s.components(separatedBy: "\n") {
            if line.hasPrefix("```") || line.hasPrefix("~~~") { continue }
            line = line.replacingOccurrences(of: #"^\s{0,3}#{1,6}\s+"#, with: "", options: .regularExpression)
            line = line.replacingOccurrences(of: #"^\s{0,3}>\s?"#, with: "", options: .regularExpression)
            line = line.replacingOccurrences(of: #"^\s*([-*+]|\d+[.)])\s+"#, with: "", options: .regularExpression)
            line = line.replacingOccurrences(of: #"!\[([^\]]*)\]\([^)]*\)"#, with: "$1", options: .regularExpression)
            line = line.replacingOccurrences(of: #"\[([^\]]*)\]\([^)]*\)"#, with: "$1", options: .regularExpression)
            line = line.replacingOccurrences(of: #"(\*\*|__|\*|_|`)"#, with: "", options: .regularExpression)
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// Visible text of an HTML page: scripts, styles and tags removed, block elements as line
    /// breaks, character references decoded.
    static func htmlToText(_ s: String) -> String {
        var t = s.replacingOccurrences(of: #"(?is)<(script|style|head|noscript)\b.*?</\1\s*>"#, with: " ", options: .regularExpression)
        t = t.replacingOccurrences(of: #"(?s)<!--.*?-->"#, with: " ", options: .regularExpression)
        t = t.replacingOccurrences(of: #"(?i)</?(p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|blockquote|pre)\b[^>]*>"#, with: "\n", options: .regularExpression)
        t = t.replacingOccurrences(of: #"<[^>]*>"#, with: " ", options: .regularExpression)
        t = decodeEntities(t)
        t = t.replacingOccurrences(of: #"[ \t\u{00A0}]+"#, with: " ", options: .regularExpression)
        t = t.replacingOccurrences(of: #"\n\s*\n+"#, with: "\n\n", options: .regularExpression)
        return t.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        let named = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "mdash": "—", "ndash": "–", "hellip": "…"]
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            rest = rest[amp...]
            guard let semi = rest.prefix(12).firstIndex(of: ";") else { out += "&"; rest = rest.dropFirst(); continue }
            let name = rest[rest.index(after: rest.startIndex)..<semi]
            var replacement: String? = named[String(name)]
            if name.hasPrefix("#x") || name.hasPrefix("#X"), let v = UInt32(name.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                replacement = String(Character(u))
            } else if name.hasPrefix("#"), let v = UInt32(name.dropFirst()), let u = Unicode.Scalar(v) {
                replacement = String(Character(u))
            }
            if let replacement { out += replacement; rest = rest[rest.index(after: semi)...] } else { out += "&"; rest = rest.dropFirst() }
        }
        return out + rest
    }
}
