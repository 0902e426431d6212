import Foundation
import KnowLMRuntime

/// Locations of test data: fixtures shipped with the tests, and the default model that
/// `scripts/setup.sh` installs.
enum Fixtures {
    static func url(_ relativePath: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(relativePath)
    }

    /// A tiny model file of `tiny/goldens.json` ("tiny-llama.gguf", ...), written at test time
    /// (see TinyModels).
    static func tinyModel(_ file: String) throws -> URL {
        try TinyModels.url(file)
    }

    static func json(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(relativePath))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The default GGUF model. Tests that need it fail (not skip) when it is absent: the test
    /// command installs it, and silently skipping would hide a broken set-up.
    static var defaultModelPath: String {
        get throws { try ModelStore().resolve(ModelStore.defaultGenerator) }
    }

    /// One loaded default model (default precision: llama.cpp's exact arithmetic) shared by the
    /// tests of a process (loading takes a moment).
    static func defaultModel() throws -> LocalModel {
        try SharedModel.shared.get(.llamaCpp)
    }

    /// The default model with the tiled matrix products (`--precision llama.cpp-tiled`).
    static func tiledModel() throws -> LocalModel {
        try SharedModel.shared.get(.llamaCppTiled)
    }
}

private final class SharedModel: @unchecked Sendable {
    static let shared = SharedModel()
    private let lock = NSLock()
    private var models: [Precision: LocalModel] = [:]

    func get(_ precision: Precision) throws -> LocalModel {
        lock.lock()
        defer { lock.unlock() }
        if let model = models[precision] { return model }
        var options = RuntimeOptions()
        options.contextLength = 512  // as in the llama.cpp goldens (n_ctx 512)
        options.precision = precision
        let loaded = try LocalModel.load(path: try Fixtures.defaultModelPath, options: options)
        models[precision] = loaded
        return loaded
    }
}

extension Array where Element == Any {
    var ints: [Int] { map { ($0 as! NSNumber).intValue } }
    var int32s: [Int32] { map { ($0 as! NSNumber).int32Value } }
    var floats: [Float] { map { ($0 as! NSNumber).floatValue } }
}
