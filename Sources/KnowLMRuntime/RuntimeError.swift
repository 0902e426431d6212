import Foundation

/// Everything that can go wrong loading or running a model. Messages say what was wrong and,
/// where there is one, what to do about it.
public enum RuntimeError: LocalizedError, Equatable {
    case cannotOpen(path: String, reason: String)
    case malformed(file: String, reason: String)
    case unknownTensorType(tensor: String, type: UInt32)
    case unsupportedTensorType(tensor: String, type: String)
    case missingTensor(String)
    case tensorShape(tensor: String, expected: [Int], actual: [Int])
    case missingMetadata(String)
    case unknownArchitecture(String)
    case tokenizer(String)
    case promptTooLong(tokens: Int, context: Int)
    case invalidArgument(String)
    /// The constraints allowed no token of the vocabulary at this step.
    case constraintUnsatisfiable(step: Int)
    /// A grammar or JSON Schema that cannot be used (the message says where and why).
    case grammar(String)

    /// One line, whatever bytes a damaged file put into names and keys.
    public var errorDescription: String? { message.map(Self.singleLine) }

    static func singleLine(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                out += scalar == "\n" ? "\\n" : String(format: "\\u{%X}", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private var message: String? {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open \(path): \(reason)"
        case .malformed(let file, let reason):
            return "\(file): \(reason)"
        case .unknownTensorType(let tensor, let type):
            return "tensor \(tensor): type \(type) is not a known GGUF type (file truncated or newer than this build?)"
        case .unsupportedTensorType(let tensor, let type):
            return "tensor \(tensor): type \(type) is not supported by this build (supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K)"
        case .missingTensor(let name):
            return "tensor \(name) is missing from the model file"
        case .tensorShape(let tensor, let expected, let actual):
            return "tensor \(tensor) has shape \(actual), expected \(expected)"
        case .missingMetadata(let key):
            return "metadata key \(key) is missing from the model file"
        case .unknownArchitecture(let arch):
            return "architecture '\(arch)' is not supported (supported: \(ArchitectureRegistry.supportedNames.joined(separator: ", ")))"
        case .tokenizer(let message):
            return "tokenizer: \(message)"
        case .promptTooLong(let tokens, let context):
            return "prompt is \(tokens) tokens but the context holds \(context); shorten it or raise -c"
        case .invalidArgument(let message):
            return message
        case .constraintUnsatisfiable(let step):
            return "the output constraints allow no token of the vocabulary at generated token \(step) (the grammar needs text this model's vocabulary cannot spell, or two constraints contradict each other)"
        case .grammar(let message):
            return message
        }
    }
}
