import Foundation
import KnowLMCore

/// Many generations from one model at once: continuous batching.
///
/// Each running generation owns a slot (KV caches of its own). One scheduler thread runs
/// forward passes over all of them together: a decoding sequence adds its next token, a
/// sequence still reading its prompt adds a chunk of it, and the matrix products (above all
/// the output head, the largest read of a decode step) run once for the whole batch while
/// RoPE, cache writes and attention run per sequence. New requests join between passes;
/// finished and cancelled ones leave, and their slot serves the next. A new request takes the
/// free slot whose cache shares the longest prefix with its prompt, or copies the prefix from
/// a busy slot that shares more (a common system prompt is read once).
///
/// Precision: a pass of one row (one sequence decoding alone) uses the same kernels as
/// `LocalModel`, llama.cpp's order, bit for bit. A pass of several rows (several sequences, or a
/// prompt chunk) multiplies by packed weights (`PackedMatrix`, on CPUs with AVX-512 VNNI): the
/// same quantized integers, each 32-element block summed exactly, then one float step per
/// block, which is a different float order from llama.cpp's; that made 8 streams 1.7× faster
/// than the llama.cpp-order kernels (`knowlm bench batch`), and `KNOWLM_BATCHED_KERNELS=exact`
/// turns it off. So a sequence's logits differ in the last bits depending on what else runs
/// (llama.cpp's own batched results also depend on the batch: its attention kernel choice and
/// its K-quant GEMM order change with the rows of a pass). Through a small model's layers that
/// moves log-probabilities by up to a few tenths of a nat, so greedy text can split where the
/// run alone had a near-tie (BatchedModelTests checks that every split is at a near-tie).
/// Beam search is not batched: it runs on the base model.
public final class BatchedModel: LanguageModel, @unchecked Sendable {
    // @unchecked: `slots`, `running`, `scratch` and the logits buffer are touched only by the
    // scheduler thread; `waiting` and `stopped` only under `condition`.
    public let base: LocalModel
    public var name: String { base.name }
    public var contextLength: Int { base.contextLength }
    public var tokenizer: any Tokenizer { base.tokenizer }
    /// Generations that run together.
    public let parallel: Int
    /// Most prompt tokens one sequence adds to a pass while others are decoding (longer
    /// prompts are read over several passes so running streams keep going).
    public let prefillChunk: Int
    /// Rows of one forward pass.
    public let passRows: Int

    private let condition = NSCondition()
    private var waiting: [Request] = []
    private var stopped = false
    private var slots: [InferenceState]
    private var slotBusy: [Bool]
    private var running: [Running] = []
    private let scratch: InferenceState
    /// Weights packed for passes of several rows (`PackedMatrix`; nil when none can be: the
    /// CPU lacks AVX-512 VNNI, or only one sequence runs at a time).
    private let packed: PackedWeights?

    /// How passes of several rows multiply, for logs: packed int8 weights and their size, or
    /// llama.cpp's order.
    public var batchedKernels: String {
        guard let packed else { return "llama.cpp-order kernels" }
        return String(format: "packed int8 weights (%.0f MB, AVX-512 VNNI)", Double(packed.bytes) / 1e6)
    }

    /// Counters for monitoring (read under the condition's lock).
    public struct Statistics: Sendable, Equatable {
        public var passes = 0
        public var rows = 0
        public var reusedPromptTokens = 0
        public var promptTokens = 0
    }
    private var stats = Statistics()
    public var statistics: Statistics { condition.lock(); defer { condition.unlock() }; return stats }

    public init(base: LocalModel, parallel: Int, prefillChunk: Int = 64, passRows: Int? = nil) {
        self.base = base
        self.parallel = max(1, parallel)
        self.passRows = max(self.parallel, min(passRows ?? base.options.batchSize, base.contextLength))
        self.prefillChunk = max(1, min(prefillChunk, self.passRows))
        let config = base.transformer.config
        let options = base.options
        scratch = InferenceState(config: config, contextLength: base.contextLength, batchCapacity: self.passRows,
                                 threads: options.threads, precision: options.precision)
        // BLAS.packedBatchKernels: the CPU has the packed kernels and KNOWLM_BATCHED_KERNELS=exact
        // does not keep llama.cpp's order in batched passes too.
        if self.parallel > 1 && options.precision.emulatesLlamaCpp && BLAS.packedBatchKernels {
            let w = base.transformer.weights
            let packed = PackedWeights([w.output] + w.layers.flatMap { [$0.query, $0.key, $0.value, $0.output, $0.gate, $0.up, $0.down] },
                                       threads: options.threads)
            self.packed = packed.isEmpty ? nil : packed
        } else {
            packed = nil
        }
        let rows = self.passRows
        slots = (0..<self.parallel).map { _ in
            InferenceState(config: config, contextLength: base.contextLength, batchCapacity: rows,
                           threads: options.threads, precision: options.precision, scratchRows: 1)
        }
        slotBusy = [Bool](repeating: false, count: self.parallel)
        // The thread keeps the model alive until `shutdown()`.
        let thread = Thread { [self] in self.schedule() }
        thread.name = "knowlm.batch"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Stops the scheduler; generations still running end as cancelled.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    // MARK: LanguageModel

    public func generate(prompt: String, parameters: GenerateParameters,
                         processors given: [any LogitsProcessor]) -> AsyncThrowingStream<Generation, any Error> {
        if parameters.numBeams > 1 { return base.generate(prompt: prompt, parameters: parameters, processors: given) }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Generation.self)
        do {
            guard parameters.maxTokens >= 0 else { throw RuntimeError.invalidArgument("max tokens must not be negative") }
            let tokens = try tokenizer.encode(prompt, addBOS: parameters.addBOS && tokenizer.addsBOS,
                                              parseSpecial: parameters.parseSpecial)
            guard !tokens.isEmpty else { throw RuntimeError.invalidArgument("the prompt is empty (no tokens to condition on)") }
            guard tokens.count < contextLength else { throw RuntimeError.promptTooLong(tokens: tokens.count, context: contextLength) }
            var processors = given
            if let openings = parameters.startsWithOneOf, !openings.isEmpty {
                processors.insert(try PrefixChoiceProcessor(strings: openings, tokenizer: tokenizer), at: 0)
            }
            let request = Request(prompt: tokens, parameters: parameters, processors: processors, continuation: continuation)
            continuation.onTermination = { [weak self] _ in
                request.cancelled.set()
                guard let self else { return }
                self.condition.lock(); self.condition.broadcast(); self.condition.unlock()
            }
            condition.lock()
            waiting.append(request)
            condition.broadcast()
            condition.unlock()
        } catch {
            continuation.finish(throwing: error)
        }
        return stream
    }

    // MARK: scheduling

    final class Request: @unchecked Sendable {
        let prompt: [TokenID]
        let parameters: GenerateParameters
        let processors: [any LogitsProcessor]
        let continuation: AsyncThrowingStream<Generation, any Error>.Continuation
        let cancelled = CancellationFlag()
        let arrived = Date()
        init(prompt: [TokenID], parameters: GenerateParameters, processors: [any LogitsProcessor],
             continuation: AsyncThrowingStream<Generation, any Error>.Continuation) {
            self.prompt = prompt; self.parameters = parameters; self.processors = processors; self.continuation = continuation
        }
    }

    struct Running {
        let request: Request
        let slot: Int
        var decoding: DecodingSequence
        /// Prompt tokens already in the slot's cache.
        var read: Int
        /// Prompt tokens evaluated (not reused from the cache).
        var evaluated = 0
        var timings = GenerationTimings()
        var promptStart = Date()
        var generationStart: Date?
        var isDecoding: Bool { generationStart != nil }
    }

    private func schedule() {
        let vocabulary = base.transformer.config.vocabularySize
        var logits = [Float](repeating: 0, count: vocabulary * parallel)
        while true {
            condition.lock()
            while !stopped && running.isEmpty && waiting.isEmpty { condition.wait() }
            if stopped {
                let left = waiting
                waiting = []
                condition.unlock()
                for request in left { request.continuation.finish(throwing: CancellationError()) }
                for r in running { r.request.continuation.finish(throwing: CancellationError()) }
                running = []
                return
            }
            // Admit while there are free slots; drop requests whose clients already left.
            waiting.removeAll { request in
                if request.cancelled.isSet { request.continuation.finish(); return true }
                return false
            }
            let free = slotBusy.filter { !$0 }.count
            let admitted = Array(waiting.prefix(free))
            waiting.removeFirst(admitted.count)
            condition.unlock()
            for request in admitted { admit(request) }

            // Leave cancelled sequences.
            for index in running.indices.reversed() where running[index].request.cancelled.isSet {
                var r = running.remove(at: index)
                r.decoding.cancel()
                finish(&r)
            }
            guard !running.isEmpty else { continue }
            do {
                try pass(vocabulary: vocabulary, logits: &logits)
            } catch {
                // A failed pass leaves the caches of its sequences unknown: end them all.
                for r in running {
                    r.request.continuation.finish(throwing: error)
                    release(r.slot, keeping: 0)
                }
                running = []
            }
        }
    }

    /// Gives `request` a slot, reusing the longest cached prefix of its prompt.
    private func admit(_ request: Request) {
        let prompt = request.prompt
        func shared(_ state: InferenceState) -> Int { zip(state.tokens, prompt).prefix { $0 == $1 }.count }
        let free = slots.indices.filter { !slotBusy[$0] }
        guard let slot = free.max(by: { shared(slots[$0]) < shared(slots[$1]) }) else { return }
        slotBusy[slot] = true
        let state = slots[slot]
        if let donor = slots.indices.filter({ slotBusy[$0] && $0 != slot }).max(by: { shared(slots[$0]) < shared(slots[$1]) }),
           shared(slots[donor]) > shared(state) + prefillChunk {
            // Copying a cache costs far less than reading the shared prefix again.
            state.copy(from: slots[donor])
        }
        // The last prompt token always runs again, to give the logits of the first new token.
        let kept = state.truncate(to: min(shared(state), prompt.count - 1), slidingWindow: base.transformer.config.slidingWindow)
        var running = Running(request: request, slot: slot,
                              decoding: DecodingSequence(prompt: prompt, parameters: request.parameters,
                                                         processors: request.processors, tokenizer: tokenizer,
                                                         vocabulary: base.transformer.config.vocabularySize),
                              read: kept)
        running.timings.promptTokens = prompt.count - kept
        condition.lock()
        stats.reusedPromptTokens += kept
        stats.promptTokens += prompt.count
        condition.unlock()
        if running.decoding.finished {
            // max_tokens 0: nothing to run.
            finish(&running)
            return
        }
        self.running.append(running)
    }

    /// One forward pass over every running sequence, then one sampling step for each that
    /// has new logits.
    private func pass(vocabulary: Int, logits: inout [Float]) throws {
        var segments: [ForwardSegment] = []
        var logitRows: [Int] = []
        var owners: [Int] = []  // running index of each logits row
        var rows = 0
        let anyDecoding = running.contains { $0.isDecoding }
        for (i, r) in running.enumerated() where r.isDecoding {
            guard rows < passRows, let token = r.decoding.generated.last else { continue }
            segments.append(ForwardSegment(tokens: [token][...], sequence: slots[r.slot]))
            logitRows.append(rows)
            owners.append(i)
            rows += 1
        }
        for (i, r) in running.enumerated() where !r.isDecoding {
            let budget = passRows - rows
            guard budget > 0 else { break }
            let chunk = min(anyDecoding ? prefillChunk : passRows, budget, r.request.prompt.count - r.read)
            let end = r.read + chunk
            segments.append(ForwardSegment(tokens: r.request.prompt[r.read..<end], sequence: slots[r.slot]))
            rows += chunk
            if end == r.request.prompt.count {
                logitRows.append(rows - 1)
                owners.append(i)
            }
        }
        guard !segments.isEmpty else { return }
        try logits.withUnsafeMutableBufferPointer { buffer in
            try base.transformer.forward(segments, scratch: scratch, logitRows: logitRows, logits: buffer.baseAddress!,
                                         packed: packed)
        }
        condition.lock()
        stats.passes += 1
        stats.rows += rows
        condition.unlock()
        for segment in segments { segment.sequence.tokens += segment.tokens }
        for (i, r) in running.enumerated() where !r.isDecoding {
            if let segment = segments.first(where: { $0.sequence === slots[r.slot] }) { running[i].read += segment.tokens.count }
        }

        var done: [Int] = []
        for (row, i) in owners.enumerated() {
            let state = slots[running[i].slot]
            if running[i].generationStart == nil {
                running[i].timings.promptSeconds = Date().timeIntervalSince(running[i].promptStart)
                running[i].generationStart = Date()
            }
            let piece: DecodingSequence.Piece?
            do {
                piece = try logits.withUnsafeMutableBufferPointer { buffer in
                    try running[i].decoding.step(buffer.baseAddress! + row * vocabulary,
                                                 contextFull: { state.length >= state.contextLength })
                }
            } catch {
                running[i].request.continuation.finish(throwing: error)
                release(running[i].slot, keeping: state.length)
                done.append(i)
                continue
            }
            if let piece { running[i].request.continuation.yield(.token(piece.token, text: piece.text, logprob: piece.logprob)) }
            if running[i].decoding.finished {
                finish(&running[i])
                done.append(i)
            }
        }
        for i in done.sorted(by: >) { running.remove(at: i) }
    }

    /// Hands the result to the caller and frees the slot (its cache stays, for prefix reuse).
    private func finish(_ r: inout Running) {
        var timings = r.timings
        if let start = r.generationStart { timings.generationSeconds = Date().timeIntervalSince(start) }
        let result = r.decoding.result(timings: timings)
        r.request.continuation.yield(.done(result))
        r.request.continuation.finish()
        release(r.slot, keeping: slots[r.slot].length)
    }

    private func release(_ slot: Int, keeping length: Int) {
        if length < slots[slot].length { slots[slot].truncate(to: length, slidingWindow: base.transformer.config.slidingWindow) }
        slotBusy[slot] = false
    }
}
