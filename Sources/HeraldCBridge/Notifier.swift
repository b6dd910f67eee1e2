import Glibc

/// The descriptor a C program waits on: a pipe that holds one byte exactly while events
/// are pending (or the handle needs attention), so select/poll/epoll report it readable
/// then and only then. With O_ASYNC and F_SETSIG the kernel raises a chosen signal when
/// the byte is written (the SIGNAL activation style).
///
/// Not locked itself: its owner calls `set` under its own lock.
public final class Notifier: @unchecked Sendable {
    // The fds are fixed at init and closed once by `close()`, which the owner calls after
    // every other use; `raised` is only touched under the owner's lock.
    public let readFD: Int32
    private let writeFD: Int32
    private var raised = false
    private var closed = false

    /// fcntl commands glibc defines only with _GNU_SOURCE.
    private static let setSignal: Int32 = 10  // F_SETSIG
    private static let setOwner: Int32 = 8  // F_SETOWN

    public init() throws(CError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CError(errno) }
        readFD = fds[0]
        writeFD = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
    }

    /// Makes the descriptor readable (`ready`) or not.
    public func set(_ ready: Bool) {
        guard !closed, ready != raised else { return }
        var byte: UInt8 = 1
        if ready {
            while write(writeFD, &byte, 1) < 0 && errno == EINTR {}
        } else {
            while read(readFD, &byte, 1) < 0 && errno == EINTR {}
        }
        raised = ready
    }

    /// The SIGNAL style: `signal` is delivered to this process each time events become pending.
    public func enableSignal(_ signal: Int32) throws(CError) {
        let flags = fcntl(readFD, F_GETFL)
        guard fcntl(readFD, Self.setOwner, getpid()) == 0, fcntl(readFD, Self.setSignal, signal) == 0,
            flags >= 0, fcntl(readFD, F_SETFL, flags | O_ASYNC) == 0
        else { throw CError(errno) }
    }

    /// Waits until readable (or `milliseconds` pass; -1 forever).
    public func waitReadable(milliseconds: Int32 = -1) {
        var descriptor = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        while poll(&descriptor, 1, milliseconds) < 0 && errno == EINTR {}
    }

    public func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(readFD)
        _ = Glibc.close(writeFD)
    }
}

/// An errno value, as the C API reports failures.
public struct CError: Error {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
}
