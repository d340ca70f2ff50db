import GearCore
import GearTestSupport
import Logging

/// A prepared agent over an in-memory systemd: state in `root/state`, unit links in `root/systemd` (which the
/// caller created for `systemd`), every host port free.
func makeTestAgent(root: String, systemd: MemorySystemd, configure: (inout AgentConfiguration) -> Void = { _ in }) async throws -> NodeAgent {
    var configuration = AgentConfiguration(layout: try StateLayout(root: root + "/state", systemdUnitDirectory: root + "/systemd"))
    configuration.hostPortIsFree = { _ in true }
    configure(&configuration)
    let agent = NodeAgent(configuration: configuration, systemd: systemd, logger: Logger(label: "test"))
    try await agent.prepare()
    return agent
}
