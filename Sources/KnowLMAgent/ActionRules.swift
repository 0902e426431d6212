import Foundation

/// Action knowledge (KnowAgent): a declarative table of which actions may follow which. The
/// planner builds each step's grammar from the actions the table allows, so the model cannot
/// take a forbidden action — the rules are enforced, not only described in the prompt.
public struct ActionRules: Sendable {
    /// Which actions a rule governs.
    public enum Action: Sendable, Equatable {
        case finalAnswer
        case anyTool
        case kind(ToolKind)
        case tool(String)

        func matches(_ tool: any Tool) -> Bool {
            switch self {
            case .finalAnswer: return false
            case .anyTool: return true
            case .kind(let k): return tool.kind == k
            case .tool(let name): return tool.name == name
            }
        }
    }

    /// What must hold for the action to be allowed.
    public enum Condition: Sendable, Equatable {
        /// A tool returned something (not an error) earlier in the run — or no tool that
        /// gathers evidence is available (only caller-answered functions, or all have failed).
        case evidenceGathered
        /// The user allowed network access (`--allow-network`).
        case networkAllowed
        /// Not the last step: the last step must give the final answer.
        case notLastStep
        /// The tool has failed (error or timeout) fewer than this many times in the run.
        case failedFewerThan(Int)
        /// The tool was called with arguments it was already called with fewer than this many times.
        case repeatedFewerThan(Int)
    }

    public struct Rule: Sendable, Equatable {
        public var action: Action
        public var requires: Condition
        /// Why, for `--help` and the log.
        public var reason: String
        public init(_ action: Action, requires: Condition, _ reason: String) {
            self.action = action; self.requires = requires; self.reason = reason
        }
    }

    public var rules: [Rule]
    public init(rules: [Rule] = ActionRules.standard) { self.rules = rules }

    public static let standard: [Rule] = [
        Rule(.finalAnswer, requires: .evidenceGathered, "a final answer comes only after a tool gave evidence"),
        Rule(.kind(.network), requires: .networkAllowed, "the network is used only with --allow-network"),
        Rule(.anyTool, requires: .notLastStep, "the last step gives the final answer"),
        Rule(.anyTool, requires: .failedFewerThan(2), "a tool that failed twice is not offered again"),
        Rule(.anyTool, requires: .repeatedFewerThan(1), "a tool called again with arguments it already had is not offered again"),
    ]

    /// What the planner knows when choosing the next step's actions.
    public struct State: Sendable {
        public var step: Int
        public var maxSteps: Int
        public var allowNetwork: Bool
        public var successes: Int
        public var failures: [String: Int]
        public var repeats: [String: Int]
        public init(step: Int, maxSteps: Int, allowNetwork: Bool, successes: Int = 0,
                    failures: [String: Int] = [:], repeats: [String: Int] = [:]) {
            self.step = step; self.maxSteps = maxSteps; self.allowNetwork = allowNetwork
            self.successes = successes; self.failures = failures; self.repeats = repeats
        }
    }

    /// The tools callable now and whether a final answer is allowed. A final answer is always
    /// allowed when no tool is (the run must be able to end).
    public func allowed(_ tools: [any Tool], state: State) -> (tools: [any Tool], finalAnswer: Bool) {
        func holds(_ condition: Condition, tool: (any Tool)?) -> Bool {
            switch condition {
            case .evidenceGathered:
                if state.successes > 0 { return true }
                let gatherers = tools.filter {
                    $0.kind != .client && ($0.kind != .network || state.allowNetwork) && (state.failures[$0.name] ?? 0) < 2
                }
                return gatherers.isEmpty
            case .networkAllowed: return state.allowNetwork
            case .notLastStep: return state.step < state.maxSteps
            case .failedFewerThan(let n): return (state.failures[tool?.name ?? ""] ?? 0) < n
            case .repeatedFewerThan(let n): return (state.repeats[tool?.name ?? ""] ?? 0) < n
            }
        }
        let callable = tools.filter { tool in
            rules.allSatisfy { rule in !rule.action.matches(tool) || holds(rule.requires, tool: tool) }
        }
        let final = callable.isEmpty || rules.allSatisfy { $0.action != .finalAnswer || holds($0.requires, tool: nil) }
        return (callable, final)
    }
}
