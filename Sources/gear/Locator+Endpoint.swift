import GearClient

extension Locator {
    /// The endpoint to call: the host (over HTTPS when the options carry a client certificate), or the default
    /// endpoint (the local socket, --host or GEAR_HOST).
    func endpoint(_ options: GlobalOptions) -> GearEndpoint {
        guard let host else { return options.defaultEndpoint }
        return options.endpoint(host: host, port: port)
    }
}
