/// Runs a compiled grammar as a byte-level pushdown automaton.
///
/// A *stack* is a linked list of grammar positions (interned, so equal stacks share one id):
/// its top is the next terminal to match, the nodes below say where to continue when the
/// current alternative ends. A *state* is the set of stacks the bytes so far allow (interned
/// too). Transitions `state × byte → state` are computed once and memoised, so in steady
/// state the matcher is a lazily built DFA. Not thread-safe: one matcher per owner.
final class GrammarMatcher {
    let grammar: CompiledGrammar
    private let symbols: [Int32]
    private let sets: [ByteSet]

    // Stack nodes. Node 0 is the empty stack (the input may end here); node 1 stands for "the
    // rest of the stack, not known here" (see `truncated`).
    static let emptyStack: Int32 = 0
    static let sentinel: Int32 = 1
    private var nodePosition: [Int32] = [-1, -2]
    private var nodeParent: [Int32] = [-1, -1]
    private var nodeIndex: [Int64: Int32] = [:]

    // States: sorted, unique stack ids. State 0 is dead (no stack).
    static let dead: Int32 = 0
    private(set) var stateStacks: [[Int32]] = [[]]
    private var stateIndex: [[Int32]: Int32] = [[]: 0]
    /// `table[state << 8 | byte]`: the next state, or -1 while not computed. Raw memory so the
    /// mask walk reads it without bounds or exclusivity checks; reallocated as states are
    /// added (callers re-read `table` after `computeNext`).
    private(set) var table: UnsafeMutablePointer<Int32>
    /// Per state: bit 0 accepting, bit 1 holds the sentinel stack.
    private(set) var flags: UnsafeMutablePointer<UInt8>
    private var capacity = 64
    static let acceptingFlag: UInt8 = 1
    static let sentinelFlag: UInt8 = 2
    private var truncatedCache: [Int32: Int32] = [:]

    /// The state before any byte.
    private(set) var initial: Int32 = 0

    init(grammar: CompiledGrammar) {
        table = .allocate(capacity: 64 << 8)
        table.update(repeating: -1, count: 64 << 8)
        flags = .allocate(capacity: 64)
        flags[0] = 0
        self.grammar = grammar
        symbols = grammar.symbols
        sets = grammar.byteSets
        var start: [Int32] = []
        for a in grammar.ruleStarts[0] { expand(a, parent: Self.emptyStack, into: &start) }
        initial = intern(start)
    }

    deinit {
        table.deallocate()
        flags.deallocate()
    }

    var stateCount: Int { stateStacks.count }

    private func node(_ position: Int32, _ parent: Int32) -> Int32 {
        let key = Int64(position) << 32 | Int64(UInt32(bitPattern: parent))
        if let id = nodeIndex[key] { return id }
        let id = Int32(nodePosition.count)
        nodePosition.append(position)
        nodeParent.append(parent)
        nodeIndex[key] = id
        return id
    }

    /// Pushes every stack that starts matching at `position` (continuing with `parent`) so its
    /// top is a terminal, or is the empty/sentinel stack when nothing is left to match.
    private func expand(_ position: Int32, parent: Int32, into out: inout [Int32]) {
        let symbol = symbols[Int(position)]
        if symbol == CompiledGrammar.end {
            if parent == Self.emptyStack || parent == Self.sentinel { out.append(parent); return }
            expand(nodePosition[Int(parent)], parent: nodeParent[Int(parent)], into: &out)
            return
        }
        if symbol >= 0 { out.append(node(position, parent)); return }
        let rule = Int(-symbol - 1)
        // A rule called last in its alternative continues straight with `parent` (tail call),
        // so repetitions written as right recursion keep a constant stack depth.
        let next = symbols[Int(position) + 1] == CompiledGrammar.end ? parent : node(position + 1, parent)
        for start in grammar.ruleStarts[rule] { expand(start, parent: next, into: &out) }
    }

    private func intern(_ stacks: [Int32]) -> Int32 {
        var sorted = stacks
        sorted.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(sorted.count)
        for s in sorted where unique.last != s { unique.append(s) }
        if let id = stateIndex[unique] { return id }
        let id = Int32(stateStacks.count)
        stateStacks.append(unique)
        stateIndex[unique] = id
        if Int(id) >= capacity {
            let bigger = capacity * 2
            let newTable = UnsafeMutablePointer<Int32>.allocate(capacity: bigger << 8)
            newTable.update(from: table, count: capacity << 8)
            (newTable + (capacity << 8)).update(repeating: -1, count: (bigger - capacity) << 8)
            table.deallocate()
            table = newTable
            let newFlags = UnsafeMutablePointer<UInt8>.allocate(capacity: bigger)
            newFlags.update(from: flags, count: capacity)
            flags.deallocate()
            flags = newFlags
            capacity = bigger
        }
        flags[Int(id)] = (unique.first == Self.emptyStack ? Self.acceptingFlag : 0)
            | (unique.contains(Self.sentinel) ? Self.sentinelFlag : 0)
        return id
    }

    /// The state after reading `byte` in `state` (dead when the byte is not allowed).
    @inline(__always) func next(_ state: Int32, _ byte: UInt8) -> Int32 {
        let cached = table[Int(state) << 8 | Int(byte)]
        if cached >= 0 { return cached }
        return computeNext(state, byte)
    }

    func computeNext(_ state: Int32, _ byte: UInt8) -> Int32 {
        var out: [Int32] = []
        for stack in stateStacks[Int(state)] where stack > Self.sentinel {
            let position = nodePosition[Int(stack)]
            if sets[Int(symbols[Int(position)])].contains(byte) {
                expand(position + 1, parent: nodeParent[Int(stack)], into: &out)
            }
        }
        let result = out.isEmpty ? Self.dead : intern(out)
        table[Int(state) << 8 | Int(byte)] = result
        return result
    }

    /// The state after `bytes`, or dead.
    func advance(_ state: Int32, _ bytes: [UInt8]) -> Int32 {
        var s = state
        for b in bytes {
            s = next(s, b)
            if s == Self.dead { return s }
        }
        return s
    }

    /// True when the input may end in `state`.
    func isAccepting(_ state: Int32) -> Bool { flags[Int(state)] & Self.acceptingFlag != 0 }

    /// True when `state` accepts and no byte can follow.
    func isComplete(_ state: Int32) -> Bool { stateStacks[Int(state)] == [Self.emptyStack] }

    /// The state with every stack cut to its top `depth` nodes, the rest replaced by the
    /// sentinel. Masks computed for it hold for every state with the same tops, except tokens
    /// that reach below the cut; the constraint checks those against the full state.
    func truncated(_ state: Int32, depth: Int) -> Int32 {
        if let t = truncatedCache[state] { return t }
        var out: [Int32] = []
        for stack in stateStacks[Int(state)] { out.append(cut(stack, depth)) }
        let t = out.isEmpty ? Self.dead : intern(out)
        truncatedCache[state] = t
        return t
    }

    private func cut(_ stack: Int32, _ depth: Int) -> Int32 {
        if stack <= Self.sentinel { return stack }
        if depth == 0 { return Self.sentinel }
        return node(nodePosition[Int(stack)], cut(nodeParent[Int(stack)], depth - 1))
    }
}
