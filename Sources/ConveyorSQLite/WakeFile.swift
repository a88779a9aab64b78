import Conveyor
import Dispatch
import Foundation
import Glibc
import Synchronization

/// Wakes waiters in every process that opened the same database.
///
/// A writer touches a small file next to the database; every process watches that file
/// with inotify and notifies its ``AsyncSignal``. Nothing polls. All the wake files of a
/// process share one inotify instance (``WakeWatcher``): a user may have only 128 of them
/// (`fs.inotify.max_user_instances`), while watches are plentiful.
final class WakeFile: Sendable {
    let path: String
    let signal: AsyncSignal
    private let writeDescriptor: Int32
    private let watch: WakeWatcher.Watch?

    init(path: String, signal: AsyncSignal, watch: Bool) throws {
        self.path = path
        self.signal = signal
        writeDescriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard writeDescriptor >= 0 else {
            throw ConveyorError.storeFailure("cannot create the wake-up file \(path): \(String(cString: strerror(errno)))")
        }
        guard watch else {
            self.watch = nil
            return
        }
        do {
            self.watch = try WakeWatcher.shared.get().add(path, signal: signal)
        } catch {
            close(writeDescriptor)
            throw error
        }
    }

    /// Tells every watching process (this one included) that something changed.
    func touch() {
        var byte: UInt8 = 1
        _ = pwrite(writeDescriptor, &byte, 1, 0)
    }

    deinit {
        if let watch { try? WakeWatcher.shared.get().remove(watch) }
        close(writeDescriptor)
    }
}

/// The process's one inotify instance, watching every wake file of every store it opened, and
/// notifying each file's signals when it changes.
final class WakeWatcher: Sendable {
    /// One registration: the watch descriptor of its file and which of the file's signals it is.
    struct Watch: Sendable {
        let descriptor: Int32
        let id: Int
    }

    static let shared = Result { () throws(ConveyorError) in try WakeWatcher() }

    private let inotify: Int32
    private let signals = Mutex<(next: Int, byWatch: [Int32: [Int: AsyncSignal]])>((0, [:]))
    // Set once in init; lives as long as the process.
    nonisolated(unsafe) private let source: any DispatchSourceRead

    private init() throws(ConveyorError) {
        inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotify >= 0 else {
            throw ConveyorError.storeFailure("cannot start inotify to hear other processes' wake-ups: \(String(cString: strerror(errno)))")
        }
        source = DispatchSource.makeReadSource(fileDescriptor: inotify, queue: DispatchQueue(label: "conveyor.wake"))
        source.setEventHandler { [self] in
            // Drain every pending event; one notification per file covers them all.
            var changed = Set<Int32>()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                var offset = 0
                while offset + MemoryLayout<inotify_event>.size <= count {
                    let event = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self) }
                    changed.insert(event.wd)
                    offset += MemoryLayout<inotify_event>.size + Int(event.len)
                }
            }
            notify(changed)
        }
        source.resume()
    }

    private func notify(_ changed: Set<Int32>) {
        let targets = signals.withLock { state in changed.flatMap { state.byWatch[$0].map { Array($0.values) } ?? [] } }
        for signal in targets { signal.notify() }
    }

    func add(_ path: String, signal: AsyncSignal) throws -> Watch {
        try signals.withLock { state in
            let descriptor = inotify_add_watch(inotify, path, UInt32(IN_MODIFY))
            guard descriptor >= 0 else {
                throw ConveyorError.storeFailure("cannot watch the wake-up file \(path) with inotify: \(String(cString: strerror(errno)))")
            }
            state.next += 1
            state.byWatch[descriptor, default: [:]][state.next] = signal
            return Watch(descriptor: descriptor, id: state.next)
        }
    }

    func remove(_ watch: Watch) {
        signals.withLock { state in
            state.byWatch[watch.descriptor]?[watch.id] = nil
            if state.byWatch[watch.descriptor]?.isEmpty == true {
                state.byWatch[watch.descriptor] = nil
                inotify_rm_watch(inotify, watch.descriptor)
            }
        }
    }
}
