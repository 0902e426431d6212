import CKernels
import Foundation

/// OpenBLAS as this process runs it: loaded on first use with kernels chosen for this CPU
/// (see `knowlm_blas.h`: a generic fallback core on a CPU with AVX2 / AVX-512 is corrected
/// before the library initialises; an `OPENBLAS_CORETYPE` set by the user is respected).
public enum BLAS {
    /// Loads OpenBLAS, or says why it cannot be loaded.
    public static func ensureLoaded() throws {
        guard kl_blas_load() == 0 else { throw RuntimeError.invalidArgument(String(cString: kl_blas_error())) }
    }

    /// The kernel set in use, e.g. "Haswell", "SkylakeX", "Zen".
    public static var coreName: String { String(cString: kl_blas_core_name()) }

    /// "library", "environment", or "corrected from Prescott".
    public static var coreOrigin: String { String(cString: kl_blas_core_origin()) }

    /// Whether `core` is one of OpenBLAS's pre-AVX2 kernel sets.
    public static func isGenericCore(_ core: String) -> Bool { kl_blas_core_is_generic(core) != 0 }

    /// The core this CPU's features call for ("SkylakeX", "Haswell"), nil without AVX2.
    public static var bestCoreForCPU: String? { kl_blas_best_core_for_cpu().map { String(cString: $0) } }

    /// The instruction sets of our own kernels ("avx2 fma f16c avx512 vnni", "scalar").
    public static var ownKernels: String { String(cString: kl_cpu_features()) }

    /// One line for `--verbose` and `bench`: which BLAS kernels and which own kernels run.
    public static var kernelSummary: String {
        "BLAS: OpenBLAS core \(coreName) (\(coreOrigin)); own kernels: \(ownKernels); --fast-embeddings: "
            + (kl_bf16_available() != 0 ? "bfloat16 (AVX512_BF16)" : "float32 (AVX512_BF16 kernels not in use here)")
            + "; batched passes: " + (packedBatchKernels ? "packed int8 weights (AVX-512 VNNI)" : "llama.cpp-order kernels")
    }

    /// Whether passes of several sequences can use packed weights (`PackedMatrix`) here.
    public static var packedBatchKernels: Bool {
        kl_packed_available(Int32(GGMLType.q8_0.rawValue)) != 0
            && ProcessInfo.processInfo.environment["KNOWLM_BATCHED_KERNELS"] != "exact"
    }
}
