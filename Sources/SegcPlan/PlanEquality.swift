/// Content equality (the bytes of the weights, not where they live), so a plan
/// read back compares equal to the one written.
extension PlanWeights: Equatable {
    package static func == (a: PlanWeights, b: PlanWeights) -> Bool {
        if a.count != b.count { return false }
        return a.withBytes { x in b.withBytes { y in x.elementsEqual(y) } }
    }
}

extension PlanFile: Equatable {
    package static func == (a: PlanFile, b: PlanFile) -> Bool {
        a.metadata == b.metadata && a.graph == b.graph && a.sourceMap == b.sourceMap && a.weights == b.weights
    }
}
