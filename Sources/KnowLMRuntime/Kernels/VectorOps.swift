import CKernels
import Foundation

/// Element-wise kernels of the forward pass. Written as plain loops over unsafe pointers so the
/// optimiser vectorises them; each mirrors the arithmetic of the ggml op it stands in for.
enum VectorOps {
    /// `out = x / sqrt(mean(x²) + eps) * weight` (ggml accumulates the squares in double).
    static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>,
                        count n: Int, epsilon: Float) {
        var sum: Double = 0
        for i in 0..<n { sum += Double(x[i] * x[i]) }
        let scale = 1 / (Float(sum / Double(n)) + epsilon).squareRoot()
        if let weight {
            for i in 0..<n { out[i] = x[i] * scale * weight[i] }
        } else {
            for i in 0..<n { out[i] = x[i] * scale }
        }
    }

    static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { x[i] += y[i] }
    }

    static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count n: Int) {
        for i in 0..<n { x[i] *= s }
    }

    /// Softmax in place; entries at -infinity get probability 0.
    static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        var maximum = -Float.infinity
        for i in 0..<n where x[i] > maximum { maximum = x[i] }
        guard maximum > -Float.infinity else {
            for i in 0..<n { x[i] = 0 }
            return
        }
        var sum: Double = 0
        for i in 0..<n {
            let e = expf(x[i] - maximum)
            x[i] = e
            sum += Double(e)
        }
        let inv = Float(1 / sum)
        for i in 0..<n { x[i] *= inv }
    }

    /// `out = silu(gate) * up`.
    static func swiglu(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n {
            let g = gate[i]
            out[i] = g / (1 + expf(-g)) * up[i]
        }
    }

    /// `out = gelu_tanh(gate) * up`, exactly.
    static func gegluExact(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { out[i] = geluTanh(gate[i]) * up[i] }
    }

    /// `out = gelu(gate) * up` the way ggml's CPU backend computes it: GELU looked up in a
    /// table over all half-precision inputs (values rounded to fp16 on the way in and out).
    static func gegluTable(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int) {
        geluTable.withUnsafeBufferPointer { table in
            for i in 0..<n {
                let x = gate[i]
                if x <= -10 { out[i] = 0 }
                else if x >= 10 { out[i] = x * up[i] }
                else { out[i] = table[Int(kl_fp32_to_fp16(x))] * up[i] }
            }
        }
    }

    /// Rounds each value to the nearest half-precision number (kept as float).
    static func roundToHalf(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        kl_round_to_half(x, Int64(n))
    }

    @inline(__always)
    static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(0.797_884_560_802_865_36 * x * (1 + 0.044715 * x * x)))
    }

    /// ggml's table, built by the C kernels so the float arithmetic (and its fused
    /// multiply-adds) is exactly ggml's.
    static let geluTable: [Float] = {
        var half = [UInt16](repeating: 0, count: 65536)
        kl_gelu_table_f16(&half)
        return half.map { kl_fp16_to_fp32($0) }
    }()
}
