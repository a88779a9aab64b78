extension Sequence {
    /// The elements in consecutive slices of at most `count` (one store call each).
    public func chunks(ofCount count: Int) -> [ArraySlice<Element>] {
        let all = Array(self)
        return stride(from: 0, to: all.count, by: Swift.max(1, count)).map { all[$0..<Swift.min($0 + count, all.count)] }
    }
}
