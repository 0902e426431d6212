import Foundation
import KnowLMRuntime

/// The tiny Hugging Face llama folders (`hf-llama`, `hf-llama-sharded`), written at test time.
///
/// Their weights are tiny-llama.gguf's tensors (written by TinyModels) under the Hugging Face
/// names, with the q/k rows back in Hugging Face's order (convert_hf_to_gguf interleaves the
/// two rotary halves of each head); `scripts/golden/tiny_models.py` computes transformers'
/// logits for the same weights. Only the small files are committed (`config.json`,
/// `generation_config.json`, `tokenizer.model`, the shard index).
enum TinyHuggingFaceFolders {
    /// A folder with the fixture's small files and the rebuilt safetensors.
    static func url(_ folder: String) throws -> URL {
        try built.get().appendingPathComponent(folder)
    }

    private static let built: Result<URL, any Error> = Result { try build() }

    private static func build() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-tiny-hf-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: root)
        let tensors = try huggingFaceTensors()
        for folder in ["hf-llama", "hf-llama-sharded"] {
            let source = Fixtures.url("tiny/\(folder)"), target = root.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
                try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: target.appendingPathComponent(name))
            }
            let index = target.appendingPathComponent("model.safetensors.index.json")
            if FileManager.default.fileExists(atPath: index.path) {
                let map = try JSONSerialization.jsonObject(with: Data(contentsOf: index)) as! [String: Any]
                let weightMap = map["weight_map"] as! [String: String]
                for shard in Set(weightMap.values) {
                    let names = weightMap.filter { $0.value == shard }.map(\.key)
                    try safetensors(tensors.filter { names.contains($0.key) }).write(to: target.appendingPathComponent(shard))
                }
            } else {
                try safetensors(tensors).write(to: target.appendingPathComponent("model.safetensors"))
            }
        }
        return root
    }

    /// tiny-llama.gguf's float32 tensors under Hugging Face names, in Hugging Face row order.
    private static func huggingFaceTensors() throws -> [String: (shape: [Int], data: [Float])] {
        let gguf = try GGUFFile(url: try Fixtures.tinyModel("tiny-llama.gguf"))
        let heads = gguf.metadata["llama.attention.head_count"]!.int!
        let kvHeads = gguf.metadata["llama.attention.head_count_kv"]!.int!
        let bytes = try Data(contentsOf: gguf.url)
        var out: [String: (shape: [Int], data: [Float])] = [:]
        for t in gguf.tensors {
            precondition(t.type == .f32, "tiny-llama.gguf is float32")
            let start = gguf.dataOffset + t.offset
            var data = bytes.subdata(in: start..<(start + t.byteCount)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let shape = t.shape.reversed().map { $0 }   // GGUF lists the row length first
            let parts = t.name.split(separator: ".")
            let name: String
            switch parts.count >= 3 ? String(parts[2]) : t.name {
            case "attn_norm": name = "input_layernorm"
            case "attn_q": name = "self_attn.q_proj"; data = unpermute(data, shape: shape, heads: heads)
            case "attn_k": name = "self_attn.k_proj"; data = unpermute(data, shape: shape, heads: kvHeads)
            case "attn_v": name = "self_attn.v_proj"
            case "attn_output": name = "self_attn.o_proj"
            case "ffn_norm": name = "post_attention_layernorm"
            case "ffn_gate": name = "mlp.gate_proj"
            case "ffn_up": name = "mlp.up_proj"
            case "ffn_down": name = "mlp.down_proj"
            case "token_embd.weight": name = "model.embed_tokens"
            case "output_norm.weight": name = "model.norm"
            case "output.weight": name = "lm_head"
            default: throw CocoaError(.fileReadCorruptFile)
            }
            let full = parts.first == "blk" ? "model.layers.\(parts[1]).\(name).weight" : "\(name).weight"
            out[full] = (shape, data)
        }
        return out
    }

    /// Undoes convert_hf_to_gguf's permute: GGUF row (head, j, half) is HF row (head, half, j).
    private static func unpermute(_ w: [Float], shape: [Int], heads: Int) -> [Float] {
        let rows = shape[0], cols = shape[1], perHead = rows / heads, half = perHead / 2
        var out = [Float](repeating: 0, count: w.count)
        for h in 0..<heads {
            for j in 0..<half {
                for t in 0..<2 {
                    let from = (h * perHead + 2 * j + t) * cols, to = (h * perHead + t * half + j) * cols
                    for c in 0..<cols { out[to + c] = w[from + c] }
                }
            }
        }
        return out
    }

    /// A safetensors file as transformers writes it: tensors sorted by name, float32.
    private static func safetensors(_ tensors: [String: (shape: [Int], data: [Float])]) throws -> Data {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var body = Data()
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            let start = body.count
            t.data.withUnsafeBytes { body.append(contentsOf: $0) }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [start, body.count]]
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + body
    }
}
