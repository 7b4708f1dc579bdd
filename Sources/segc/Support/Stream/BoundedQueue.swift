import Foundation

/// A blocking FIFO of at most `capacity` items between two pipeline stages: a fast
/// producer waits instead of piling frames up in memory. `close()` ends the stream.
final class BoundedQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private var closed = false
    private let capacity: Int
    private let lock = NSCondition()

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Waits for room; returns false when the queue was closed.
    @discardableResult
    func push(_ item: T) -> Bool {
        lock.lock(); defer { lock.unlock() }
        while items.count >= capacity && !closed { lock.wait() }
        if closed { return false }
        items.append(item)
        lock.broadcast()
        return true
    }

    /// Waits until an item can be pushed without waiting; false when closed. A producer that
    /// calls this before *reading* its next frame keeps frames from ageing in the queue
    /// (lower end-to-end latency, same throughput while the consumer is the bottleneck).
    @discardableResult
    func waitForRoom() -> Bool {
        lock.lock(); defer { lock.unlock() }
        while items.count >= capacity && !closed { lock.wait() }
        return !closed
    }

    /// Waits for an item; `nil` once the queue is closed and empty.
    func pop() -> T? {
        lock.lock(); defer { lock.unlock() }
        while items.isEmpty && !closed { lock.wait() }
        if items.isEmpty { return nil }
        let item = items.removeFirst()
        lock.broadcast()
        return item
    }

    /// Takes every waiting item but the newest (for --drop-late); returns how many.
    func dropAllButNewest() -> Int {
        lock.lock(); defer { lock.unlock() }
        let n = max(0, items.count - 1)
        if n > 0 { items.removeFirst(n); lock.broadcast() }
        return n
    }

    func close() {
        lock.lock(); closed = true; lock.broadcast(); lock.unlock()
    }
}
