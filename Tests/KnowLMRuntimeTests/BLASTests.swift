import Foundation
import Testing
@testable import KnowLMRuntime

/// OpenBLAS must run kernels that fit the CPU: Debian's 0.3.21 falls back to its generic
/// "Prescott" kernels on CPUs it does not know, 4-7x slower, unless we correct it.
@Suite struct BLASTests {
    static var knowlm: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("knowlm")
    }

    static func kernels(environment: [String: String]) throws -> [String: String] {
        let process = Process()
        process.executableURL = knowlm
        process.arguments = ["bench", "kernels", "--json"]
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try JSONSerialization.jsonObject(with: data) as? [String: String] ?? [:]
    }

    @Test func thisProcessDoesNotRunGenericKernelsOnAnAVX2CPU() throws {
        try BLAS.ensureLoaded()
        let preset = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        if let preset, !preset.isEmpty {
            // Set by the user or the machine: respected as given.
            #expect(BLAS.coreOrigin == "environment")
            return
        }
        if BLAS.bestCoreForCPU != nil {
            #expect(!BLAS.isGenericCore(BLAS.coreName), "OpenBLAS runs its generic \(BLAS.coreName) kernels on a CPU with AVX2 (\(BLAS.coreOrigin))")
        }
    }

    @Test func aFreshProcessChoosesByItselfAndRespectsAPresetCore() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.knowlm.path), "build the knowlm product first (scripts/test.sh does)")
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "OPENBLAS_CORETYPE")
        let chosen = try Self.kernels(environment: environment)
        if let best = chosen["best_core_for_cpu"], !best.isEmpty {
            #expect(!BLAS.isGenericCore(chosen["blas_core"] ?? "unknown"), "\(chosen)")
        }
        // An OpenBLAS that does not know the CPU (simulated): corrected to the CPU's core.
        if let best = chosen["best_core_for_cpu"], !best.isEmpty {
            var unknownCPU = environment
            unknownCPU["KNOWLM_BLAS_PROBE_SIMULATE"] = "Prescott"
            let corrected = try Self.kernels(environment: unknownCPU)
            #expect(corrected["blas_core_origin"] == "corrected from Prescott", "\(corrected)")
            #expect(corrected["blas_core"]?.lowercased() == best.lowercased(), "\(corrected)")
        }
        environment["OPENBLAS_CORETYPE"] = "Prescott"  // what a user of a buggy CPU might force
        let forced = try Self.kernels(environment: environment)
        #expect(forced["blas_core_origin"] == "environment", "\(forced)")
        #expect(forced["blas_core"]?.lowercased() == "prescott", "\(forced)")
    }

    @Test func genericCoreNames() {
        #expect(BLAS.isGenericCore("Prescott"))
        #expect(BLAS.isGenericCore("NEHALEM"))
        #expect(!BLAS.isGenericCore("Haswell"))
        #expect(!BLAS.isGenericCore("SkylakeX"))
        #expect(!BLAS.isGenericCore("Zen"))
    }
}
