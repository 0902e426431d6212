import Foundation

/// A metadata value from a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool)
    case string(String)
    /// Element type id and the elements (which may themselves be arrays).
    case array(elementType: UInt32, [GGUFValue])

    /// Integer value of any integer (or bool) case.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var float: Float? { double.map(Float.init) }

    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return int.map { $0 != 0 }
    }

    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(_, let v) = self { return v }
        return nil
    }

    /// Short rendering for `knowlm model info`: long arrays are summarised.
    public func summary(maxElements: Int = 8) -> String {
        switch self {
        case .string(let s): return s.count > 120 ? "\"\(s.prefix(117))...\"" : "\"\(s)\""
        case .array(let type, let values):
            let shown = values.prefix(maxElements).map { $0.summary(maxElements: 3) }.joined(separator: ", ")
            let more = values.count > maxElements ? ", ... (\(values.count) \(GGUFFile.valueTypeName(type)))" : ""
            return "[\(shown)\(more)]"
        case .bool(let v): return String(v)
        case .float32(let v): return String(v)
        case .float64(let v): return String(v)
        default: return int.map(String.init) ?? "?"
        }
    }
}

/// Name, shape, type and location of one tensor in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public var name: String
    /// ggml order: `shape[0]` is the row length (contiguous dimension).
    public var shape: [Int]
    public var type: GGMLType
    /// Offset from the start of the data section.
    public var offset: Int
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes of the tensor's data.
    public var byteCount: Int
}

/// A parsed GGUF file (versions 2 and 3): metadata, tensor table and memory-mapped data.
///
/// Parsing checks every count, length and offset against the file size, so a truncated or
/// corrupted file fails with an error that says where, instead of crashing or allocating
/// more than the file could hold.
public final class GGUFFile: @unchecked Sendable {
    public let url: URL
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Byte offset of the data section in the file.
    public let dataOffset: Int
    let mapping: MappedFile
    private let tensorIndex: [String: Int]

    static let magic: UInt32 = 0x4655_4747  // "GGUF" read little-endian
    static let maxNesting = 4

    public convenience init(path: String) throws {
        try self.init(url: URL(fileURLWithPath: path))
    }

    public init(url: URL) throws {
        self.url = url
        let file = url.lastPathComponent
        mapping = try MappedFile(path: url.path)
        var reader = ByteReader(mapping.bytes, file: file)

        guard try reader.read(UInt32.self, "magic") == Self.magic else {
            throw RuntimeError.malformed(file: file, reason: "not a GGUF file (bad magic)")
        }
        version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw RuntimeError.malformed(file: file, reason: "GGUF version \(version) is not supported (2 and 3 are)")
        }
        let tensorCount = try reader.read(UInt64.self, "tensor count")
        let kvCount = try reader.read(UInt64.self, "metadata count")
        // Each metadata entry takes at least 12 bytes and each tensor entry at least 24, which
        // bounds what a corrupted count can make us allocate.
        guard kvCount <= UInt64(reader.remaining / 12), tensorCount <= UInt64(reader.remaining / 24) else {
            throw RuntimeError.malformed(file: file, reason: "metadata count \(kvCount) or tensor count \(tensorCount) exceeds what the file can hold (truncated or not a model file?)")
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(kvCount))
        for index in 0..<Int(kvCount) {
            let key = try Self.readString(&reader, "metadata key #\(index)")
            let type = try reader.read(UInt32.self, "type of \(key)")
            let value = try Self.readValue(&reader, type: type, key: key, depth: 0)
            if metadata.updateValue(value, forKey: key) == nil { keys.append(key) }
        }
        self.metadata = metadata
        self.metadataKeys = keys

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
                throw RuntimeError.malformed(file: file, reason: "general.alignment must be a power of two, got \(value.summary())")
            }
            alignment = a
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(Int(tensorCount))
        for index in 0..<Int(tensorCount) {
            let name = try Self.readString(&reader, "name of tensor #\(index)")
            let dims = try reader.read(UInt32.self, "dimension count of \(name)")
            guard dims >= 1 && dims <= 4 else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(name): \(dims) dimensions (1 to 4 allowed)")
            }
            var shape: [Int] = []
            var elements = 1
            for d in 0..<Int(dims) {
                let n = try reader.read(UInt64.self, "dimension \(d) of \(name)")
                guard n <= UInt64(Int32.max) else {
                    throw RuntimeError.malformed(file: file, reason: "tensor \(name): dimension \(d) is \(n)")
                }
                shape.append(Int(n))
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(n))
                guard !overflow else { throw RuntimeError.malformed(file: file, reason: "tensor \(name): shape \(shape) overflows") }
                elements = product
            }
            let rawType = try reader.read(UInt32.self, "type of \(name)")
            let type = GGMLType(rawValue: rawType)
            guard type.isKnown else { throw RuntimeError.unknownTensorType(tensor: name, type: rawType) }
            guard shape[0] % type.blockSize == 0, let bytes = type.byteCount(elements: elements) else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(name): row length \(shape[0]) is not a multiple of the \(type) block size \(type.blockSize)")
            }
            let offset = try reader.read(UInt64.self, "offset of \(name)")
            guard offset <= UInt64(Int.max / 2) else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(name): offset \(offset) is out of range")
            }
            infos.append(GGUFTensorInfo(name: name, shape: shape, type: type, offset: Int(offset), byteCount: bytes))
        }

        let headerEnd = reader.offset
        dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        let dataSize = mapping.count - dataOffset
        for info in infos {
            guard info.offset % alignment == 0 else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(info.name): offset \(info.offset) is not aligned to \(alignment)")
            }
            guard dataSize >= 0, info.offset <= dataSize, info.byteCount <= dataSize - info.offset else {
                throw RuntimeError.malformed(file: file, reason: "tensor \(info.name): data [\(info.offset), +\(info.byteCount)) lies beyond the end of the file (truncated download?)")
            }
        }
        tensors = infos
        var index: [String: Int] = [:]
        for (i, info) in infos.enumerated() { index[info.name] = i }
        tensorIndex = index
    }

    /// The tensor's metadata, or nil when absent.
    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes inside the memory map.
    public func data(of info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + info.offset
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + info.byteCount)])
    }

    public var fileSize: Int { mapping.count }

    // MARK: typed metadata accessors

    public var architecture: String? { metadata["general.architecture"]?.string }

    public func string(_ key: String) -> String? { metadata[key]?.string }
    public func int(_ key: String) -> Int? { metadata[key]?.int }
    public func float(_ key: String) -> Float? { metadata[key]?.float }
    public func bool(_ key: String) -> Bool? { metadata[key]?.bool }

    public func requireInt(_ key: String) throws -> Int {
        guard let v = int(key) else { throw RuntimeError.missingMetadata(key) }
        return v
    }

    // MARK: parsing

    static func readString(_ reader: inout ByteReader, _ what: @autoclosure () -> String) throws -> String {
        let length = try reader.read(UInt64.self, what())
        guard length <= UInt64(reader.remaining) else { throw reader.truncated(what()) }
        let raw = try reader.readBytes(Int(length), what())
        return String(decoding: raw, as: UTF8.self)
    }

    static func readValue(_ reader: inout ByteReader, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try reader.read(UInt8.self, key))
        case 1: return .int8(try reader.read(Int8.self, key))
        case 2: return .uint16(try reader.read(UInt16.self, key))
        case 3: return .int16(try reader.read(Int16.self, key))
        case 4: return .uint32(try reader.read(UInt32.self, key))
        case 5: return .int32(try reader.read(Int32.self, key))
        case 6: return .float32(try reader.readFloat(key))
        case 7: return .bool(try reader.read(UInt8.self, key) != 0)
        case 8: return .string(try readString(&reader, key))
        case 9:
            guard depth < maxNesting else {
                throw RuntimeError.malformed(file: reader.file, reason: "\(key): arrays nested deeper than \(maxNesting)")
            }
            let elementType = try reader.read(UInt32.self, "element type of \(key)")
            let count = try reader.read(UInt64.self, "length of \(key)")
            let minimumSize = elementType == 8 ? 8 : elementType == 9 ? 12 : max(1, valueSize(elementType) ?? 1)
            guard count <= UInt64(reader.remaining / minimumSize) else {
                throw RuntimeError.malformed(file: reader.file, reason: "\(key): array of \(count) elements exceeds the file")
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                values.append(try readValue(&reader, type: elementType, key: key, depth: depth + 1))
            }
            return .array(elementType: elementType, values)
        case 10: return .uint64(try reader.read(UInt64.self, key))
        case 11: return .int64(try reader.read(Int64.self, key))
        case 12: return .float64(try reader.readDouble(key))
        default:
            throw RuntimeError.malformed(file: reader.file, reason: "\(key): unknown metadata value type \(type)")
        }
    }

    static func valueSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        default: return nil
        }
    }

    static func valueTypeName(_ type: UInt32) -> String {
        ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"][safe: Int(type)] ?? "?"
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
