import Foundation
@testable import KnowLMRuntime

/// Writes GGUF v3 files for tests: copies of fixtures with chosen metadata or tensors changed.
struct GGUFWriter {
    var metadata: [(String, GGUFValue)] = []
    var tensors: [(name: String, shape: [Int], type: GGMLType, data: [UInt8])] = []
    var alignment = 32

    init() {}

    /// Starts from an existing file's metadata and tensors.
    init(copying file: GGUFFile) {
        for key in file.metadataKeys { metadata.append((key, file.metadata[key]!)) }
        for info in file.tensors {
            tensors.append((info.name, info.shape, info.type, Array(file.data(of: info))))
        }
        alignment = file.alignment
    }

    mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    func write(to url: URL) throws {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out += Array(s.utf8) }
        func typeID(_ v: GGUFValue) -> UInt32 {
            switch v {
            case .uint8: 0; case .int8: 1; case .uint16: 2; case .int16: 3; case .uint32: 4; case .int32: 5
            case .float32: 6; case .bool: 7; case .string: 8; case .array: 9; case .uint64: 10; case .int64: 11; case .float64: 12
            }
        }
        func value(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): out.append(x)
            case .int8(let x): out.append(UInt8(bitPattern: x))
            case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
            case .int16(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
            case .uint32(let x): u32(x)
            case .int32(let x): u32(UInt32(bitPattern: x))
            case .uint64(let x): u64(x)
            case .int64(let x): u64(UInt64(bitPattern: x))
            case .float32(let x): u32(x.bitPattern)
            case .float64(let x): u64(x.bitPattern)
            case .bool(let x): out.append(x ? 1 : 0)
            case .string(let s): string(s)
            case .array(let type, let values):
                u32(type); u64(UInt64(values.count))
                for element in values { value(element) }
            }
        }
        u32(0x4655_4747); u32(3); u64(UInt64(tensors.count)); u64(UInt64(metadata.count))
        for (key, v) in metadata { string(key); u32(typeID(v)); value(v) }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, o) in zip(tensors, offsets) {
            string(t.name); u32(UInt32(t.shape.count)); for d in t.shape { u64(UInt64(d)) }
            u32(t.type.rawValue); u64(UInt64(o))
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            out += t.data
            while out.count % alignment != 0 { out.append(0) }
        }
        try Data(out).write(to: url)
    }
}

/// A scratch folder removed when the value goes away.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
}
