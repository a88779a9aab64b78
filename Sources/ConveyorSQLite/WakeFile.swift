import Conveyor
import Dispatch
import Foundation
import Glibc

/// Wakes waiters in every process that opened the same database.
///
/// A writer touches a small file next to the database; every process watches that file
/// with inotify and notifies its ``AsyncSignal``. Nothing polls.
final class WakeFile: Sendable {
    let path: String
    let signal: AsyncSignal
    private let writeDescriptor: Int32
    // Set once in init and cancelled in deinit; never touched concurrently.
    nonisolated(unsafe) private let source: (any DispatchSourceRead)?

    init(path: String, signal: AsyncSignal, watch: Bool) throws {
        self.path = path
        self.signal = signal
        writeDescriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard writeDescriptor >= 0 else {
            throw ConveyorError.storeFailure("cannot create the wake-up file \(path): \(String(cString: strerror(errno)))")
        }
        guard watch else {
            source = nil
            return
        }
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotify >= 0, inotify_add_watch(inotify, path, UInt32(IN_MODIFY)) >= 0 else {
            if inotify >= 0 { close(inotify) }
            close(writeDescriptor)
            throw ConveyorError.storeFailure("cannot watch the wake-up file \(path) with inotify: \(String(cString: strerror(errno)))")
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: inotify, queue: DispatchQueue(label: "conveyor.wake"))
        source.setEventHandler { [signal] in
            // Drain every pending event; one notification covers them all.
            var buffer = [UInt8](repeating: 0, count: 4096)
            while buffer.withUnsafeMutableBytes({ read(inotify, $0.baseAddress, $0.count) }) > 0 {}
            signal.notify()
        }
        source.setCancelHandler { close(inotify) }
        source.resume()
        self.source = source
    }

    /// Tells every watching process (this one included) that something changed.
    func touch() {
        var byte: UInt8 = 1
        _ = pwrite(writeDescriptor, &byte, 1, 0)
    }

    deinit {
        source?.cancel()
        close(writeDescriptor)
    }
}
