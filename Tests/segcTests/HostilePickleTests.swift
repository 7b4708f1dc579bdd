import Foundation
import XCTest

/// Issue 2: checkpoints whose pickle calls `os.system`, `builtins.eval`,
/// `subprocess.Popen` or an unknown class (made by Fixtures/make_hostile.py; in both
/// containers) are refused at the GLOBAL opcode, naming the global, and nothing runs.
final class HostilePickleTests: XCTestCase {
    func testDangerousGlobalsAreRefusedByName() throws {
        let dir = CLI.packageRoot.appendingPathComponent("Tests/Fixtures/hostile")
        let expected = ["os_system": "posix.system", "builtins_eval": "builtins.eval",
                        "subprocess_popen": "subprocess.Popen", "unknown_class": "__main__.Model"]
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for (name, global) in expected {
            for container in ["legacy", "zip"] {
                let marker = "/tmp/segc-pwned-\(name)"
                try? FileManager.default.removeItem(atPath: marker)
                let file = dir.appendingPathComponent("\(name)_\(container).pth").path
                let out = tmp.appendingPathComponent("out.segc").path
                for args in [["convert", file, "-o", out], ["inspect", file]] {
                    let r = try CLI.run(args)
                    assertCleanError(r, "\(name) \(container) \(args[0])")
                    XCTAssertTrue(r.stderr.contains("global '\(global)' is not allowed"), r.stderr)
                }
                XCTAssertFalse(FileManager.default.fileExists(atPath: out))
                XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the payload ran")
            }
        }
    }
}
