/// Which output channel each element of a conv weight belongs to, in the plan's layouts:
/// conv [cout, cin/g, kh, kw]; transposed conv [cin, cout/g, kh, kw], where element
/// (ci, j, ·, ·) feeds output channel (ci / (cin/g)) · (cout/g) + j. Per-channel int8
/// weights are scaled by it (the int8 pass) and dequantized by it (the float twin).
package enum ConvWeightLayout {
    /// Element index → output channel, for a weight of `shape` (rank 4).
    package static func outputChannel(shape: [Int], transposed: Bool, groups: Int) -> (Int) -> Int {
        let per = shape[1] * shape[2] * shape[3], taps = shape[2] * shape[3]
        guard transposed else { return { $0 / per } }
        let coutG = shape[1], cinG = max(shape[0] / max(groups, 1), 1)
        return { i in (i / per) / cinG * coutG + (i / taps) % coutG }
    }
}
