import GearAPI

extension DeploymentDescriptor {
    public static let maxCount = 1000
    public static let maxContainers = 256

    /// The deployment's name (given, or made from the file name by `parse`).
    public var deploymentName: String { name ?? "" }

    /// Checks everything that can be checked without asking a host; throws at the first problem, naming its field.
    public func validate() throws(DeploymentError) {
        guard let name, !name.isEmpty else { throw DeploymentError(field: "Name", "a deployment needs a Name") }
        guard name.utf8.count <= 63, name.first!.isASCII, name.first!.isLetter || name.first!.isNumber,
            name.allSatisfy(Self.isNameCharacter)
        else {
            throw DeploymentError(field: "Name", "'\(name)': use 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit")
        }
        // It starts every instance id, which must start with a letter or digit.
        guard idPrefix.allSatisfy(Self.isIDCharacter), idPrefix.utf8.count <= 32,
            idPrefix.first.map({ $0.isLetter || $0.isNumber }) ?? true
        else {
            throw DeploymentError(
                field: "IdPrefix", "'\(idPrefix)': use at most 32 letters, digits, '-', '_' or '.', starting with a letter or digit")
        }
        guard !containers.isEmpty else { throw DeploymentError(field: "Containers", "a deployment needs at least one container") }
        guard containers.count <= Self.maxContainers else {
            throw DeploymentError(field: "Containers", "more than \(Self.maxContainers) containers")
        }
        var names: [String: Int] = [:]
        for (i, container) in containers.enumerated() {
            let field = "Containers[\(i)]"
            guard !container.name.isEmpty, container.name.utf8.count <= 40, container.name.first!.isASCII,
                container.name.first!.isLetter || container.name.first!.isNumber, container.name.allSatisfy(Self.isIDCharacter)
            else {
                throw DeploymentError(
                    field: "\(field).Name", "'\(container.name)': use 1 to 40 letters, digits, '-', '_' or '.', starting with a letter or digit")
            }
            if let other = names[container.name.lowercased()] {
                throw DeploymentError(field: "\(field).Name", "'\(container.name)' is also the name of Containers[\(other)]")
            }
            names[container.name.lowercased()] = i
        }
        var ids: [String: String] = [:]
        for (i, container) in containers.enumerated() {
            try validate(container, field: "Containers[\(i)]")
            if !randomizeIds {
                for n in stride(from: 1, through: container.count, by: 1) {
                    let id = instanceID(container.name, n)
                    guard ContainerID.isValid(id) else {
                        throw DeploymentError(
                            field: "Containers[\(i)].Name", "instance id '\(id)' is longer than \(ContainerID.maxLength) characters")
                    }
                    if let other = ids[id] {
                        throw DeploymentError(field: "Containers[\(i)].Name", "instance id '\(id)' is also an instance of \(other)")
                    }
                    ids[id] = container.name
                }
            }
        }
    }

    /// The id of instance `n` (from 1) of `container` when ids are not random.
    public func instanceID(_ container: String, _ n: Int) -> String { "\(idPrefix)\(container)-\(n)" }

    /// A character instance ids may hold (`ContainerID`'s rule).
    static func isIDCharacter(_ c: Character) -> Bool {
        c.utf8.count == 1 && ContainerID.isIDByte(c.utf8.first!)
    }

    func container(named name: String) -> ContainerDescriptor? { containers.first { $0.name == name } }

    private func validate(_ container: ContainerDescriptor, field: String) throws(DeploymentError) {
        guard (0...Self.maxCount).contains(container.count) else {
            throw DeploymentError(field: "\(field).Count", "\(container.count): use 0 to \(Self.maxCount) instances")
        }
        switch container.runtimeName {
        case "podman":
            guard let image = container.image, !image.isEmpty else {
                throw DeploymentError(field: "\(field).Image", "the podman runtime needs an Image")
            }
        case "exec":
            guard container.image?.isEmpty ?? true else { throw DeploymentError(field: "\(field).Image", "the exec runtime takes no Image") }
            guard !(container.cmd ?? []).isEmpty else { throw DeploymentError(field: "\(field).Cmd", "the exec runtime needs a Cmd") }
        default:
            throw DeploymentError(field: "\(field).Runtime", "'\(container.runtime ?? "")': use podman or exec")
        }
        if container.notify {
            throw DeploymentError(field: "\(field).Notify", "only false: gear's units always tell systemd when they are ready")
        }
        var internals = Set<Int>()
        var externals = Set<Int>()
        for (j, port) in container.publicPorts.enumerated() {
            guard (1...65535).contains(port.internalPort) else {
                throw DeploymentError(field: "\(field).PublicPorts[\(j)].Internal", "\(port.internalPort) is not a port (1-65535)")
            }
            guard internals.insert(port.internalPort).inserted else {
                throw DeploymentError(field: "\(field).PublicPorts[\(j)].Internal", "port \(port.internalPort) is given twice")
            }
            let external = port.externalPort ?? 0
            guard (0...65535).contains(external) else {
                throw DeploymentError(field: "\(field).PublicPorts[\(j)].External", "\(external) is not a port (1-65535, or 0 to allocate)")
            }
            if external != 0, !externals.insert(external).inserted {
                throw DeploymentError(field: "\(field).PublicPorts[\(j)].External", "port \(external) is given twice")
            }
        }
        if let memory = container.memory {
            guard let bytes = memory.bytes, bytes >= 4 << 20 else {
                throw DeploymentError(field: "\(field).Memory", "'\(memory.text)': use bytes or a size like 256M or 1G, at least 4M")
            }
        }
        try validateHealth(container.health, of: container, field: field)
        if let disk = container.disk, disk.bytes == nil {
            throw DeploymentError(field: "\(field).Disk", "'\(disk.text)': use bytes or a size like 256M or 1G")
        }
        if let cpus = container.cpus, !(cpus.isFinite && cpus > 0 && cpus <= 1024) {
            throw DeploymentError(field: "\(field).CPUs", "\(cpus): use more than 0 and at most 1024")
        }
        for key in (container.labels ?? [:]).keys where key.hasPrefix(DeploymentLabel.reservedPrefix) {
            throw DeploymentError(field: "\(field).Labels", "'\(key)': labels starting with 'gear.' are kept by gear deploy")
        }
        for (k, link) in container.links.enumerated() {
            try validate(link, of: container, field: "\(field).Links[\(k)]")
        }
        for (k, other) in container.affinity.with.enumerated() {
            guard self.container(named: other) != nil else {
                throw DeploymentError(field: "\(field).Affinity.With[\(k)]", "no container '\(other)' in the deployment")
            }
            guard other != container.name else {
                throw DeploymentError(field: "\(field).Affinity.With[\(k)]", "a container cannot be placed with itself")
            }
            if self.container(named: other)!.affinity.with.contains(container.name) {
                throw DeploymentError(field: "\(field).Affinity.With[\(k)]", "'\(other)' is also placed With '\(container.name)': one must go first")
            }
            if container.affinity.apart.contains(other) {
                throw DeploymentError(field: "\(field).Affinity.With[\(k)]", "'\(other)' is also in Apart")
            }
        }
        for (k, other) in container.affinity.apart.enumerated() where self.container(named: other) == nil {
            throw DeploymentError(field: "\(field).Affinity.Apart[\(k)]", "no container '\(other)' in the deployment")
        }
    }

    /// The checks of a health check that need no node (each node checks the rest, as for any install).
    private func validateHealth(_ health: ContainerDescriptor.HealthFields, of container: ContainerDescriptor, field: String) throws(DeploymentError)
    {
        let checks = [health.cmd != nil, health.http != nil, health.tcp != nil].filter { $0 }.count
        guard checks <= 1 else { throw DeploymentError(field: "\(field).HealthCmd", "give one health check: HealthCmd, HealthHTTP or HealthTCP") }
        if checks == 0, !health.isEmpty {
            throw DeploymentError(field: "\(field).HealthInterval", "health fields need a health check: HealthCmd, HealthHTTP or HealthTCP")
        }
        for (name, port) in [("HealthHTTP.Port", health.http?.port), ("HealthTCP", health.tcp)] {
            guard let port else { continue }
            guard (1...65535).contains(port) else { throw DeploymentError(field: "\(field).\(name)", "\(port) is not a port (1-65535)") }
            if container.runtimeName == "podman", !container.publicPorts.contains(where: { $0.internalPort == port }) {
                throw DeploymentError(
                    field: "\(field).\(name)", "port \(port) is not in PublicPorts: a podman container's check reaches it where it is published")
            }
        }
        for (name, value) in [("HealthInterval", health.interval), ("HealthTimeout", health.timeout), ("HealthStartPeriod", health.startPeriod)] {
            if let value, value.milliseconds == nil {
                throw DeploymentError(field: "\(field).\(name)", "'\(value.text)': use seconds or a duration like 30s, 500ms or 1m30s")
            }
        }
        if let interval = health.interval?.milliseconds, interval < HealthLimits.minIntervalMs {
            throw DeploymentError(field: "\(field).HealthInterval", "at least 1s")
        }
        if let retries = health.retries, !(1...HealthLimits.maxRetries).contains(retries) {
            throw DeploymentError(field: "\(field).HealthRetries", "\(retries): use 1 to 100")
        }
        if let action = health.onFailure, HealthAction(rawValue: action.lowercased()) == nil {
            throw DeploymentError(field: "\(field).HealthOnFailure", "'\(action)': use none, restart, kill or stop")
        }
    }

    private func validate(_ link: LinkDescriptor, of source: ContainerDescriptor, field: String) throws(DeploymentError) {
        guard let target = container(named: link.to) else {
            throw DeploymentError(field: "\(field).To", "no container '\(link.to)' in the deployment")
        }
        guard !target.publicPorts.isEmpty else {
            throw DeploymentError(field: "\(field).To", "'\(target.name)' has no PublicPorts to link to")
        }
        guard source.runtimeName == "podman" else {
            throw DeploymentError(
                field: field, "links need the podman runtime: an exec container shares the host's network, where a link would bind for everyone")
        }
        if link.nonLocal {
            throw DeploymentError(field: "\(field).NonLocal", "only false: a link's address inside the container is a loopback address")
        }
        let targetPorts = Set(target.publicPorts.map(\.internalPort))
        for (p, port) in link.ports.enumerated() where !targetPorts.contains(port) {
            throw DeploymentError(field: "\(field).Ports[\(p)]", "'\(target.name)' does not publish port \(port)")
        }
        var seen = Set<Int>()
        for (p, alias) in link.aliasPorts.enumerated() {
            guard targetPorts.contains(alias.internalPort) else {
                throw DeploymentError(field: "\(field).AliasPorts[\(p)].Internal", "'\(target.name)' does not publish port \(alias.internalPort)")
            }
            guard seen.insert(alias.internalPort).inserted else {
                throw DeploymentError(field: "\(field).AliasPorts[\(p)].Internal", "port \(alias.internalPort) is given twice")
            }
            guard (0...65535).contains(alias.externalPort ?? 0) else {
                throw DeploymentError(field: "\(field).AliasPorts[\(p)].External", "\(alias.externalPort!) is not a port (1-65535)")
            }
        }
    }
}
