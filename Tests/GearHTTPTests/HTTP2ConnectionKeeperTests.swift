import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import GearHTTP

/// The keeper closes an HTTP/2 connection whose peer NIOHTTP2 found flooding (it answered with a GOAWAY but would go
/// on reading), and one that keeps causing protocol errors; other errors pass.
@Suite struct HTTP2ConnectionKeeperTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP2ConnectionKeeper(idleTimeout: .seconds(60)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test(arguments: [
        NIOHTTP2Errors.excessiveContinuationFrames() as any Error, NIOHTTP2Errors.excessiveRSTFrames(),
        NIOHTTP2Errors.excessiveEmptyDataFrames(), NIOHTTP2Errors.excessiveOutboundFrameBuffering(),
        NIOHTTP2Errors.excessivelyLargeHeaderBlock(), NIOHTTP2Errors.excessiveNumberOfGlitches(), NIOHTTP2Errors.maxStreamsViolation(),
    ])
    func aFloodClosesTheConnectionAtOnce(_ error: any Error) throws {
        let channel = try Self.channel()
        channel.pipeline.fireErrorCaught(error)
        #expect(!channel.isActive)
        #expect(throws: (any Error).self) { try channel.throwIfErrorCaught() }
    }

    @Test func protocolErrorsCloseItAtTheLimitAndOtherErrorsDoNot() throws {
        let channel = try Self.channel()
        struct Other: Error {}
        for _ in 0..<20 { channel.pipeline.fireErrorCaught(Other()) }
        #expect(channel.isActive)
        for _ in 0..<(HTTP2ConnectionKeeper.maxProtocolErrors - 1) { channel.pipeline.fireErrorCaught(NIOHTTP2Errors.noSuchStream(streamID: 3)) }
        #expect(channel.isActive)
        channel.pipeline.fireErrorCaught(NIOHTTP2Errors.noSuchStream(streamID: 5))
        #expect(!channel.isActive)
    }
}
