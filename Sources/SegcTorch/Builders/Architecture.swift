import SegcCore
import SegcIR

/// The four architectures segc builds from state dicts (product.md §2.6).
package enum Architecture: String, CaseIterable, Sendable {
    case erfnet, enet, midenet, bisenetv1

    /// Parses `--arch` (`bisenet` is accepted as an alias).
    package init?(argument: String) {
        switch argument.lowercased() {
        case "erfnet": self = .erfnet
        case "enet": self = .enet
        case "midenet", "mide-net", "mide_net": self = .midenet
        case "bisenetv1", "bisenet": self = .bisenetv1
        default: return nil
        }
    }

    func matches(_ sd: StateDict) -> Bool {
        switch self {
        case .erfnet: return ERFNetBuilder.matches(sd)
        case .enet: return ENetBuilder.matches(sd)
        case .midenet: return MiDENetBuilder.matches(sd)
        case .bisenetv1: return BiSeNetV1Builder.matches(sd)
        }
    }

    /// Output classes, read from the head's weight shape.
    package func classes(_ sd: StateDict) -> Int? {
        switch self {
        case .erfnet: return ERFNetBuilder.classes(sd)
        case .enet: return ENetBuilder.classes(sd)
        case .midenet: return MiDENetBuilder.classes(sd)
        case .bisenetv1: return BiSeNetV1Builder.classes(sd)
        }
    }

    /// The output head's weight, which gives the class count.
    package var headKey: String {
        switch self {
        case .erfnet: return "decoder.output_conv.weight"
        case .enet: return "fullconv.weight"
        case .midenet: return "classifier.weight"
        case .bisenetv1: return "conv_out.conv_out.weight"
        }
    }

    /// Tensors a trained checkpoint carries that inference never reads.
    package var unusedPrefixes: [String] {
        switch self {
        case .erfnet: return ERFNetBuilder.unusedPrefixes
        case .enet: return ENetBuilder.unusedPrefixes
        case .midenet: return MiDENetBuilder.unusedPrefixes
        case .bisenetv1: return BiSeNetV1Builder.unusedPrefixes
        }
    }

    fileprivate func run(_ sd: StateDict, height: Int, width: Int) throws(SegcError) -> Graph {
        switch self {
        case .erfnet: return try ERFNetBuilder.build(sd, height: height, width: width)
        case .enet: return try ENetBuilder.build(sd, height: height, width: width)
        case .midenet: return try MiDENetBuilder.build(sd, height: height, width: width)
        case .bisenetv1: return try BiSeNetV1Builder.build(sd, height: height, width: width)
        }
    }
}

/// Result of building a graph from a state dict.
package struct BuiltNetwork: Sendable {
    package var architecture: Architecture
    package var classes: Int
    package var graph: Graph
    /// Keys present in the checkpoint that inference does not use (listed by `inspect`).
    package var unusedKeys: [String]
}

/// Detection and building (product.md §2.6).
package enum NetworkBuilder {
    /// Detects the architecture (or uses `arch`), checks `expectedClasses`, builds the graph
    /// at `height`x`width`. Unknown layouts are refused naming the closest builder.
    package static func build(file: String, entries: [(String, Tensor)], arch: Architecture?, height: Int, width: Int,
                              expectedClasses: Int? = nil) throws(SegcError) -> BuiltNetwork {
        let probeSD = StateDict(file: file, entries: entries)
        let chosen: Architecture
        if let arch {
            chosen = arch
        } else {
            let matching = Architecture.allCases.filter { $0.matches(probeSD) }
            if matching.count == 1 {
                chosen = matching[0]
            } else if matching.isEmpty {
                throw unknownLayout(file: file, entries: entries, height: height, width: width)
            } else {
                throw SegcError(.mismatch, "ambiguous layout: matches \(matching.map(\.rawValue).joined(separator: ", ")); use --arch",
                                file: file)
            }
        }
        let sd = StateDict(file: file, entries: entries)
        guard let classes = chosen.classes(sd) else {
            let head = chosen.headKey
            let found = sd.shape(head).map { "has shape \($0)" } ?? "is missing"
            throw SegcError(.mismatch, "not a \(chosen.rawValue) state dict: its output head \(found) (expected rank 4)",
                            file: file, at: .key(head))
        }
        if let expectedClasses, expectedClasses != classes {
            throw SegcError(.mismatch, "--classes \(expectedClasses) given but the head has \(classes) outputs", file: file)
        }
        let graph: Graph
        do { graph = try chosen.run(sd, height: height, width: width) } catch { throw error.inFile(file) }
        for key in sd.order where chosen.unusedPrefixes.contains(where: { key.hasPrefix($0) }) { sd.touch(key) }
        let unusedAllowed = sd.order.filter { key in chosen.unusedPrefixes.contains { key.hasPrefix($0) } }
        let unexpected = sd.unusedKeys.filter { !unusedAllowed.contains($0) }
        if !unexpected.isEmpty {
            let list = unexpected.prefix(5).joined(separator: ", ") + (unexpected.count > 5 ? ", …" : "")
            throw SegcError(.mismatch, "not a \(chosen.rawValue) state dict: unexpected tensors \(list)", file: file)
        }
        return BuiltNetwork(architecture: chosen, classes: classes, graph: graph, unusedKeys: unusedAllowed)
    }

    /// Detection only (for `inspect`): the architecture whose signature matches, if exactly one does.
    package static func detect(entries: [(String, Tensor)]) -> Architecture? {
        let sd = StateDict(file: "", entries: entries)
        let m = Architecture.allCases.filter { $0.matches(sd) }
        return m.count == 1 ? m[0] : nil
    }

    /// Runs every builder in probe mode and names the one with the fewest
    /// missing, mismatched and unexpected keys.
    static func unknownLayout(file: String, entries: [(String, Tensor)], height: Int, width: Int) -> SegcError {
        var best: (Architecture, [String], [String], Int)?
        for arch in Architecture.allCases {
            let sd = StateDict(file: file, entries: entries, probe: true)
            // Probe at a size every architecture accepts.
            _ = try? arch.run(sd, height: 64, width: 64)
            let unexpected = sd.unusedKeys.filter { key in !arch.unusedPrefixes.contains { key.hasPrefix($0) } }
            let missing = sd.missing + sd.mismatched
            let score = missing.count + unexpected.count
            if best == nil || score < best!.3 { best = (arch, missing, unexpected, score) }
        }
        guard let (arch, missing, unexpected, _) = best else {
            return SegcError(.unsupported, "unknown layout", file: file)
        }
        func list(_ a: [String]) -> String { a.isEmpty ? "none" : a.prefix(3).joined(separator: ", ") + (a.count > 3 ? ", …" : "") }
        return SegcError(.unsupported, "unknown layout; closest is \(arch.rawValue) (missing: \(list(missing)); unexpected: \(list(unexpected)))",
                         file: file)
    }
}
