import SegcCore

/// How a persistent id is interpreted.
enum PersistentMode: Sendable {
    /// Zip container: `('storage', cls, key, location, numel)`.
    case zip
    /// Legacy container: `('storage', cls, root_key, location, numel, view_metadata)`.
    case legacy
}

/// segc's pickle interpreter (product.md §2.4): iterative, protocols 2–5,
/// explicit stack / mark stack / memo, limits checked on every push.
struct PickleVM {
    let bytes: UnsafeRawBufferPointer
    /// Absolute file offset of `bytes[0]` (for legacy messages).
    let baseOffset: Int
    let file: String
    /// `data.pkl` for zip; nil for legacy (offsets are then absolute).
    let record: String?
    let mode: PersistentMode
    /// True when `bytes` was cut at `Limits.maxPickleBytes`.
    let clamped: Bool

    var heap: PickleHeap
    private var stack: [PV] = []
    private var marks: [Int] = []
    private var memo: [UInt32: PV] = [:]
    private var pos = 0
    /// Offset of the opcode being executed (relative to `bytes`).
    private var opPos = 0

    init(bytes: UnsafeRawBufferPointer, baseOffset: Int, file: String, record: String?,
         mode: PersistentMode, clamped: Bool, heap: PickleHeap) {
        self.bytes = bytes; self.baseOffset = baseOffset; self.file = file; self.record = record
        self.mode = mode; self.clamped = clamped; self.heap = heap
    }

    /// Bytes consumed by the last `run()` (up to and including `STOP`).
    var consumed: Int { pos }

    // MARK: errors

    func fail(_ kind: SegcError.Kind, _ message: String, at p: Int? = nil) -> SegcError {
        let off = p ?? opPos
        if let record { return SegcError(kind, message, file: file, at: .recordOffset(record, off)) }
        return SegcError(kind, message, file: file, at: .offset(baseOffset &+ off))
    }

    // MARK: reading

    private mutating func need(_ n: Int) throws(SegcError) {
        if n < 0 || n > bytes.count - pos {
            if clamped {
                throw fail(.limit, "pickle is larger than the limit of \(Limits.maxPickleBytes) bytes")
            }
            throw fail(.malformed, "truncated pickle: opcode needs \(n) more bytes, \(bytes.count - pos) left")
        }
    }

    private mutating func u8() throws(SegcError) -> UInt8 {
        try need(1)
        defer { pos += 1 }
        return bytes[pos]
    }

    private mutating func uint(_ n: Int) throws(SegcError) -> UInt64 {
        try need(n)
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[pos + i]) << (8 * i) }
        pos += n
        return v
    }

    private mutating func take(_ n: Int) throws(SegcError) -> UnsafeRawBufferPointer {
        try need(n)
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }

    private mutating func length(_ v: UInt64) throws(SegcError) -> Int {
        if v > UInt64(bytes.count) {
            if clamped { throw fail(.limit, "pickle field of \(v) bytes exceeds the limit of \(Limits.maxPickleBytes) bytes") }
            throw fail(.malformed, "truncated pickle: field of \(v) bytes, \(bytes.count - pos) left")
        }
        return Int(v)
    }

    private mutating func utf8(_ n: Int) throws(SegcError) -> String {
        let b = try take(n)
        guard let s = String(validating: b, as: UTF8.self) else { throw fail(.malformed, "invalid UTF-8 string") }
        return s
    }

    private mutating func line() throws(SegcError) -> String {
        var end = pos
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        if end >= bytes.count { throw fail(.malformed, "truncated pickle: GLOBAL name has no newline") }
        let s = try utf8(end - pos)
        pos += 1
        return s
    }

    // MARK: stack

    private mutating func count() throws(SegcError) {
        heap.created += 1
        if heap.created > Limits.maxPickleObjects {
            throw fail(.limit, "pickle objects \(heap.created) exceed the limit of \(Limits.maxPickleObjects)")
        }
    }

    private mutating func push(_ v: PV) throws(SegcError) {
        if stack.count >= Limits.maxPickleStack {
            throw fail(.limit, "pickle stack length \(stack.count + 1) exceeds the limit of \(Limits.maxPickleStack)")
        }
        stack.append(v)
    }

    private mutating func pop() throws(SegcError) -> PV {
        let floor = marks.last ?? 0
        guard stack.count > floor, let v = stack.popLast() else { throw fail(.malformed, "pickle stack underflow") }
        return v
    }

    private func top() throws(SegcError) -> PV {
        let floor = marks.last ?? 0
        guard stack.count > floor, let v = stack.last else { throw fail(.malformed, "pickle stack underflow") }
        return v
    }

    /// Pops everything above the last mark, and the mark.
    private mutating func popMark() throws(SegcError) -> [PV] {
        guard let m = marks.popLast() else { throw fail(.malformed, "pickle has no MARK to pop to") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    // MARK: heap

    mutating func newObject(_ o: PObj, depth d: Int) throws(SegcError) -> PV {
        if d > Limits.maxPickleNesting {
            throw fail(.limit, "pickle value nesting \(d) exceeds the limit of \(Limits.maxPickleNesting)")
        }
        try count()
        heap.objects.append(o)
        heap.depth.append(d)
        return .ref(heap.objects.count - 1)
    }

    private func childDepth(_ items: [PV]) -> Int {
        var d = 0
        for v in items { d = max(d, heap.depthOf(v)) }
        return d + 1
    }

    mutating func newSeq(_ items: [PV], _ make: (Int) -> PObj) throws(SegcError) -> PV {
        let d = childDepth(items)
        heap.seqs.append(items)
        return try newObject(make(heap.seqs.count - 1), depth: d)
    }

    mutating func newTuple(_ items: [PV]) throws(SegcError) -> PV { try newSeq(items) { .tuple($0) } }

    mutating func newDict() throws(SegcError) -> PV {
        heap.dicts.append(PDict())
        return try newObject(.dict(heap.dicts.count - 1), depth: 1)
    }

    /// Raises the depth of container `r` to hold `items`.
    private mutating func grow(_ r: Int, with items: [PV]) throws(SegcError) {
        let d = childDepth(items)
        if d > heap.depth[r] {
            if d > Limits.maxPickleNesting {
                throw fail(.limit, "pickle value nesting \(d) exceeds the limit of \(Limits.maxPickleNesting)")
            }
            heap.depth[r] = d
        }
    }

    private mutating func appendItems(to target: PV, _ items: [PV], op: String) throws(SegcError) {
        guard case .ref(let r) = target, let o = heap.obj(target) else { throw fail(.malformed, "\(op) on a non-list value") }
        switch o {
        case .list(let i):
            try grow(r, with: items)
            heap.seqs[i].append(contentsOf: items)
        case .set(let i, frozen: false) where op == "ADDITEMS":
            try grow(r, with: items)
            heap.seqs[i].append(contentsOf: items)
        default:
            throw fail(.malformed, "\(op) on a value that is not a \(op == "ADDITEMS" ? "set" : "list")")
        }
    }

    private mutating func setItems(on target: PV, _ items: [PV]) throws(SegcError) {
        guard case .ref(let r) = target, case .dict(let i)? = heap.obj(target) else {
            throw fail(.malformed, "SETITEM(S) on a value that is not a dict")
        }
        if items.count % 2 != 0 { throw fail(.malformed, "SETITEMS with an odd number of items") }
        try grow(r, with: items)
        var k = 0
        while k + 1 < items.count {
            heap.dicts[i].set(items[k], items[k + 1])
            k += 2
        }
    }

    private mutating func memoPut(_ idx: UInt32) throws(SegcError) {
        let v = try top()
        if memo[idx] == nil && memo.count >= Limits.maxPickleMemo {
            throw fail(.limit, "pickle memo entries \(memo.count + 1) exceed the limit of \(Limits.maxPickleMemo)")
        }
        memo[idx] = v
    }

    private mutating func memoGet(_ idx: UInt32) throws(SegcError) {
        guard let v = memo[idx] else { throw fail(.malformed, "memo entry \(idx) is not defined") }
        try push(v)
    }

    private func int128(_ b: UnsafeRawBufferPointer) -> Int128 {
        if b.isEmpty { return 0 }
        var u: UInt128 = 0
        for (i, x) in b.enumerated() { u |= UInt128(x) << (8 * i) }
        if b.count < 16, let last = b.last, last & 0x80 != 0 {
            u |= ~UInt128(0) << (8 * b.count)
        }
        return Int128(bitPattern: u)
    }

    // MARK: globals

    private func refuseGlobal(_ module: String, _ name: String) -> SegcError {
        let full = "\(module).\(name)"
        var msg = "global '\(full)' is not allowed (see product.md §2.4)"
        let stdlib: Set<String> = ["os", "posix", "nt", "subprocess", "builtins", "sys", "shutil", "socket",
                                   "pty", "runpy", "importlib", "pickle", "io", "codecs", "_codecs", "types",
                                   "functools", "operator", "collections", "copyreg", "webbrowser", "ctypes",
                                   "torch", "torch._utils", "torch._tensor", "numpy", "argparse"]
        let looksLikeModule = module.hasPrefix("torch.nn.") || module == "__main__"
            || (!stdlib.contains(module) && (name.first?.isUppercase ?? false))
        if looksLikeModule {
            msg += "; this looks like a pickled model class (torch.save(model)): save model.state_dict() instead, or export ONNX"
        }
        return fail(.refused, msg)
    }

    private mutating func pushGlobal(_ module: String, _ name: String) throws(SegcError) {
        let m = PickleGlobal.mapPython2(module)
        guard let g = PickleGlobal.lookup(module: m, name: name) else { throw refuseGlobal(m, name) }
        try push(try newObject(.global(g), depth: 0))
    }

    // MARK: run

    /// Runs one pickle from the start of `bytes` to its `STOP`; returns the value.
    mutating func run() throws(SegcError) -> PV {
        pos = 0
        stack = []
        marks = []
        memo = [:]
        opPos = 0
        let first = try u8()
        if first != 0x80 { throw fail(.malformed, "pickle does not start with PROTO (found 0x\(hex(first)))") }
        let proto = try u8()
        if proto < 2 || proto > 5 { throw fail(.unsupported, "pickle protocol \(proto) (segc reads protocols 2 to 5)") }

        while true {
            opPos = pos
            let op = try u8()
            switch op {
            case 0x80: // PROTO
                let p = try u8()
                if p < 2 || p > 5 { throw fail(.unsupported, "pickle protocol \(p) (segc reads protocols 2 to 5)") }
            case 0x95: // FRAME
                let n = try uint(8)
                if n > UInt64(bytes.count - pos) && !clamped { throw fail(.malformed, "FRAME of \(n) bytes runs past the end") }
            case 0x2E: // STOP
                // Leftover stack items or marks are ignored, as Python does.
                return try pop()
            case 0x28: // MARK
                if marks.count >= Limits.maxPickleMarkDepth {
                    throw fail(.limit, "pickle mark depth \(marks.count + 1) exceeds the limit of \(Limits.maxPickleMarkDepth)")
                }
                marks.append(stack.count)
            case 0x30: _ = try pop() // POP
            case 0x31: _ = try popMark() // POP_MARK
            case 0x32: try push(try top()) // DUP
            case 0x4E: try count(); try push(.none)
            case 0x88: try count(); try push(.bool(true))
            case 0x89: try count(); try push(.bool(false))
            case 0x4A: // BININT
                let v = Int32(bitPattern: UInt32(truncatingIfNeeded: try uint(4)))
                try count(); try push(.int(Int128(v)))
            case 0x4B: try count(); try push(.int(Int128(try u8())))
            case 0x4D: try count(); try push(.int(Int128(try uint(2))))
            case 0x8A, 0x8B: // LONG1, LONG4
                let n: Int
                if op == 0x8A { n = Int(try u8()) } else {
                    let raw = Int32(bitPattern: UInt32(truncatingIfNeeded: try uint(4)))
                    if raw < 0 { throw fail(.malformed, "LONG4 with negative length \(raw)") }
                    n = Int(raw)
                }
                if n > 16 { throw fail(.unsupported, "integer of \(n) bytes (segc supports up to 128 bits)") }
                let b = try take(n)
                try count(); try push(.int(int128(b)))
            case 0x47: // BINFLOAT
                let raw = try uint(8)
                try count(); try push(.float(Double(bitPattern: raw.byteSwapped)))
            case 0x58: try count(); try push(.str(try utf8(try length(try uint(4))))) // BINUNICODE
            case 0x8C: try count(); try push(.str(try utf8(Int(try u8())))) // SHORT_BINUNICODE
            case 0x8D: try count(); try push(.str(try utf8(try length(try uint(8))))) // BINUNICODE8
            case 0x55: try count(); try push(.str(try utf8(Int(try u8())))) // SHORT_BINSTRING
            case 0x54: // BINSTRING
                let raw = Int32(bitPattern: UInt32(truncatingIfNeeded: try uint(4)))
                if raw < 0 { throw fail(.malformed, "BINSTRING with negative length \(raw)") }
                try count(); try push(.str(try utf8(Int(raw))))
            case 0x42: try count(); try push(.bytes(Array(try take(try length(try uint(4)))))) // BINBYTES
            case 0x43: try count(); try push(.bytes(Array(try take(Int(try u8()))))) // SHORT_BINBYTES
            case 0x8E, 0x96: try count(); try push(.bytes(Array(try take(try length(try uint(8)))))) // BINBYTES8, BYTEARRAY8
            case 0x29: try push(try newTuple([])) // EMPTY_TUPLE
            case 0x74: let items = try popMark(); try push(try newTuple(items)) // TUPLE
            case 0x85, 0x86, 0x87: // TUPLE1..3
                let n = Int(op - 0x84)
                var items: [PV] = []
                for _ in 0..<n { items.append(try pop()) }
                try push(try newTuple(items.reversed()))
            case 0x5D: try push(try newSeq([]) { .list($0) }) // EMPTY_LIST
            case 0x6C: let items = try popMark(); try push(try newSeq(items) { .list($0) }) // LIST
            case 0x61: // APPEND
                let v = try pop()
                try appendItems(to: try top(), [v], op: "APPEND")
            case 0x65: // APPENDS
                let items = try popMark()
                try appendItems(to: try top(), items, op: "APPENDS")
            case 0x7D: try push(try newDict()) // EMPTY_DICT
            case 0x64: // DICT
                let items = try popMark()
                let d = try newDict()
                try setItems(on: d, items)
                try push(d)
            case 0x73: // SETITEM
                let v = try pop(); let k = try pop()
                try setItems(on: try top(), [k, v])
            case 0x75: // SETITEMS
                let items = try popMark()
                try setItems(on: try top(), items)
            case 0x8F: try push(try newSeq([]) { .set($0, frozen: false) }) // EMPTY_SET
            case 0x90: // ADDITEMS
                let items = try popMark()
                try appendItems(to: try top(), items, op: "ADDITEMS")
            case 0x91: let items = try popMark(); try push(try newSeq(items) { .set($0, frozen: true) }) // FROZENSET
            case 0x71: try memoPut(UInt32(try u8())) // BINPUT
            case 0x72: try memoPut(UInt32(truncatingIfNeeded: try uint(4))) // LONG_BINPUT
            case 0x94: // MEMOIZE
                let idx = UInt32(truncatingIfNeeded: memo.count)
                try memoPut(idx)
            case 0x68: try memoGet(UInt32(try u8())) // BINGET
            case 0x6A: try memoGet(UInt32(truncatingIfNeeded: try uint(4))) // LONG_BINGET
            case 0x63: // GLOBAL
                let module = try line()
                let name = try line()
                try pushGlobal(module, name)
            case 0x93: // STACK_GLOBAL
                let n = try pop(); let m = try pop()
                guard case .str(let module) = m, case .str(let name) = n else {
                    throw fail(.malformed, "STACK_GLOBAL needs two strings")
                }
                try pushGlobal(module, name)
            case 0x52: // REDUCE
                let args = try pop(); let callable = try pop()
                try push(try call(callable, args, op: "REDUCE"))
            case 0x81: // NEWOBJ
                let args = try pop(); let cls = try pop()
                try push(try call(cls, args, op: "NEWOBJ"))
            case 0x92: // NEWOBJ_EX
                let kwargs = try pop(); let args = try pop(); let cls = try pop()
                guard let kw = heap.dict(kwargs), kw.count == 0 else {
                    throw fail(.unsupported, "NEWOBJ_EX with keyword arguments")
                }
                try push(try call(cls, args, op: "NEWOBJ_EX"))
            case 0x62: // BUILD
                let state = try pop()
                try build(try top(), state)
            case 0x51: // BINPERSID
                let pid = try pop()
                try push(try persistentLoad(pid))
            case 0x49: throw refusedOp("INT")
            case 0x4C: throw refusedOp("LONG")
            case 0x46: throw refusedOp("FLOAT")
            case 0x53: throw refusedOp("STRING")
            case 0x56: throw refusedOp("UNICODE")
            case 0x70: throw refusedOp("PUT")
            case 0x67: throw refusedOp("GET")
            case 0x50: throw refusedOp("PERSID")
            case 0x69: throw refusedOp("INST")
            case 0x6F: throw refusedOp("OBJ")
            case 0x82: throw refusedOp("EXT1")
            case 0x83: throw refusedOp("EXT2")
            case 0x84: throw refusedOp("EXT4")
            case 0x97: throw refusedOp("NEXT_BUFFER")
            case 0x98: throw refusedOp("READONLY_BUFFER")
            default:
                throw fail(.malformed, "unknown pickle opcode 0x\(hex(op))")
            }
        }
    }

    private func refusedOp(_ name: String) -> SegcError {
        fail(.refused, "pickle opcode \(name) is not allowed (see product.md §2.4)")
    }

    // MARK: BUILD

    private mutating func build(_ target: PV, _ state: PV) throws(SegcError) {
        switch heap.obj(target) {
        case .dict?:
            // OrderedDict state (`_metadata`): kept opaque, ignored.
            return
        case .inert(.numpyDType)?:
            return
        case .tensor?:
            // Tensor state must be empty (None, empty dict, or a tuple of those).
            if isEmptyState(state) { return }
            throw fail(.unsupported, "BUILD with a non-empty tensor state")
        default:
            throw fail(.unsupported, "BUILD on a value that is not an allowlisted object")
        }
    }

    private func isEmptyState(_ v: PV) -> Bool {
        if case .none = v { return true }
        if let d = heap.dict(v) { return d.count == 0 }
        if let t = heap.tuple(v) {
            for x in t where !isEmptyStateShallow(x) { return false }
            return true
        }
        return false
    }

    private func isEmptyStateShallow(_ v: PV) -> Bool {
        if case .none = v { return true }
        if let d = heap.dict(v) { return d.count == 0 }
        return false
    }

    static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }

    func hex(_ b: UInt8) -> String { Self.hex(b) }

    // MARK: helpers for constructors

    func int(_ v: PV, _ what: String) throws(SegcError) -> Int {
        guard case .int(let i) = v else { throw fail(.malformed, "\(what) is not an integer") }
        guard let r = Int(exactly: i) else { throw fail(.malformed, "\(what) \(i) is out of range") }
        return r
    }

    func ints(_ v: PV, _ what: String) throws(SegcError) -> [Int] {
        guard let items = heap.tuple(v) ?? heap.seq(v) else { throw fail(.malformed, "\(what) is not a tuple of integers") }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for x in items { out.append(try int(x, what)) }
        return out
    }

    func str(_ v: PV, _ what: String) throws(SegcError) -> String {
        guard case .str(let s) = v else { throw fail(.malformed, "\(what) is not a string") }
        return s
    }
}
