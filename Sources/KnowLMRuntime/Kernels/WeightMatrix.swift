import CKernels
import Foundation

/// A 2-D weight (`rows` outputs × `columns` inputs) stored in any computable ggml type,
/// used in place from the memory-mapped file.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    let base: UnsafeRawPointer
    /// Keeps the mapping (or owned storage) alive.
    let owner: AnyObject

    init(name: String, type: GGMLType, rows: Int, columns: Int, base: UnsafeRawPointer, owner: AnyObject) throws {
        guard type.isComputable, kl_block_size(Int32(type.rawValue)) > 0 else {
            throw RuntimeError.unsupportedTensorType(tensor: name, type: type.name)
        }
        guard columns % type.blockSize == 0 else {
            throw RuntimeError.malformed(file: name, reason: "row length \(columns) is not a multiple of the \(type) block size")
        }
        self.name = name
        self.type = type
        self.rows = rows
        self.columns = columns
        self.rowBytes = kl_row_size(Int32(type.rawValue), Int64(columns))
        self.base = base
        self.owner = owner
    }

    /// Activation format llama.cpp multiplies this weight with.
    var activationType: GGMLType { GGMLType(rawValue: UInt32(kl_vec_dot_type(Int32(type.rawValue)))) }

    func rowPointer(_ row: Int) -> UnsafeRawPointer { base + row * rowBytes }

    /// Dequantizes one row into `destination` (`columns` floats).
    func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        _ = kl_dequantize_row(Int32(type.rawValue), rowPointer(row), destination, Int64(columns))
    }
}

/// How matrix products treat activations.
public enum Precision: String, Sendable, CaseIterable {
    /// Whether activations are quantized like llama.cpp's (all but `float32`).
    var emulatesLlamaCpp: Bool { self != .float32 }

    /// llama.cpp's CPU arithmetic (the default): activations quantized to 8 bits per block,
    /// fp16 K/V, and llama.cpp's float summation order in the matrix products and attention
    /// (its kernel choice by batch size, its padded KV length). Logits are bit-identical to
    /// llama.cpp's CPU backend (AVX-512 build, flash attention off, within one sliding window).
    case llamaCpp = "llama.cpp"
    /// The same quantized integer math with tiled matrix products that combine partial sums
    /// across activation rows before the float step: faster prompt processing, logits that
    /// differ from llama.cpp's in the last bits (which 18 layers can grow to llama.cpp's own
    /// batched-vs-incremental spread).
    case llamaCppTiled = "llama.cpp-tiled"
    /// Dequantize weights and multiply in float32 (a reference that matches a dequantized
    /// float model, e.g. transformers loading the GGUF).
    case float32
}

/// A batch of activation rows (`count` × `width` floats) with its quantized forms, made on
/// first use per activation type and reused by every weight that needs the same type.
final class ActivationBatch {
    let width: Int
    private(set) var count: Int
    let floats: UnsafeMutablePointer<Float>
    private let capacity: Int
    private var quantized: [GGMLType: (buffer: UnsafeMutableRawPointer, rowBytes: Int)] = [:]
    private var valid: Set<GGMLType> = []

    init(width: Int, capacity: Int) {
        self.width = width
        self.capacity = capacity
        self.count = capacity
        floats = .allocate(capacity: width * capacity)
        floats.initialize(repeating: 0, count: width * capacity)
    }

    deinit {
        floats.deallocate()
        for (_, q) in quantized { q.buffer.deallocate() }
    }

    /// Declares that `rows` rows of `floats` were rewritten; quantized copies are stale.
    func invalidate(rows: Int) {
        precondition(rows <= capacity)
        count = rows
        valid.removeAll(keepingCapacity: true)
    }

    func quantizedRows(as type: GGMLType, threads: ThreadCount) -> (UnsafeRawPointer, Int) {
        let rowBytes = kl_row_size(Int32(type.rawValue), Int64(width))
        if quantized[type] == nil {
            quantized[type] = (.allocate(byteCount: rowBytes * capacity, alignment: 64), rowBytes)
        }
        let buffer = quantized[type]!.buffer
        if !valid.contains(type) {
            if type == .f32 {
                buffer.copyMemory(from: floats, byteCount: rowBytes * count)
            } else {
                let src = SendableBox(floats), dst = SendableBox(buffer)
                let width = self.width
                threads.parallelFor(count, minimumPerThread: 4) { range in
                    for r in range {
                        _ = kl_quantize_row(Int32(type.rawValue), src.value + r * width, dst.value + r * rowBytes, Int64(width))
                    }
                }
            }
            valid.insert(type)
        }
        return (UnsafeRawPointer(buffer), rowBytes)
    }
}

/// Matrix products of weights with activation batches.
struct MatMul {
    let threads: ThreadCount
    let precision: Precision
    /// Packed weights for products with 2 or more activation rows (batched decoding).
    var packed: PackedWeights? = nil

    /// `output[j * ldo + i] = W[i] · input[j]` for every row `i` of `weight` and every
    /// activation row `j`.
    func callAsFunction(_ weight: WeightMatrix, _ input: ActivationBatch,
                        _ output: UnsafeMutablePointer<Float>, ldo: Int) {
        precondition(input.width == weight.columns, "\(weight.name): input width \(input.width) != \(weight.columns)")
        if input.count >= 2, let p = packed?.matrix(for: weight) {
            p.multiply(input, output, ldo: ldo, threads: threads)
            return
        }
        if precision == .float32 && weight.type != .f32 {
            float32Reference(weight, input, output, ldo: ldo)
            return
        }
        let (a, aRowBytes) = input.quantizedRows(as: weight.activationType, threads: threads)
        let n = input.count
        let out = SendableBox(output), aBox = SendableBox(a)
        // The default precision keeps llama.cpp's float summation order (bit-identical results);
        // the opt-in tiled one takes the fastest kernels (last-bit differences).
        let gemm = precision == .llamaCppTiled ? kl_gemm_tiled : kl_gemm
        // Row chunks in multiples of 16 keep each thread's tiles whole.
        threads.parallelFor(weight.rows, granularity: 16, minimumPerThread: 64) { range in
            gemm(Int32(weight.type.rawValue), Int64(weight.columns), weight.base, weight.rowBytes,
                    Int64(range.lowerBound), Int64(range.upperBound),
                    aBox.value, aRowBytes, Int64(n), out.value, Int64(ldo))
        }
    }

    /// Dequantizes blocks of weight rows and multiplies them in float32 with BLAS (which
    /// threads the product itself).
    private func float32Reference(_ weight: WeightMatrix, _ input: ActivationBatch,
                                  _ output: UnsafeMutablePointer<Float>, ldo: Int) {
        let n = input.count, k = weight.columns
        let blockRows = 256
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * k)
        defer { scratch.deallocate() }
        var start = 0
        while start < weight.rows {
            let m = min(blockRows, weight.rows - start)
            for r in 0..<m { weight.dequantizeRow(start + r, into: scratch + r * k) }
            // C (n × m, ldc = ldo) = X (n × k) · Wᵀ (k × m)
            kl_sgemm(0, 1, Int32(n), Int32(m), Int32(k),
                        1, input.floats, Int32(k), scratch, Int32(k), 0, output + start, Int32(ldo))
            start += m
        }
    }
}

/// A Q8_0, Q5_0, Q4_0, Q4_K or Q6_K weight repacked as int8 codes for products with several
/// activation rows at once (16 rows interleaved in the VNNI layout, `gemm_packed_avx512.c`).
/// Each 32-element block's integer dot product ends in its lane before one float step, so at 8
/// activation rows it runs 2–4× faster than the llama.cpp-order kernels; the float steps are in
/// a different order, so results differ from llama.cpp's in the last bits. Batched decoding
/// (`BatchedModel`) uses these for passes of 2 or more rows.
final class PackedMatrix: @unchecked Sendable {
    let type: GGMLType
    /// The activation format llama.cpp pairs with `type` (Q8_0 or Q8_K).
    let activationType: GGMLType
    let rows: Int
    let columns: Int
    let groups: Int
    let bytes: Int
    private let storage: UnsafeMutableRawPointer

    /// Nil when the weight type has no packed form or this CPU (or `KNOWLM_KERNELS_ISA`)
    /// lacks AVX-512 VNNI.
    init?(_ weight: WeightMatrix, threads: ThreadCount) {
        let t = Int32(weight.type.rawValue)
        guard kl_packed_available(t) != 0 else { return nil }
        type = weight.type
        activationType = weight.activationType
        rows = weight.rows
        columns = weight.columns
        groups = (rows + 15) / 16
        bytes = kl_packed_size(t, Int64(rows), Int64(columns))
        storage = .allocate(byteCount: bytes, alignment: 64)
        let dst = SendableBox(storage)
        threads.parallelFor(groups, minimumPerThread: 16) { range in
            kl_pack(t, weight.base, weight.rowBytes, Int64(weight.rows), Int64(weight.columns),
                    Int64(range.lowerBound), Int64(range.upperBound), dst.value)
        }
    }

    deinit { storage.deallocate() }

    /// `output[j * ldo + i] = W[i] · input[j]`, like `MatMul`, with the activation type
    /// llama.cpp pairs with the weight type (Q8_0 or Q8_K).
    func multiply(_ input: ActivationBatch, _ output: UnsafeMutablePointer<Float>, ldo: Int, threads: ThreadCount) {
        precondition(input.width == columns)
        let (a, aRowBytes) = input.quantizedRows(as: activationType, threads: threads)
        let n = input.count
        let out = SendableBox(output), aBox = SendableBox(a), p = SendableBox(UnsafeRawPointer(storage))
        let t = Int32(type.rawValue), rows = self.rows, columns = self.columns
        // Chunks of at least 16 groups (256 rows) keep small matrices on one thread.
        threads.parallelFor(groups, minimumPerThread: 16) { range in
            kl_packed_gemm(t, p.value, Int64(rows), Int64(columns), Int64(range.lowerBound), Int64(range.upperBound),
                           aBox.value, aRowBytes, Int64(n), out.value, Int64(ldo))
        }
    }
}

/// Packed forms of a model's weights (those `PackedMatrix` can pack), looked up by the
/// weight's storage.
final class PackedWeights: @unchecked Sendable {
    private var byBase: [UnsafeRawPointer: PackedMatrix] = [:]
    private(set) var bytes = 0

    /// Packs `weights` in order while their packed copies fit in `budget` bytes (a matrix that
    /// does not fit is skipped and keeps the llama.cpp-order kernels).
    init(_ weights: [WeightMatrix], threads: ThreadCount, budget: Int = PackedWeights.defaultBudget) {
        for w in weights where byBase[w.base] == nil {
            let size = kl_packed_size(Int32(w.type.rawValue), Int64(w.rows), Int64(w.columns))
            guard size > 0, bytes + size <= budget else { continue }
            if let p = PackedMatrix(w, threads: threads) {
                byBase[w.base] = p
                bytes += p.bytes
            }
        }
    }

    /// Memory the packed copies may take: `KNOWLM_PACKED_MAX_MB`, or an eighth of this
    /// machine's memory (3 GB on 24 GB; the default model needs 291 MB, while a 7B model's
    /// would need several GB and gets its output head and as many layers as fit).
    static var defaultBudget: Int {
        if let mb = ProcessInfo.processInfo.environment["KNOWLM_PACKED_MAX_MB"].flatMap(Int.init), mb >= 0 {
            return mb << 20
        }
        return Int(ProcessInfo.processInfo.physicalMemory / 8)
    }

    var isEmpty: Bool { byBase.isEmpty }

    func matrix(for weight: WeightMatrix) -> PackedMatrix? { byBase[weight.base] }
}
