import CKernels
import Foundation
import Testing
@testable import KnowLMRuntime

// Golden tests of the CKernels C library (quantized dot products / GEMM).
// Goldens: Tests/KnowLMRuntimeTests/Fixtures/kernels, made by
// scripts/golden/make_kernel_goldens.py (see that script for the file formats).

private struct KernelCase: Decodable {
    let kind: String
    let name: String
    let type: Int
    let atype: Int?
    let n: Int
    let rows: Int
    let n_a: Int?
    let w: String?
    let deq: String?
    let x: String?
    let a: String?
    let expect: String?
    let tol: String?
    let q: String?
    /// Real weight rows: `source` names a tensor of the default model ("model:NAME") and these
    /// are its row indices; the rows are read from the installed model, not committed, and
    /// checked by their FNV-1a 64 hash (`w_fnv1a64`), as is their dequantization (`deq_fnv1a64`).
    let source: String?
    let model_rows: [Int]?
    let w_fnv1a64: String?
    let deq_fnv1a64: String?
}

private struct KernelIndex: Decodable {
    let version: Int
    let cases: [KernelCase]
}

private enum KernelGoldens {
    static func url(_ name: String) throws -> URL {
        if let url = Bundle.module.url(forResource: "Fixtures/kernels/\(name)", withExtension: nil) {
            return url
        }
        guard let base = Bundle.module.resourceURL else {
            throw CocoaError(.fileNoSuchFile)
        }
        return base.appendingPathComponent("Fixtures/kernels/\(name)")
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: url(name))
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try data(name))
    }

    static func floats(_ name: String) throws -> [Float] {
        let d = try data(name)
        let count = d.count / MemoryLayout<Float>.size
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBytes { dst in
            d.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<(count * MemoryLayout<Float>.size)]))
            }
        }
        return out
    }

    static func doubles(_ name: String) throws -> [Double] {
        let d = try data(name)
        let count = d.count / MemoryLayout<Double>.size
        var out = [Double](repeating: 0, count: count)
        out.withUnsafeMutableBytes { dst in
            d.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<(count * MemoryLayout<Double>.size)]))
            }
        }
        return out
    }

    /// FNV-1a 64 of bytes, as lowercase hex (the goldens' fingerprint of real weight rows).
    static func fnv1a64<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The installed default model, opened once for all cases.
    static let defaultModel = Result { try GGUFFile(url: URL(fileURLWithPath: try ModelStore().resolve(ModelStore.defaultGenerator))) }

    /// The weight rows of a case: its committed file, or rows of the installed default model.
    static func weights(_ c: KernelCase) throws -> [UInt8] {
        if let file = c.w { return try bytes(file) }
        guard let rows = c.model_rows, let source = c.source, source.hasPrefix("model:") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: c.name])
        }
        let file = try defaultModel.get()
        let name = String(source.dropFirst("model:".count))
        guard let info = file.tensors.first(where: { $0.name == name }) else { throw CocoaError(.fileReadCorruptFile) }
        let rowBytes = kl_row_size(Int32(c.type), Int64(c.n))
        let data = file.data(of: info)
        var out: [UInt8] = []
        for r in rows { out += data[(r * rowBytes)..<((r + 1) * rowBytes)] }
        #expect(fnv1a64(out) == c.w_fnv1a64, "\(c.name): the installed default model's rows are not the ones the goldens were made from")
        return out
    }

    static func index() throws -> [KernelCase] {
        let idx = try JSONDecoder().decode(KernelIndex.self, from: try data("index.json"))
        return idx.cases
    }

    static func dotCases() throws -> [KernelCase] {
        try index().filter { $0.kind == "dot" }
    }

    static func quantCases() throws -> [KernelCase] {
        try index().filter { $0.kind == "quant" }
    }
}

@Test func kernelTypeTable() {
    #expect(kl_block_size(Int32(KL_Q4_0)) == 32)
    #expect(kl_type_size(Int32(KL_Q4_0)) == 18)
    #expect(kl_type_size(Int32(KL_Q5_0)) == 22)
    #expect(kl_type_size(Int32(KL_Q8_0)) == 34)
    #expect(kl_type_size(Int32(KL_Q8_1)) == 36)
    #expect(kl_block_size(Int32(KL_Q4_K)) == 256)
    #expect(kl_type_size(Int32(KL_Q2_K)) == 84)
    #expect(kl_type_size(Int32(KL_Q3_K)) == 110)
    #expect(kl_type_size(Int32(KL_Q4_K)) == 144)
    #expect(kl_type_size(Int32(KL_Q5_K)) == 176)
    #expect(kl_type_size(Int32(KL_Q6_K)) == 210)
    #expect(kl_type_size(Int32(KL_Q8_K)) == 292)
    #expect(kl_block_size(Int32(KL_F16)) == 1)
    #expect(kl_type_size(Int32(KL_BF16)) == 2)
    #expect(kl_block_size(99) == 0)
    #expect(kl_row_size(Int32(KL_Q6_K), 512) == 420)
    #expect(kl_row_size(Int32(KL_Q6_K), 100) == 0)
    #expect(kl_vec_dot_type(Int32(KL_Q5_0)) == Int32(KL_Q8_0))
    #expect(kl_vec_dot_type(Int32(KL_Q4_1)) == Int32(KL_Q8_1))
    #expect(kl_vec_dot_type(Int32(KL_Q6_K)) == Int32(KL_Q8_K))
    #expect(kl_vec_dot_type(Int32(KL_F16)) == Int32(KL_F16))
    #expect(kl_vec_dot_type(Int32(KL_Q8_K)) == -1)
    let features = String(cString: kl_cpu_features())
    #expect(!features.isEmpty)
}

@Test func kernelHalfConversions() {
    #expect(kl_fp16_to_fp32(0x3C00) == 1.0)
    #expect(kl_fp16_to_fp32(0xC000) == -2.0)
    #expect(kl_fp16_to_fp32(0x0001) == Float(bitPattern: 0x3380_0000))  // 2^-24
    #expect(kl_fp32_to_fp16(1.0) == 0x3C00)
    #expect(kl_fp32_to_fp16(65520.0) == 0x7C00)       // rounds to +inf
    #expect(kl_fp32_to_fp16(1.0 + 1.0 / 2048.0) == 0x3C00)  // tie -> even
    #expect(kl_fp32_to_fp16(1.0 + 3.0 / 2048.0) == 0x3C02)  // tie -> even (up)
    #expect(kl_fp32_to_bf16(1.00390625) == 0x3F80)    // tie -> even
    #expect(kl_bf16_to_fp32(0x3F80) == 1.0)
    // Every finite half survives a round trip.
    var bad = 0
    for h in 0..<65536 {
        let bits = UInt16(h)
        if bits & 0x7C00 == 0x7C00 { continue }
        if kl_fp32_to_fp16(kl_fp16_to_fp32(bits)) != bits { bad += 1 }
    }
    #expect(bad == 0)
}

@Test func kernelDequantizeMatchesGolden() throws {
    let cases = try KernelGoldens.dotCases()
    #expect(cases.count >= 13)
    for c in cases {
        let w = try KernelGoldens.weights(c)
        let expected = try c.deq.map { try KernelGoldens.floats($0) }
        let rowBytes = kl_row_size(Int32(c.type), Int64(c.n))
        #expect(rowBytes * c.rows == w.count, "\(c.name): row size")
        var out = [Float](repeating: 0, count: c.n)
        var all: [Float] = []
        var mismatches = 0
        for i in 0..<c.rows {
            let rc = w.withUnsafeBytes { wp in
                out.withUnsafeMutableBufferPointer { op in
                    kl_dequantize_row(Int32(c.type), wp.baseAddress! + i * rowBytes, op.baseAddress!, Int64(c.n))
                }
            }
            #expect(rc == 0, "\(c.name): dequantize failed")
            all += out
            if let expected {
                for k in 0..<c.n where out[k].bitPattern != expected[i * c.n + k].bitPattern { mismatches += 1 }
            }
        }
        #expect(mismatches == 0, "\(c.name): \(mismatches) dequantized values differ from gguf")
        if let fingerprint = c.deq_fnv1a64 {
            #expect(all.withUnsafeBytes { KernelGoldens.fnv1a64($0) } == fingerprint, "\(c.name): dequantized rows differ from gguf's")
        }
    }
}

@Test func kernelQuantizeActivationsMatchGolden() throws {
    // Activation rows of the dot cases, plus the dedicated quantization cases (edge cases:
    // exact .5 ties, an all-zero row, tiny and large magnitudes).
    var checks: [(name: String, type: Int, n: Int, rows: Int, x: String, q: String)] = []
    for c in try KernelGoldens.dotCases() {
        checks.append((name: c.name, type: c.atype!, n: c.n, rows: c.n_a!, x: c.x!, q: c.a!))
    }
    for c in try KernelGoldens.quantCases() {
        checks.append((name: c.name, type: c.type, n: c.n, rows: c.rows, x: c.x!, q: c.q!))
    }
    for c in checks {
        let x = try KernelGoldens.floats(c.x)
        let expected = try KernelGoldens.bytes(c.q)
        let rowBytes = kl_row_size(Int32(c.type), Int64(c.n))
        #expect(rowBytes * c.rows == expected.count, "\(c.name): activation row size")
        var out = [UInt8](repeating: 0, count: rowBytes)
        var mismatches = 0
        for r in 0..<c.rows {
            let rc = x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBytes { op in
                    kl_quantize_row(Int32(c.type), xp.baseAddress! + r * c.n, op.baseAddress!, Int64(c.n))
                }
            }
            #expect(rc == 0, "\(c.name): quantize failed")
            for k in 0..<rowBytes where out[k] != expected[r * rowBytes + k] {
                mismatches += 1
            }
        }
        #expect(mismatches == 0, "\(c.name): \(mismatches) quantized bytes differ")
    }
}

@Test func kernelVecDotMatchesGolden() throws {
    for c in try KernelGoldens.dotCases() {
        let w = try KernelGoldens.weights(c)
        let a = try KernelGoldens.bytes(c.a!)
        let expected = try KernelGoldens.doubles(c.expect!)
        let tol = try KernelGoldens.doubles(c.tol!)
        let na = c.n_a!
        let wRow = kl_row_size(Int32(c.type), Int64(c.n))
        let aRow = kl_row_size(Int32(c.atype!), Int64(c.n))
        #expect(aRow * na == a.count, "\(c.name): activation size")
        var failures = 0
        for j in 0..<na {
            for i in 0..<c.rows {
                let v = w.withUnsafeBytes { wp in
                    a.withUnsafeBytes { ap in
                        kl_vec_dot(Int32(c.type), Int64(c.n), wp.baseAddress! + i * wRow, ap.baseAddress! + j * aRow)
                    }
                }
                let e = expected[j * c.rows + i]
                if !(abs(Double(v) - e) <= tol[j * c.rows + i]) {
                    failures += 1
                }
            }
        }
        #expect(failures == 0, "\(c.name): \(failures) vec_dot results out of tolerance")
    }
}

/// Both GEMMs: `kl_gemm` (llama.cpp's order) and `kl_gemm_tiled` (the fast default).
@Test(arguments: [false, true]) func kernelGemmMatchesGolden(tiled: Bool) throws {
    let gemm = tiled ? kl_gemm_tiled : kl_gemm
    for c in try KernelGoldens.dotCases() {
        let w = try KernelGoldens.weights(c)
        let a = try KernelGoldens.bytes(c.a!)
        let expected = try KernelGoldens.doubles(c.expect!)
        let tol = try KernelGoldens.doubles(c.tol!)
        let na = c.n_a!
        let wRow = kl_row_size(Int32(c.type), Int64(c.n))
        let aRow = kl_row_size(Int32(c.atype!), Int64(c.n))
        for rowBegin in [0, 1] {
            var out = [Float](repeating: .nan, count: c.rows * na)
            w.withUnsafeBytes { wp in
                a.withUnsafeBytes { ap in
                    out.withUnsafeMutableBufferPointer { op in
                        gemm(Int32(c.type), Int64(c.n), wp.baseAddress!, wRow,
                                Int64(rowBegin), Int64(c.rows), ap.baseAddress!, aRow, Int64(na),
                                op.baseAddress!, Int64(c.rows))
                    }
                }
            }
            var failures = 0
            var outside = 0
            for j in 0..<na {
                for i in 0..<c.rows {
                    let v = out[j * c.rows + i]
                    if i < rowBegin {
                        if !v.isNaN { outside += 1 }
                        continue
                    }
                    if !(abs(Double(v) - expected[j * c.rows + i]) <= tol[j * c.rows + i]) {
                        failures += 1
                    }
                }
            }
            #expect(failures == 0, "\(c.name) (row_begin \(rowBegin), tiled \(tiled)): \(failures) gemm results out of tolerance")
            #expect(outside == 0, "\(c.name): gemm wrote outside [row_begin, row_end)")
        }
    }
}

/// The AVX-512 attention kernel must give the portable emulation's bits (which are llama.cpp's;
/// see scripts/golden/check_llamacpp_attention_exact.py) for both of llama.cpp's kernel choices
/// (one token: ggml_vec_dot_f16; a batch: tinyBLAS), causal masks, padding and odd tails.
@Test(arguments: [
    // (n_q, n_kv, n_kv_pad, d, dv, n_tokens)
    [1, 37, 256, 256, 256, 1], [1, 300, 512, 128, 128, 1], [1, 100, 100, 64, 64, 1],
    [1, 70, 90, 64, 80, 1],
    [7, 7, 256, 256, 256, 7], [33, 290, 512, 64, 64, 33], [5, 44, 44, 96, 48, 5],
    [4, 50, 60, 32, 32, 4], [6, 40, 64, 32, 48, 9], [1, 20, 256, 64, 64, 5], [9, 300, 512, 256, 256, 12],
    [45, 301, 512, 64, 32, 45], [2, 3, 16, 16, 16, 2],
])
func kernelAttentionVectorMatchesReference(shape: [Int]) {
    let (nq, nkv, pad, d, dv, nTokens) = (shape[0], shape[1], shape[2], shape[3], shape[4], shape[5])
    var rng = SystemRandomNumberGenerator()
    func randoms(_ count: Int, _ scale: Float) -> [Float] { (0..<count).map { _ in Float.random(in: -scale...scale, using: &rng) } }
    let q = randoms(nq * d, 2)
    let k = randoms(nkv * d, 2).map { kl_fp32_to_fp16($0) }
    let v = randoms(nkv * dv, 3).map { kl_fp32_to_fp16($0) }
    // Causal mask for the last nq positions, and a few extra masked cells.
    var mask = [Float](repeating: 0, count: nq * nkv)
    for i in 0..<nq {
        let p = nkv - nq + i
        for j in 0..<nkv where j > p || (j * 7 + i) % 11 == 0 && j != p { mask[i * nkv + j] = -.infinity }
    }
    let scratchSize = kl_attention_llamacpp_scratch(Int32(pad), Int32(d), Int32(dv))
    func run(_ f: (Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>?, Int, UnsafePointer<UInt16>?, Int,
                   UnsafePointer<UInt16>?, Int, UnsafePointer<Float>?, Int, Float, Int32,
                   UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void) -> [Float] {
        var out = [Float](repeating: .nan, count: nq * dv)
        var scratch = [Float](repeating: .nan, count: scratchSize)
        f(Int32(nq), Int32(nkv), Int32(pad), Int32(d), Int32(dv), q, d, k, d, v, dv, mask, nkv, 0.125, Int32(nTokens),
          &scratch, &out, dv)
        return out
    }
    let reference = run(kl_attention_llamacpp_reference)
    let vector = run(kl_attention_llamacpp)
    let differing = zip(reference, vector).filter { $0.bitPattern != $1.bitPattern }.count
    #expect(!reference.contains { $0.isNaN })
    #expect(differing == 0, "\(differing) of \(reference.count) outputs differ from the reference for \(shape)")
}

/// Rows with every key masked (the batch path hands them to the row kernel): no crash, and
/// the reference's result (NaN there, as llama.cpp's soft_max of an all -inf row) in the same places.
@Test func kernelAttentionFullyMaskedRowsMatchReference() {
    let (nq, nkv, pad, d, dv) = (5, 20, 32, 16, 16)
    let q = (0..<nq * d).map { Float($0 % 7) / 7 }
    let k = (0..<nkv * d).map { kl_fp32_to_fp16(Float($0 % 5) / 5) }
    let v = (0..<nkv * dv).map { kl_fp32_to_fp16(Float($0 % 3) / 3) }
    for maskedRows in [Set(0..<nq), Set([1, 3])] {
        var mask = [Float](repeating: 0, count: nq * nkv)
        for i in maskedRows { for j in 0..<nkv { mask[i * nkv + j] = -.infinity } }
        let size = kl_attention_llamacpp_scratch(Int32(pad), Int32(d), Int32(dv))
        var s1 = [Float](repeating: 0, count: size), s2 = s1
        var expected = [Float](repeating: 0, count: nq * dv), got = expected
        kl_attention_llamacpp_reference(Int32(nq), Int32(nkv), Int32(pad), Int32(d), Int32(dv), q, d, k, d, v, dv, mask, nkv, 0.25, Int32(nq),
                                        &s1, &expected, dv)
        kl_attention_llamacpp(Int32(nq), Int32(nkv), Int32(pad), Int32(d), Int32(dv), q, d, k, d, v, dv, mask, nkv, 0.25, Int32(nq),
                              &s2, &got, dv)
        let agree = zip(expected, got).allSatisfy { $0.isNaN ? $1.isNaN : $0.bitPattern == $1.bitPattern }
        #expect(agree, "fully masked rows \(maskedRows.sorted())")
    }
}

/// Several query heads over one K/V head (grouped-query attention) in one call, with a sliding
/// window (rows whose unmasked keys start late): the bits of one reference call per head.
@Test(arguments: [[3, 37, 200, 256, 64, 64, 37], [4, 70, 256, 256, 256, 256, 70], [2, 5, 40, 256, 32, 32, 5]])
func kernelAttentionHeadsMatchOneCallPerHead(shape: [Int]) {
    let (heads, nq, nkv, pad, d, dv, nTokens) = (shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6])
    var rng = SystemRandomNumberGenerator()
    func randoms(_ count: Int, _ scale: Float) -> [Float] { (0..<count).map { _ in Float.random(in: -scale...scale, using: &rng) } }
    let q = randoms(nq * heads * d, 2)   // rows of heads * d
    let k = randoms(nkv * d, 2).map { kl_fp32_to_fp16($0) }
    let v = randoms(nkv * dv, 3).map { kl_fp32_to_fp16($0) }
    var mask = [Float](repeating: 0, count: nq * nkv)
    for i in 0..<nq {
        let p = nkv - nq + i
        for j in 0..<nkv where j > p || p - j >= 33 { mask[i * nkv + j] = -.infinity }
    }
    let scratch = [Float](repeating: .nan, count: kl_attention_llamacpp_scratch(Int32(pad), Int32(d), Int32(dv)))
    var expected = [Float](repeating: .nan, count: nq * heads * dv)
    var got = expected
    var s1 = scratch, s2 = scratch
    for h in 0..<heads {
        q.withUnsafeBufferPointer { qp in
            expected.withUnsafeMutableBufferPointer { op in
                kl_attention_llamacpp_reference(Int32(nq), Int32(nkv), Int32(pad), Int32(d), Int32(dv), qp.baseAddress! + h * d, heads * d,
                                                k, d, v, dv, mask, nkv, 0.0625, Int32(nTokens), &s1, op.baseAddress! + h * dv, heads * dv)
            }
        }
    }
    kl_attention_llamacpp_heads(Int32(heads), d, dv, Int32(nq), Int32(nkv), Int32(pad), Int32(d), Int32(dv), q, heads * d,
                                k, d, v, dv, mask, nkv, 0.0625, Int32(nTokens), &s2, &got, heads * dv)
    let differing = zip(expected, got).filter { $0.bitPattern != $1.bitPattern }.count
    #expect(!expected.contains { $0.isNaN })
    #expect(differing == 0, "\(differing) of \(expected.count) outputs differ for \(shape)")
}
