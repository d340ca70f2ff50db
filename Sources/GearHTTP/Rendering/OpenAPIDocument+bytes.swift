extension OpenAPIDocument {
    /// The document's bytes as the file holds them (the literal leaves out the file's last newline).
    static let bytes: [UInt8] = Array((json + "\n").utf8)
}
