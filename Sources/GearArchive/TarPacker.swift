import CompressNIO
import Foundation
import GearSystem
public import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a tar stream of a file or directory tree, in chunks, as the reader takes them: the walk is confined
/// like `ConfinedTree`'s (symlinks are archived as symlinks, never followed; FIFOs, sockets and devices are left
/// out and never opened), and file content is read as it goes, so memory stays at one chunk whatever the tree.
/// A file that shrinks while it is read is padded with zeros to the size its header gave (as GNU tar does); one
/// that grows is cut there.
public final class TarPacker: Sendable {
    /// A directory or file the packer holds open, closed when its last reference goes: a class, as the walk's
    /// frames are kept in an array (which cannot hold a `~Copyable` `OwnedDescriptor`).
    private final class Descriptor {
        private let owned: OwnedDescriptor
        var raw: Int32 { owned.raw }

        init(_ owned: consuming OwnedDescriptor) {
            self.owned = owned
        }
    }

    private struct Frame {
        var directory: Descriptor
        var names: [String]
        var next = 0
        var prefix: String
        var fd: Int32 { directory.raw }
    }

    private struct Reading {
        var file: Descriptor
        var remaining: Int64
        var padding: Int
    }

    private enum Root {
        case directory(Descriptor)
        case file(Descriptor, stat)
        case symlink(String, stat)
    }

    private struct State {
        var root: (item: Root, name: String, info: stat)?
        var stack: [Frame] = []
        var reading: Reading?
        var finished = false
        var compressor: ZlibCompressor?
        var entries = 0
    }

    private let state: Mutex<State>

    /// Packs `name` in the directory open at `parent` (borrowed) as `entryName` (a directory's entries are
    /// `entryName/...`); nil `name` packs the directory `parent` itself.
    public init(parent: Int32, name: String?, entryName: String, gzip: Bool) throws(ArchiveError) {
        let info: stat
        let item: Root
        if let name {
            guard let found = ConfinedTree.lstat(parent, name) else { throw ArchiveError(.notFound, "\(entryName) does not exist") }
            info = found
            switch found.st_mode & S_IFMT {
            case S_IFDIR:
                item = .directory(Descriptor(try ConfinedTree.openDirectory(parent, name, create: false, shown: entryName)))
            case S_IFREG:
                guard let opened = try ConfinedTree.openRegularFile(parent, name, shown: entryName) else {
                    throw ArchiveError(.conflict, "\(entryName) changed while it was opened")
                }
                item = .file(Descriptor(opened.descriptor), opened.info)
            case S_IFLNK:
                item = .symlink(ConfinedTree.readLink(parent, name) ?? "", found)
            default:
                throw ArchiveError(.forbidden, "\(entryName) is a device, FIFO or socket; it is not archived")
            }
        } else {
            let fd = dup(parent)
            guard fd >= 0 else { throw ArchiveError.system("stat", entryName) }
            let directory = Descriptor(OwnedDescriptor(owning: fd))
            var found = stat()
            guard fstat(directory.raw, &found) == 0 else { throw ArchiveError.system("stat", entryName) }
            info = found
            item = .directory(directory)
        }
        var state = State(root: (item, entryName, info))
        if gzip {
            do {
                state.compressor = try ZlibCompressor(algorithm: .gzip)
            } catch {
                throw ArchiveError(.io, "cannot start gzip compression: \(error)")
            }
        }
        self.state = Mutex(state)
    }

    /// The next chunk of the stream (about `size` bytes before compression), or nil after the last.
    public func next(size: Int = 256 * 1024) throws(ArchiveError) -> ByteBuffer? {
        try state.withLock { (state: inout State) throws(ArchiveError) -> ByteBuffer? in
            guard !state.finished else { return nil }
            var out = ByteBufferAllocator().buffer(capacity: size + TarHeader.block * 4)
            while out.readableBytes < size && !state.finished {
                try step(&state, &out, room: size - out.readableBytes)
            }
            guard let compressor = state.compressor else { return out }
            var compressed = ByteBufferAllocator().buffer(capacity: compressor.maxSize(from: out))
            do {
                try compressor.deflate(from: &out, to: &compressed, flush: .no)
                if state.finished {
                    while true {
                        var empty = ByteBuffer()
                        compressed.reserveCapacity(minimumWritableBytes: 64 * 1024)
                        do {
                            try compressor.deflate(from: &empty, to: &compressed, flush: .finish)
                            break
                        } catch let error as CompressNIOError where error == .bufferOverflow {
                            continue
                        }
                    }
                }
            } catch {
                throw ArchiveError(.io, "gzip compression failed: \(error)")
            }
            return compressed
        }
    }

    private func step(_ state: inout State, _ out: inout ByteBuffer, room: Int) throws(ArchiveError) {
        if var reading = state.reading {
            if reading.remaining > 0 {
                let want = Int(min(reading.remaining, Int64(max(room, TarHeader.block))))
                let got = out.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw -> Int in
                    max(0, SystemCall.retryingInterrupts { read(reading.file.raw, raw.baseAddress!, want) })
                }
                if got == 0 {
                    // The file shrank: the header promised more; zeros keep the archive whole.
                    out.writeRepeatingByte(0, count: Int(reading.remaining))
                    reading.remaining = 0
                } else {
                    reading.remaining -= Int64(got)
                }
            }
            if reading.remaining == 0 {
                out.writeRepeatingByte(0, count: reading.padding)
                state.reading = nil  // the file closes as its last reference goes
            } else {
                state.reading = reading
            }
            return
        }
        if let root = state.root {
            state.root = nil
            switch root.item {
            case .directory(let directory):
                header(
                    TarEntry(
                        name: root.name + "/", kind: .directory, mode: UInt32(root.info.st_mode), size: 0, modified: Int64(root.info.st_mtim.tv_sec)),
                    &out)
                state.stack.append(Frame(directory: directory, names: try ConfinedTree.names(directory.raw), prefix: root.name))
            case .file(let file, let info):
                fileHeader(root.name, file, info, &state, &out)
            case .symlink(let target, let info):
                header(
                    TarEntry(
                        name: root.name, kind: .symlink, mode: UInt32(info.st_mode), size: 0, modified: Int64(info.st_mtim.tv_sec), link: target),
                    &out)
            }
            return
        }
        guard var frame = state.stack.popLast() else {
            out.writeRepeatingByte(0, count: TarHeader.block * 2)
            state.finished = true
            return
        }
        guard frame.next < frame.names.count else { return }  // done: the directory closes as this frame goes
        let name = frame.names[frame.next]
        frame.next += 1
        let path = frame.prefix + "/" + name
        state.stack.append(frame)
        guard let info = ConfinedTree.lstat(frame.fd, name) else { return }  // gone meanwhile
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            guard state.stack.count < ConfinedTree.maxDepth else {
                throw ArchiveError(.conflict, "\(path) is deeper than \(ConfinedTree.maxDepth) levels")
            }
            guard let child = try? ConfinedTree.openDirectory(frame.fd, name, create: false, shown: path) else { return }
            header(TarEntry(name: path + "/", kind: .directory, mode: UInt32(info.st_mode), size: 0, modified: Int64(info.st_mtim.tv_sec)), &out)
            let names = (try? ConfinedTree.names(child.raw)) ?? []
            state.stack.append(Frame(directory: Descriptor(child), names: names, prefix: path))
        case S_IFREG:
            guard let opened = try ConfinedTree.openRegularFile(frame.fd, name, shown: path) else { return }
            fileHeader(path, Descriptor(opened.descriptor), opened.info, &state, &out)
        case S_IFLNK:
            guard let target = ConfinedTree.readLink(frame.fd, name) else { return }
            header(
                TarEntry(name: path, kind: .symlink, mode: UInt32(info.st_mode), size: 0, modified: Int64(info.st_mtim.tv_sec), link: target), &out)
        default:
            return  // FIFOs, sockets, devices: not archived
        }
    }

    private func fileHeader(_ name: String, _ file: Descriptor, _ info: stat, _ state: inout State, _ out: inout ByteBuffer) {
        let size = Int64(info.st_size)
        header(TarEntry(name: name, kind: .file, mode: UInt32(info.st_mode), size: size, modified: Int64(info.st_mtim.tv_sec)), &out)
        state.reading = Reading(file: file, remaining: size, padding: TarHeader.padding(Int(size % Int64(TarHeader.block))))
    }

    private func header(_ entry: TarEntry, _ out: inout ByteBuffer) {
        out.writeBytes(TarHeader.blocks(for: entry))
    }
}
