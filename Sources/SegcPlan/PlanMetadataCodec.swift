import SegcCore

/// `META` ⇄ `PlanMetadata` (Docs/PlanFormat.md §5).
package enum PlanMetadataCodec {
    package static let precisions: Set<String> = ["fp32", "int8", "mixed"]

    package static func encode(_ m: PlanMetadata) throws(SegcError) -> [UInt8] {
        func nums(_ a: [Double]) -> PlanJSON { .array(a.map { .number($0) }) }
        func ints(_ a: [Int]) -> PlanJSON { .array(a.map { .number(Double($0)) }) }
        func strs(_ a: [String]) -> PlanJSON { .array(a.map { .string($0) }) }
        var o: [String: PlanJSON] = [
            "producer": .string(m.producer),
            "architecture": .string(m.architecture),
            "source": .object(["file": .string(m.sourceFile), "format": .string(m.sourceFormat),
                               "sha256": .string(m.sourceSHA256)]),
            "classes": .number(Double(m.classes)),
            "class_names": strs(m.classNames),
            "input": .object(["shape": ints(m.inputShape), "dtype": .string(m.inputDType),
                              "layout": .string(m.inputLayout)]),
            "output": .object(m.outputName.isEmpty ? ["shape": ints(m.outputShape), "dtype": .string(m.outputDType)]
                              : ["shape": ints(m.outputShape), "dtype": .string(m.outputDType), "name": .string(m.outputName)]),
            "preprocessing": .object(["color": .string(m.color), "resize": .string(m.resize),
                                      "scale": .number(m.scale), "mean": nums(m.mean), "std": nums(m.std)]),
            "precision": .string(m.precision),
            "temperature": .number(m.temperature),
            "passes": strs(m.passes),
        ]
        if !m.extraOutputs.isEmpty {
            o["extra_outputs"] = .array(m.extraOutputs.map {
                .object(["name": .string($0.name), "value": .number(Double($0.value)), "shape": ints($0.shape),
                         "dtype": .string($0.dtype)])
            })
        }
        if !m.rangeGuard.isEmpty {
            o["range_guard"] = .array(m.rangeGuard.map {
                .object(["op": .number(Double($0.op)), "max": .number(Double($0.max)), "limit": .number(Double($0.limit))])
            })
        }
        if !m.valueGrids.isEmpty {
            o["value_grids"] = .array(m.valueGrids.map {
                .object(["value": .number(Double($0.value)), "scale": .number(Double($0.scale)),
                         "zero_point": .number(Double($0.zeroPoint))])
            })
        }
        if let q = m.quantization { o["quantization"] = q }
        if let p = m.pruning { o["pruning"] = p }
        let bytes = try PlanJSON.object(o).encoded()
        try Limits.check(bytes.count, Limits.maxPlanMetadataBytes, "metadata size")
        return bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(SegcError) -> PlanMetadata {
        var result: Result<PlanMetadata, SegcError> = .success(PlanMetadata())
        bytes.withUnsafeBytes { raw in
            do throws(SegcError) { result = .success(try decode(raw)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Parses and checks `META`; errors carry no file or location (the reader adds them).
    package static func decode(_ bytes: UnsafeRawBufferPointer) throws(SegcError) -> PlanMetadata {
        try Limits.check(bytes.count, Limits.maxPlanMetadataBytes, "metadata size")
        let root = try PlanJSON.parse(bytes)
        guard case .object = root else { throw SegcError(.malformed, "metadata is not a JSON object") }
        var m = PlanMetadata()
        m.producer = try string(root, "producer")
        m.architecture = try string(root, "architecture")
        let source = try object(root, "source")
        m.sourceFile = try string(source, "file", "source.")
        m.sourceFormat = try string(source, "format", "source.")
        m.sourceSHA256 = try string(source, "sha256", "source.")
        m.classes = try integer(root, "classes", "", 0...Int(Int32.max))
        m.classNames = try strings(root, "class_names")
        if !m.classNames.isEmpty && m.classNames.count != m.classes {
            throw SegcError(.mismatch, "class_names has \(m.classNames.count) names for \(m.classes) classes",
                            at: .key("class_names"))
        }
        let input = try object(root, "input")
        m.inputShape = try shape(input, "shape", "input.")
        m.inputDType = try string(input, "dtype", "input.")
        m.inputLayout = try string(input, "layout", "input.")
        let output = try object(root, "output")
        m.outputShape = try shape(output, "shape", "output.")
        m.outputDType = try string(output, "dtype", "output.")
        if output["name"] != nil { m.outputName = try string(output, "name", "output.") }
        if root["extra_outputs"] != nil {
            for (k, e) in try array(root, "extra_outputs", "").enumerated() {
                let prefix = "extra_outputs[\(k)]."
                guard case .object = e else { throw SegcError(.malformed, "not an object", at: .key(prefix)) }
                m.extraOutputs.append(PlanExtraOutput(name: try string(e, "name", prefix),
                                                      value: try integer(e, "value", prefix, 0...Int(Int32.max)),
                                                      shape: try shape(e, "shape", prefix), dtype: try string(e, "dtype", prefix)))
            }
        }
        let pre = try object(root, "preprocessing")
        m.color = try string(pre, "color", "preprocessing.")
        m.resize = try string(pre, "resize", "preprocessing.")
        m.scale = try number(pre, "scale", "preprocessing.")
        m.mean = try numbers(pre, "mean", "preprocessing.")
        m.std = try numbers(pre, "std", "preprocessing.")
        if m.mean.count != m.std.count {
            throw SegcError(.mismatch, "mean has \(m.mean.count) entries, std \(m.std.count)", at: .key("preprocessing"))
        }
        if m.std.contains(0) { throw SegcError(.malformed, "std has a zero entry", at: .key("preprocessing.std")) }
        m.precision = try string(root, "precision")
        if !precisions.contains(m.precision) {
            throw SegcError(.unsupported, "unknown precision '\(m.precision)'", at: .key("precision"))
        }
        m.temperature = try number(root, "temperature")
        if !(m.temperature > 0) { throw SegcError(.malformed, "temperature must be positive", at: .key("temperature")) }
        m.passes = try strings(root, "passes")
        if root["range_guard"] != nil {
            for (k, e) in try array(root, "range_guard", "").enumerated() {
                let prefix = "range_guard[\(k)]."
                guard case .object = e else { throw SegcError(.malformed, "not an object", at: .key(prefix)) }
                m.rangeGuard.append(PlanRangeLimit(op: try integer(e, "op", prefix, 0...Int(Int32.max)),
                                                   max: try integer(e, "max", prefix, 0...Limits.maxDimension),
                                                   limit: try integer(e, "limit", prefix, 0...Limits.maxDimension)))
            }
        }
        if root["value_grids"] != nil {
            for (k, e) in try array(root, "value_grids", "").enumerated() {
                let prefix = "value_grids[\(k)]."
                guard case .object = e else { throw SegcError(.malformed, "not an object", at: .key(prefix)) }
                let scale = try number(e, "scale", prefix)
                guard scale.isFinite, scale > 0, Float(scale).isFinite, Float(scale) > 0 else {
                    throw SegcError(.malformed, "must be a positive float32", at: .key(prefix + "scale"))
                }
                m.valueGrids.append(PlanValueGrid(value: try integer(e, "value", prefix, 0...Int(Int32.max)), scale: Float(scale),
                                                  zeroPoint: try integer(e, "zero_point", prefix, 0...255)))
            }
        }
        m.quantization = root["quantization"]
        m.pruning = root["pruning"]
        return m
    }

    // MARK: typed access

    private static func value(_ o: PlanJSON, _ k: String, _ prefix: String) throws(SegcError) -> PlanJSON {
        guard let v = o[k] else { throw SegcError(.malformed, "missing required key", at: .key(prefix + k)) }
        return v
    }

    private static func wrongType(_ k: String, _ prefix: String, _ t: String) -> SegcError {
        SegcError(.malformed, "must be \(t)", at: .key(prefix + k))
    }

    private static func object(_ o: PlanJSON, _ k: String) throws(SegcError) -> PlanJSON {
        let v = try value(o, k, "")
        guard case .object = v else { throw wrongType(k, "", "an object") }
        return v
    }

    private static func string(_ o: PlanJSON, _ k: String, _ prefix: String = "") throws(SegcError) -> String {
        guard case .string(let s) = try value(o, k, prefix) else { throw wrongType(k, prefix, "a string") }
        return s
    }

    private static func number(_ o: PlanJSON, _ k: String, _ prefix: String = "") throws(SegcError) -> Double {
        guard case .number(let d) = try value(o, k, prefix) else { throw wrongType(k, prefix, "a number") }
        return d
    }

    private static func asInt(_ d: Double, _ range: ClosedRange<Int>) -> Int? {
        guard d == d.rounded(.towardZero), d >= Double(range.lowerBound), d <= Double(range.upperBound) else { return nil }
        return Int(d)
    }

    private static func integer(_ o: PlanJSON, _ k: String, _ prefix: String, _ range: ClosedRange<Int>) throws(SegcError) -> Int {
        let d = try number(o, k, prefix)
        guard let v = asInt(d, range) else { throw wrongType(k, prefix, "an integer in \(range)") }
        return v
    }

    private static func array(_ o: PlanJSON, _ k: String, _ prefix: String) throws(SegcError) -> [PlanJSON] {
        guard case .array(let a) = try value(o, k, prefix) else { throw wrongType(k, prefix, "an array") }
        return a
    }

    private static func strings(_ o: PlanJSON, _ k: String, _ prefix: String = "") throws(SegcError) -> [String] {
        var out: [String] = []
        for e in try array(o, k, prefix) {
            guard case .string(let s) = e else { throw wrongType(k, prefix, "an array of strings") }
            out.append(s)
        }
        return out
    }

    private static func numbers(_ o: PlanJSON, _ k: String, _ prefix: String = "") throws(SegcError) -> [Double] {
        var out: [Double] = []
        for e in try array(o, k, prefix) {
            guard case .number(let d) = e else { throw wrongType(k, prefix, "an array of numbers") }
            out.append(d)
        }
        return out
    }

    private static func shape(_ o: PlanJSON, _ k: String, _ prefix: String) throws(SegcError) -> [Int] {
        let a = try array(o, k, prefix)
        if a.count > Limits.maxTensorRank {
            throw SegcError(.limit, "rank \(a.count) exceeds the limit of \(Limits.maxTensorRank)", at: .key(prefix + k))
        }
        var out: [Int] = []
        for e in a {
            guard case .number(let d) = e, let v = asInt(d, 0...Limits.maxDimension) else {
                throw wrongType(k, prefix, "an array of dimensions")
            }
            out.append(v)
        }
        return out
    }
}
