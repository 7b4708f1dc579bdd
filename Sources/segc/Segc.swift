import ArgumentParser
import SegcCore
import SegcRuntime
#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Options every command accepts (product.md §3 conventions).
struct GlobalOptions: ParsableArguments {
    @Option(help: "Worker threads (default: CPUs available to the process).")
    var threads: Int?

    @Flag(help: "No progress bars and no warnings (errors are still printed).")
    var quiet = false

    @Flag(help: "One JSON object on stdout instead of human output.")
    var json = false

    func validate() throws {
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256") }
    }
}

struct Segc: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "segc",
        abstract: "Convert, compile and run real-time road-scene segmentation networks.",
        discussion: """
        Examples:
          segc convert erfnet_cityscapes.pth                 # -> ./erfnet_cityscapes.segc (fp32, 512x1024)
          segc inspect erfnet_cityscapes.pth --json
          segc run erfnet_cityscapes.segc frame.npy -o logits.npy
          segc bench erfnet_cityscapes.segc --threads 2
        """,
        version: "segc \(version) (plan format 1.0; kernels: \(SegcModel.cpuLevel))",
        subcommands: [InspectCommand.self, ConvertCommand.self, RunCommand.self, BenchCommand.self, EvalCommand.self,
                      MetricsCommand.self, CalibrateTemperatureCommand.self, StreamCommand.self, ReproduceCommand.self,
                      PruneCommand.self, QuantizeCommand.self, CompareCommand.self])
}

/// Entry point: maps errors to product.md §4.6 exit codes — 1 for every
/// `SegcError`, 2 for usage errors, 130/143 when interrupted.
@main
enum Main {
    static func main() {
        installSignalHandlers()
        let command: ParsableCommand
        do {
            command = try Segc.parseAsRoot()
        } catch {
            let code = Segc.exitCode(for: error)
            if code == .success {
                // --help / --version. ArgumentParser's own exit() ends with _exit, which drops
                // buffered stdout when it is a pipe; print here and exit normally instead.
                print(Segc.fullMessage(for: error))
                exit(0)
            }
            // ArgumentParser's own usage errors: message + usage, exit 2 (not EX_USAGE).
            var message = Segc.fullMessage(for: error)
            if message.hasPrefix("Error: ") { message = "error: " + message.dropFirst(7) }
            FileHandleOut.stderr(message)
            exit(2)
        }
        do {
            var c = command
            try c.run()
        } catch let e as SegcError {
            FileHandleOut.stderr("error: \(e.description)")
            exit(e.kind == .usage ? 2 : 1)
        } catch let e as ValidationError {
            FileHandleOut.stderr("error: \(e.message)")
            exit(2)
        } catch {
            let code = Segc.exitCode(for: error)
            if code == .success {
                // `segc help <command>` and --help reach here as a CleanExit to print.
                let message = Segc.fullMessage(for: error)
                if !message.isEmpty { print(message) }
                exit(0)
            }
            FileHandleOut.stderr("error: \(Segc.fullMessage(for: error))")
            exit(1)
        }
        exit(0)
    }

    nonisolated(unsafe) static var signalSources: [DispatchSourceSignal] = []

    /// SIGINT/SIGTERM remove temporary output files, then exit 130/143.
    static func installSignalHandlers() {
        for (sig, code) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                TemporaryFiles.removeAll()
                // End a live progress/fps line so the shell prompt starts on its own line.
                if isatty(2) != 0 { _ = write(2, "\n", 1) }
                _exit(code)
            }
            src.resume()
            signalSources.append(src)
        }
    }
}

enum FileHandleOut {
    static func stderr(_ s: String) {
        var line = s
        if !line.hasSuffix("\n") { line += "\n" }
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    static func stdout(_ s: String) {
        print(s)
    }
}
