public import AsyncHTTPClient
public import Foundation
public import GearAPI
import NIOCore
import NIOHTTP1

extension GearClient {
    /// Runs a command inside a running container: its output frames as they come, the last one its exit
    /// (`stream == "exit"`). Cancelling the stream ends the request, and geard kills the command.
    public func exec(_ id: String, _ request: ExecRequest) -> AsyncThrowingStream<ExecFrame, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let requestID = Self.freshRequestID()
                    var http = self.request(.POST, "/container/\(id)/exec", requestID: requestID)
                    http.headers.add(name: "Content-Type", value: "application/json")
                    http.headers.add(name: "Accept", value: "application/x-ndjson")
                    http.body = .bytes(ByteBuffer(bytes: try GearJSON.encoder().encode(request)))
                    let timeout = TimeAmount.milliseconds(Int64(((request.timeout ?? 300) + 30) * 1000))
                    let response: HTTPClientResponse
                    do {
                        response = try await self.http.execute(http, timeout: timeout)
                    } catch {
                        throw GearClientError.unreachable(endpoint: endpoint.description, reason: "\(error)")
                    }
                    let echoed = response.headers.first(name: GearAPI.requestIDHeader)
                    guard echoed?.lowercased() == requestID else {
                        throw GearClientError.mismatchedRequestID(sent: requestID, received: echoed)
                    }
                    guard response.status == .ok else {
                        var body = try await response.body.collect(upTo: 1 << 20)
                        throw GearClientError.from(
                            Answer(
                                status: Int(response.status.code), headers: [], body: Data(body.readBytes(length: body.readableBytes) ?? []),
                                requestID: requestID))
                    }
                    let decoder = JSONDecoder()
                    var pending: [UInt8] = []
                    for try await chunk in response.body {
                        pending += chunk.readableBytesView
                        var start = 0
                        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                            continuation.yield(try decoder.decode(ExecFrame.self, from: Data(pending[start..<newline])))
                            start = newline + 1
                        }
                        pending.removeFirst(start)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
