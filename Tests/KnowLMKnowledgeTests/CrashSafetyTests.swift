import Foundation
import Testing
@testable import KnowLMKnowledge
#if canImport(Glibc)
import Glibc
#endif

/// `kb import-triples` and `kb ingest` killed with SIGKILL midway leave the knowledge base
/// consistent, with nothing of the interrupted file visible, and a re-run completes it.
struct CrashSafetyTests {
    /// The `knowlm` binary built next to the test executable (scripts/test.sh builds it first).
    static var knowlm: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("knowlm")
    }

    static func run(_ arguments: [String], killAfter seconds: Double?) throws -> Int32 {
        let process = Process()
        process.executableURL = knowlm
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        if let seconds {
            Thread.sleep(forTimeInterval: seconds)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test func killedImportAndIngestLeaveNothingHalfDone() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.knowlm.path), "build the knowlm product first (scripts/test.sh does)")
        let scratch = try ScratchKnowledgeBase()
        let kbPath = scratch.directory.appendingPathComponent("kb.sqlite").path
        // Some data first, which must survive the crashes untouched.
        _ = try scratch.kb.importTriples(from: try scratch.write("seed.nt", "<http://x.org/a> <http://x.org/b> <http://x.org/c> .\n"))

        var lines = ""
        let count = 400_000
        lines.reserveCapacity(count * 70)
        for i in 0..<count { lines += "<http://x.org/e\(i)> <http://x.org/p\(i % 7)> \"value \(i)\" .\n" }
        let triples = try scratch.write("big.nt", lines)
        let killedImport = try Self.run(["kb", "import-triples", "--kb", kbPath, triples.path], killAfter: 1.5)
        #expect(killedImport != 0, "the import should still have been running when killed")
        var check = try KnowledgeBase(url: URL(fileURLWithPath: kbPath))
        #expect(try check.integrityCheck() == "ok")
        #expect(try check.statistics().triples == 1)
        #expect(try Self.run(["kb", "import-triples", "--kb", kbPath, triples.path], killAfter: nil) == 0)
        check = try KnowledgeBase(url: URL(fileURLWithPath: kbPath))
        #expect(try check.statistics().triples == count + 1)

        var documents = ""
        for i in 0..<60_000 {
            documents += "{\"id\": \"d\(i)\", \"text\": \"Document \(i) is about topic \(i % 97). It has two sentences.\"}\n"
        }
        let corpus = try scratch.write("docs.jsonl", documents)
        let killedIngest = try Self.run(["kb", "ingest", "--kb", kbPath, "--no-embed", corpus.path], killAfter: 1.5)
        #expect(killedIngest != 0)
        check = try KnowledgeBase(url: URL(fileURLWithPath: kbPath))
        #expect(try check.integrityCheck() == "ok")
        #expect(try check.statistics().documents == 0)
        #expect(try Self.run(["kb", "ingest", "--kb", kbPath, "--no-embed", corpus.path], killAfter: nil) == 0)
        check = try KnowledgeBase(url: URL(fileURLWithPath: kbPath))
        #expect(try check.statistics().documents == 60_000)
        #expect(try check.statistics().triples == count + 1)
    }
}
