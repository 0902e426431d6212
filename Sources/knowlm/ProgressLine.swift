import Foundation

/// One updating line on standard error for long work: a bar, the count, the rate and the time
/// left. On a terminal it redraws in place (at most five times a second); otherwise it prints a
/// line at every tenth of the work, so logs stay short.
final class ProgressLine {
    private let label: String
    private let total: Int
    private let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var lastTenth = -1
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var drawn = false

    init(_ label: String, total: Int, unit: String) {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
    }

    func update(_ done: Int) {
        lastDone = max(lastDone, done)
        started = true
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        let fraction = min(1, Double(done) / Double(total))
        if isTerminal {
            guard Date().timeIntervalSince(lastDraw) > 0.2 || done >= total else { return }
            lastDraw = Date()
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = "\(label) [\(bar)] \(done)/\(total) \(String(format: "%.2f", rate)) \(unit)/s, \(done >= total ? "took \(Self.clock(elapsed))" : "ETA \(Self.clock(left))")"
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
            drawn = true
        } else {
            let tenth = Int(fraction * 10)
            guard tenth > lastTenth else { return }
            lastTenth = tenth
            FileHandle.standardError.write(Data("\(label): \(done)/\(total) (\(String(format: "%.2f", rate)) \(unit)/s, ETA \(Self.clock(left)))\n".utf8))
        }
    }

    private var lastDone = 0
    private var started = false

    /// Ends the line (on a terminal) so later output starts on a fresh one. `completed`: the
    /// work is all done, so the bar is drawn full even when the last update came before the end.
    func finish(completed: Bool = true) {
        if completed && started && lastDone < total { update(total) }
        if isTerminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}
