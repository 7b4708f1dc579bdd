import SegcCore

/// Iterative pre-scan of the protobuf wire format (product.md §2.7, §2.8), run
/// before protobuf-c sees the bytes: wire types are 0, 1, 2 or 5 (groups are
/// refused), varints have at most 10 bytes, every length-delimited field lies
/// inside its parent, nesting of the messages segc decodes stays within
/// `Limits.maxProtobufDepth`, and the main graph has at most `Limits.maxOnnxNodes`
/// nodes. The walk uses an explicit stack, never recursion.
package enum PreScan {
    /// Messages of `Schemas/onnx.proto` whose sub-messages protobuf-c parses.
    enum Kind: Sendable {
        case model, graph, node, attribute, tensor, sparseTensor, valueInfo, typeProto, typeTensor, shape, leaf

        /// The message kind of field `field` inside `self`, `.leaf` for scalars,
        /// bytes and fields segc does not decode (protobuf-c keeps those as
        /// opaque unknown fields without parsing them).
        func child(_ field: UInt64) -> Kind? {
            switch (self, field) {
            case (.model, 7): return .graph
            case (.model, 8), (.model, 14): return .leaf
            case (.graph, 1): return .node
            case (.graph, 5): return .tensor
            case (.graph, 15): return .sparseTensor
            case (.graph, 11), (.graph, 12): return .valueInfo
            case (.node, 5): return .attribute
            case (.attribute, 5): return .tensor
            case (.sparseTensor, 1), (.sparseTensor, 2): return .tensor
            case (.valueInfo, 2): return .typeProto
            case (.typeProto, 1): return .typeTensor
            case (.typeTensor, 2): return .shape
            default: return nil
            }
        }
    }

    package struct Result: Sendable {
        package var nodes = 0
    }

    package static func scan(_ bytes: UnsafeRawBufferPointer, file: String) throws(SegcError) -> Result {
        func fail(_ m: String, _ at: Int) -> SegcError {
            SegcError(.malformed, "invalid protobuf: \(m)", file: file, at: .offset(at))
        }
        var result = Result()
        // (end offset, message kind) of the open messages.
        var stack: [(end: Int, kind: Kind)] = [(bytes.count, .model)]
        var pos = 0

        func varint(_ what: String) throws(SegcError) -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            let start = pos
            while true {
                guard pos < bytes.count, let top = stack.last, pos < top.end else {
                    throw fail("truncated \(what)", start)
                }
                let b = bytes[pos]
                pos += 1
                if shift == 63 && b > 1 { throw fail("\(what) overflows 64 bits", start) }
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
                if shift > 63 { throw fail("\(what) longer than 10 bytes", start) }
            }
        }

        while let top = stack.last {
            if pos == top.end {
                stack.removeLast()
                continue
            }
            if pos > top.end { throw fail("field runs past the end of its message", pos) }
            let fieldStart = pos
            let key = try varint("field key")
            let field = key >> 3
            let wire = key & 7
            if field == 0 { throw fail("field number 0", fieldStart) }
            switch wire {
            case 0:
                _ = try varint("varint")
            case 1, 5:
                let n = wire == 1 ? 8 : 4
                guard n <= top.end - pos else { throw fail("truncated fixed-width field \(field)", fieldStart) }
                pos += n
            case 2:
                let lenRaw = try varint("length")
                guard lenRaw <= UInt64(top.end - pos) else {
                    throw fail("length \(lenRaw) of field \(field) exceeds the \(top.end - pos) bytes left", fieldStart)
                }
                let len = Int(lenRaw)
                if let kind = top.kind.child(field), kind != .leaf {
                    if top.kind == .graph && field == 1 {
                        result.nodes += 1
                        if result.nodes > Limits.maxOnnxNodes {
                            throw SegcError(.limit, "ONNX node count \(result.nodes) exceeds the limit of \(Limits.maxOnnxNodes)", file: file)
                        }
                    }
                    if stack.count >= Limits.maxProtobufDepth {
                        throw SegcError(.limit, "protobuf nesting depth \(stack.count + 1) exceeds the limit of \(Limits.maxProtobufDepth)",
                                        file: file, at: .offset(fieldStart))
                    }
                    stack.append((pos + len, kind))
                } else {
                    pos += len
                }
            default:
                throw fail("unsupported wire type \(wire) (field \(field))", fieldStart)
            }
        }
        return result
    }
}
