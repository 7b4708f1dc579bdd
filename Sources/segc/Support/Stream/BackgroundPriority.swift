import Glibc

/// Lowers the calling thread's scheduling priority (Linux: nice applies per thread).
///
/// `stream`'s decoder and writer run beside the network's kernel threads, which use every
/// core and meet at a barrier after each op: a decoder that preempts one of them stalls
/// both. At nice 10 the decoder gets the cores when the network waits (barriers, serial
/// ops, a frame not ready yet) and little otherwise; when it falls behind, the network
/// waits for a frame, its threads sleep, and the decoder catches up. Failure is harmless
/// (the thread keeps its priority), so it is not reported.
enum BackgroundPriority {
    static func lowerCurrentThread(by nice: Int32 = 10) {
        // who = 0 is the calling task, i.e. this thread on Linux/NPTL (setpriority(2), BUGS).
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
    }
}
