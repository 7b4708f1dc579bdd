import ArgumentParser
import SegcCore

/// `HxW` (height first, as in PyTorch shapes).
struct InputSize: ExpressibleByArgument, Equatable {
    var height: Int
    var width: Int

    init(height: Int, width: Int) { self.height = height; self.width = width }

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x")
        guard parts.count == 2, let h = Int(parts[0]), let w = Int(parts[1]), h > 0, w > 0, h <= 16384, w <= 16384 else { return nil }
        height = h; width = w
    }

    static let paperDefault = InputSize(height: 512, width: 1024)
    var description: String { "\(height)x\(width)" }
}
