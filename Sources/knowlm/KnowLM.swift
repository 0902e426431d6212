import ArgumentParser
import Foundation

@main
struct KnowLM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knowlm",
        abstract: "On-device knowledge-augmented language models.",
        discussion: """
        Runs GGUF and Hugging Face llama-family models on this CPU. Models live in \
        $KNOWLM_HOME/models (default ~/.cache/knowlm/models); `knowlm model pull` fetches the defaults.
        """,
        version: "0.1.0",
        subcommands: [Ask.self, Generate.self, Extract.self, AgentCommand.self, Detect.self, Serve.self, MCPCommand.self, Eval.self, Tokenize.self, Embed.self, ModelCommand.self, Bench.self, KB.self])
}

/// Writes to standard error (progress, timings, warnings).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes text to standard output immediately (streamed tokens).
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

func jsonLine(_ object: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}
