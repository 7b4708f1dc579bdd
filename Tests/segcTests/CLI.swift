import Foundation
import XCTest

/// Runs the built `segc` executable and captures its outputs.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// True when the process ended by a signal (a crash) rather than exit().
        var signalled: Bool
    }

    static var binary: URL {
        // The test bundle sits next to the products: .build/<config>/segc
        Bundle.main.bundleURL.appendingPathComponent("segc")
    }

    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var shared: URL? {
        if let env = ProcessInfo.processInfo.environment["SEGC_SHARED"], !env.isEmpty { return URL(fileURLWithPath: env) }
        let u = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: u.appendingPathComponent("models").path) ? u : nil
    }

    static func sharedPath(_ rel: String) throws -> String {
        guard let s = shared else { throw XCTSkip("../shared not found (set SEGC_SHARED)") }
        return s.appendingPathComponent(rel).path
    }

    @discardableResult
    static func run(_ args: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws -> Result {
        try launch(binary, args, cwd: cwd, environment: environment)
    }

    /// Runs any executable (not segc), e.g. a fixture script or `/bin/sh -c` for a pipe.
    static func runTool(_ path: String, _ args: [String]) throws -> Result {
        try launch(URL(fileURLWithPath: path), args, cwd: nil, environment: [:])
    }

    private static func launch(_ executable: URL, _ args: [String], cwd: URL?, environment: [String: String]) throws -> Result {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let cwd { p.currentDirectoryURL = cwd }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read before waiting so a full pipe cannot block the child.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self), signalled: p.terminationReason == .uncaughtSignal)
    }

    static func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("segc-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    static func json(_ s: String) throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
            throw NSError(domain: "segc", code: 1, userInfo: [NSLocalizedDescriptionKey: "not a JSON object: \(s)"])
        }
        return o
    }
}

extension XCTestCase {
    /// Asserts the product.md §4.6 error contract: exit 1, no signal, one `error: ` line, empty stdout for --json.
    func assertCleanError(_ r: CLI.Result, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.signalled, "\(what): ended by a signal", file: file, line: line)
        XCTAssertEqual(r.status, 1, "\(what): exit \(r.status), stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), "\(what): stderr was \(r.stderr.prefix(300))", file: file, line: line)
    }
}
