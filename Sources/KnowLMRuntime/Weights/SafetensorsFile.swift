import Foundation

/// One tensor in a safetensors file.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: String
    /// Row-major shape, outermost first (PyTorch order).
    public var shape: [Int]
    /// Byte range inside the data section.
    public var range: Range<Int>
}

/// A memory-mapped safetensors file: an 8-byte header length, a JSON header, then raw data.
/// Every offset is checked against the file, so a damaged file is an error, never a crash.
public final class SafetensorsFile: @unchecked Sendable {
    public let url: URL
    public let tensors: [String: SafetensorsTensorInfo]
    public let metadata: [String: String]
    let mapping: MappedFile
    let dataOffset: Int

    static let elementSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
        "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8,
    ]

    public init(url: URL) throws {
        self.url = url
        let file = url.lastPathComponent
        mapping = try MappedFile(path: url.path)
        var reader = ByteReader(mapping.bytes, file: file)
        let headerLength = try reader.read(UInt64.self, "header length")
        guard headerLength <= UInt64(reader.remaining), headerLength <= 100_000_000 else {
            throw RuntimeError.malformed(file: file, reason: "header length \(headerLength) exceeds the file (\(mapping.count) bytes)")
        }
        let header = try reader.readBytes(Int(headerLength), "header")
        dataOffset = reader.offset
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(header)) } catch {
            throw RuntimeError.malformed(file: file, reason: "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw RuntimeError.malformed(file: file, reason: "header is not a JSON object")
        }
        let dataSize = mapping.count - dataOffset
        var tensors: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = v as? String ?? "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(name): entry needs dtype, shape and data_offsets")
            }
            guard let size = Self.elementSizes[dtype] else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(name): unknown dtype \(dtype)")
            }
            var count = 1
            for d in shape {
                guard d >= 0 else { throw RuntimeError.malformed(file: file, reason: "tensor \(name): negative dimension") }
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw RuntimeError.malformed(file: file, reason: "tensor \(name): shape overflows") }
                count = p
            }
            let (begin, end) = (offsets[0], offsets[1])
            let bytes = count.multipliedReportingOverflow(by: size)
            guard begin >= 0, end >= begin, end <= dataSize, !bytes.overflow, bytes.partialValue == end - begin else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(name): data_offsets [\(begin), \(end)) do not match shape \(shape) of \(dtype) within the \(dataSize)-byte data section")
            }
            tensors[name] = SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, range: begin..<end)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    public func data(of info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataOffset + info.range.lowerBound)..<(dataOffset + info.range.upperBound)])
    }
}

/// The tensors of a Hugging Face folder: one `model.safetensors`, or shards listed in
/// `model.safetensors.index.json`.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let files: [SafetensorsFile]
    private let location: [String: Int]

    public init(folder: URL) throws {
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        var names: [String]
        if FileManager.default.fileExists(atPath: index.path) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: index)) as? [String: Any],
                  let map = object["weight_map"] as? [String: String] else {
                throw RuntimeError.malformed(file: "model.safetensors.index.json", reason: "no weight_map object")
            }
            names = Array(Set(map.values)).sorted()
            for name in names where name.contains("/") || name.hasPrefix(".") {
                throw RuntimeError.malformed(file: "model.safetensors.index.json", reason: "shard name \(name) must be a plain file name")
            }
        } else {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
                .filter { $0.hasSuffix(".safetensors") }.sorted()
        }
        guard !names.isEmpty else {
            throw RuntimeError.cannotOpen(path: folder.path, reason: "no .safetensors files in the folder")
        }
        files = try names.map { try SafetensorsFile(url: folder.appendingPathComponent($0)) }
        var location: [String: Int] = [:]
        for (i, file) in files.enumerated() { for name in file.tensors.keys { location[name] = i } }
        self.location = location
    }

    public func tensor(_ name: String) -> (SafetensorsFile, SafetensorsTensorInfo)? {
        guard let i = location[name], let info = files[i].tensors[name] else { return nil }
        return (files[i], info)
    }
}
