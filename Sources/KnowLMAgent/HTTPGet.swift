import CCurl
import Foundation
import KnowLMCore
#if canImport(Glibc)
import Glibc
#endif

/// Which addresses a request may reach. By default only public unicast addresses: loopback,
/// private (RFC 1918, unique-local), link-local, carrier-grade NAT, multicast, unspecified and
/// documentation ranges are refused, also when a hostname resolves to them or a redirect leads
/// there (server-side request forgery is the usual way an agent's fetch tool is abused).
public struct NetworkPolicy: Sendable, Equatable {
    /// Allow loopback and private addresses too (a local test server, an intranet).
    public var allowPrivateAddresses = false
    /// Hosts reachable even when they resolve to a refused address.
    public var allowedHosts: Set<String> = []
    public init(allowPrivateAddresses: Bool = false, allowedHosts: Set<String> = []) {
        self.allowPrivateAddresses = allowPrivateAddresses
        self.allowedHosts = allowedHosts
    }

    /// Why an address is refused, or nil when it is a public unicast address.
    public static func refusal(for address: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let b = withUnsafeBytes(of: v4) { Array($0) }
            return refusal(ipv4: b)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return "not an IP address" }
        let b = withUnsafeBytes(of: v6) { Array($0) }
        if b.allSatisfy({ $0 == 0 }) { return "unspecified address" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback address" }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return refusal(ipv4: Array(b[12..<16])) }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return refusal(ipv4: Array(b[12..<16])) }  // IPv4-compatible
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xFF, b[3] == 0x9B { return refusal(ipv4: Array(b[12..<16])) }  // NAT64
        if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return "link-local address" }
        if (b[0] & 0xFE) == 0xFC { return "private (unique-local) address" }
        if b[0] == 0xFF { return "multicast address" }
        if b[0] == 0x20, b[1] == 0x01, b[2] == 0x0D, b[3] == 0xB8 { return "documentation address" }
        return nil
    }

    static func refusal(ipv4 b: [UInt8]) -> String? {
        switch (b[0], b[1]) {
        case (0, _): return "unspecified address"
        case (127, _): return "loopback address"
        case (10, _): return "private address (10.0.0.0/8)"
        case (172, 16...31): return "private address (172.16.0.0/12)"
        case (192, 168): return "private address (192.168.0.0/16)"
        case (169, 254): return "link-local address (169.254.0.0/16)"
        case (100, 64...127): return "shared address (100.64.0.0/10)"
        case (198, 18...19): return "benchmarking address (198.18.0.0/15)"
        case (224...239, _): return "multicast address"
        case (240...255, _): return "reserved address"
        default: break
        }
        if b[0] == 192, b[1] == 0, b[2] == 0 { return "reserved address (192.0.0.0/24)" }
        if (b[0], b[1], b[2]) == (192, 0, 2) || (b[0], b[1], b[2]) == (198, 51, 100) || (b[0], b[1], b[2]) == (203, 0, 113) {
            return "documentation address"
        }
        return nil
    }
}

/// A fetched page.
public struct HTTPResponse: Sendable {
    public var url: String
    public var status: Int
    public var contentType: String?
    public var body: Data
    public var truncated: Bool
}

/// GET over libcurl with the network policy enforced on every hop: the host is resolved here,
/// every address checked, and curl pinned to the checked address (so a second DNS answer cannot
/// slip a private address in); redirects are followed by hand, each checked the same way.
public struct HTTPClient: Sendable {
    public var policy = NetworkPolicy()
    public var timeout: Duration = .seconds(15)
    public var maxBytes = 1 << 20
    public var maxRedirects = 5
    public init(policy: NetworkPolicy = NetworkPolicy()) { self.policy = policy }

    public func get(_ urlText: String) async throws -> HTTPResponse {
        var current = urlText
        for _ in 0...maxRedirects {
            try Task.checkCancellation()
            let pin = try await check(current)
            let response = try await fetch(current, pin: pin)
            if (300..<400).contains(response.status), let next = response.location {
                current = next
                continue
            }
            return HTTPResponse(url: current, status: response.status, contentType: response.contentType,
                                body: response.body, truncated: response.truncated)
        }
        throw ToolError("too many redirects (more than \(maxRedirects)) from \(urlText)")
    }

    /// Validates the URL and resolves its host; returns the CURLOPT_RESOLVE pin, or nil for an
    /// IP literal (checked directly).
    func check(_ urlText: String) async throws -> String? {
        guard let components = URLComponents(string: urlText), let scheme = components.scheme?.lowercased() else {
            throw ToolError("not a URL: \(urlText)")
        }
        guard scheme == "http" || scheme == "https" else { throw ToolError("only http and https URLs are fetched, not \(scheme):") }
        guard var host = components.host, !host.isEmpty else { throw ToolError("the URL has no host: \(urlText)") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        if policy.allowPrivateAddresses || policy.allowedHosts.contains(host.lowercased()) { return nil }
        let addresses = try await Self.resolve(host)
        guard !addresses.isEmpty else { throw ToolError("cannot resolve \(host)") }
        for address in addresses {
            if let why = NetworkPolicy.refusal(for: address) {
                throw ToolError("refused: \(host) is a \(why) (\(address)); only public addresses are fetched")
            }
        }
        if Self.isLiteral(host) { return nil }
        let first = addresses[0]
        return "\(host):\(port):\(first.contains(":") ? "[\(first)]" : first)"
    }

    static func isLiteral(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// Every address `host` resolves to (getaddrinfo, as curl would), off the cooperative pool.
    static func resolve(_ host: String) async throws -> [String] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &result)
                guard status == 0 else {
                    continuation.resume(throwing: ToolError("cannot resolve \(host): \(String(cString: gai_strerror(status)))"))
                    return
                }
                defer { freeaddrinfo(result) }
                var addresses: [String] = []
                var node = result
                while let info = node {
                    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
                    if info.pointee.ai_family == AF_INET {
                        info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                            var a = sin.pointee.sin_addr
                            _ = inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count))
                        }
                    } else if info.pointee.ai_family == AF_INET6 {
                        info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                            var a = sin.pointee.sin6_addr
                            _ = inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count))
                        }
                    }
                    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if !text.isEmpty && !addresses.contains(text) { addresses.append(text) }
                    node = info.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }

    struct RawResponse: Sendable {
        var status: Int
        var body: Data
        var truncated: Bool
        var location: String?
        var contentType: String?
    }

    func fetch(_ url: String, pin: String?) async throws -> RawResponse {
        let ms = Int(timeout.components.seconds) * 1000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000)
        let limit = maxBytes
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var response = kl_http_response()
                let code = kl_http_get(url, pin, ms, limit, "knowlm-agent/1.0", &response)
                defer { kl_http_response_free(&response) }
                guard code == 0 else {
                    let message = withUnsafeBytes(of: response.error) { raw in
                        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    continuation.resume(throwing: ToolError("fetching \(url) failed: \(message)"))
                    return
                }
                let body = response.body.map { Data(bytes: $0, count: response.body_length) } ?? Data()
                continuation.resume(returning: RawResponse(
                    status: response.status, body: body, truncated: response.truncated != 0,
                    location: response.location.map { String(cString: $0) },
                    contentType: response.content_type.map { String(cString: $0) }))
            }
        }
    }
}

/// `http_get`: fetches a public web page and returns its text (HTML reduced to text).
public struct HTTPGetTool: Tool {
    public let client: HTTPClient
    public init(client: HTTPClient = HTTPClient()) { self.client = client }
    public var name: String { "http_get" }
    public var description: String { "Fetch a public web page (http or https) and return its text." }
    public var kind: ToolKind { .network }
    public var parameters: JSONValue {
        .object([("type", .string("object")),
                 ("properties", .object([("url", .object([("type", .string("string")), ("description", .string("The address, starting with http:// or https://"))]))])),
                 ("required", .array([.string("url")]))])
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        guard let url = arguments["url"]?.stringValue else { throw ToolError("http_get needs a \"url\" string") }
        let response = try await client.get(url)
        guard (200..<300).contains(response.status) else { throw ToolError("HTTP \(response.status) from \(response.url)") }
        var text = String(decoding: response.body, as: UTF8.self)
        if (response.contentType ?? "").lowercased().contains("html") { text = Self.textOfHTML(text) }
        return .text(response.truncated ? text + "\n…[the page is longer than \(client.maxBytes) bytes]" : text)
    }

    /// HTML without scripts, styles and tags, whitespace collapsed.
    static func textOfHTML(_ html: String) -> String {
        var text = html
        for block in ["script", "style", "noscript"] {
            text = text.replacingOccurrences(of: "<\(block)[^>]*>[\\s\\S]*?</\(block)>", with: " ", options: [.regularExpression, .caseInsensitive])
        }
        text = text.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
        for (entity, value) in [("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&nbsp;", " ")] {
            text = text.replacingOccurrences(of: entity, with: value)
        }
        return text.replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression).trimmingCharacters(in: .whitespaces)
    }
}
