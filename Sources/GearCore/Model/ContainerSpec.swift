public import GearAPI

/// How a container runs.
public enum ContainerRuntime: String, Sendable, Hashable, Codable, CaseIterable {
    /// An image run by podman under the unit (`podman run --rm --sdnotify=conmon ...`).
    case podman
    /// A program run directly as the unit, sandboxed by systemd.
    case exec
}

/// systemd's `Restart=` values.
public enum RestartPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    case no
    case onSuccess = "on-success"
    case onFailure = "on-failure"
    case onAbnormal = "on-abnormal"
    case onWatchdog = "on-watchdog"
    case onAbort = "on-abort"
    case always
}

/// A port to publish: nil `external` means "allocate one from the range".
public struct PortSpec: Sendable, Hashable, Codable {
    public var internalPort: Int
    public var externalPort: Int?
}

/// A named volume mounted at `path`.
public struct VolumeSpec: Sendable, Hashable, Codable {
    public var name: String
    public var path: String
    public var readOnly: Bool
}

/// A host directory mounted into the container (geard's `VolumeMounts`); only from the roots the node allows.
public struct BindSpec: Sendable, Hashable, Codable {
    public var hostPath: String
    public var path: String
    public var readOnly: Bool
}

/// geard's network link: inside the container, `fromHost:fromPort` leads to `toHost:toPort` as the node reaches it.
public struct LinkSpec: Sendable, Hashable, Codable {
    public var fromHost: String
    public var fromPort: Int
    /// nil (geard's 0 or an empty host): the link is kept but leads nowhere yet.
    public var toHost: String?
    public var toPort: Int?

    /// Whether the link leads somewhere.
    public var isComplete: Bool { toHost != nil && toPort != nil }
}

/// A part of an exec unit's sandbox a container may go without (`Relax`), for workloads that need it.
public enum SandboxRelaxation: String, Sendable, Hashable, Codable, CaseIterable {
    /// Writable and executable memory (JIT compilers: JavaScript, the JVM, LuaJIT).
    case memoryDenyWriteExecute = "MemoryDenyWriteExecute"
    /// System calls beyond `@system-service` without `@privileged` and `@resources`.
    case systemCallFilter = "SystemCallFilter"
    /// Other users' ids visible (PrivateUsers=): programs that look up or switch users.
    case privateUsers = "PrivateUsers"
    /// Other processes and /proc's non-process files visible (ProtectProc=, ProcSubset=).
    case protectProc = "ProtectProc"
    /// Socket families beyond unix, IPv4, IPv6 and netlink.
    case restrictAddressFamilies = "RestrictAddressFamilies"
    /// Creating namespaces (sandboxing tools of its own, such as bubblewrap).
    case restrictNamespaces = "RestrictNamespaces"
}

/// A validated, normalized install request: every value in it is safe to put in a unit file.
public struct ContainerSpec: Sendable, Hashable, Codable {
    public var runtime: ContainerRuntime
    public var image: String?
    public var cmd: [String]
    public var started: Bool
    public var ports: [PortSpec]
    /// Sorted by name; names unique.
    public var environment: [EnvironmentVariable]
    /// The named environment the container receives before its own variables.
    public var environmentID: EnvironmentID?
    public var volumes: [VolumeSpec]
    public var restart: RestartPolicy
    /// Bytes.
    public var memoryMax: UInt64?
    /// Percent of one CPU (`CPUQuota=`).
    public var cpuQuotaPercent: Int?
    /// geard's `SystemdSlice`: the unit runs in `gear-{slice}.slice` (under gear.slice) instead of gear.slice.
    public var slice: String?
    /// Host directories mounted in (geard's `VolumeMounts`); nil when none.
    public var binds: [BindSpec]?
    /// geard's `NetworkLinks`; nil when none.
    public var links: [LinkSpec]?
    /// Parts of the exec runtime's sandbox this container goes without; nil when none.
    public var relax: [SandboxRelaxation]?
    /// Labels kept with the container (not in its unit); nil when none.
    public var labels: [String: String]?
    /// The health check; nil when none.
    public var health: HealthSpec?

    /// Limits on what one install may ask for.
    public enum Limits {
        public static let maxImageLength = 255
        public static let maxArguments = 256
        public static let maxArgumentBytes = 16 * 1024
        public static let maxCommandBytes = 128 * 1024
        public static let maxVariables = 512
        public static let maxVariableNameBytes = 256
        public static let maxVariableValueBytes = 32 * 1024
        public static let maxEnvironmentBytes = 256 * 1024
        public static let maxPorts = 64
        public static let maxVolumes = 32
        public static let maxVolumePathBytes = 1024
        public static let minMemory: UInt64 = 4 << 20
        public static let maxCPUs = 1024.0
        public static let maxLabels = 64
        public static let maxLabelKeyBytes = 128
        public static let maxLabelValueBytes = 1024
    }

    /// Checks every field of `request` and normalizes it; throws `.invalidRequest` with a message naming the
    /// field at the first problem.
    public init(validating request: InstallRequest) throws(GearError) {
        let runtimeName = (request.runtime ?? "podman").lowercased()
        guard let runtime = ContainerRuntime(rawValue: runtimeName) else {
            throw .invalid("unknown Runtime '\(request.runtime!.debugEscaped)': use 'podman' or 'exec'")
        }
        self.runtime = runtime
        self.cmd = try Self.validateCommand(request.cmd ?? [], runtime: runtime)
        switch runtime {
        case .podman:
            guard let image = request.image, !image.isEmpty else { throw .invalid("Image is required for the podman runtime") }
            self.image = try Self.validateImage(image)
        case .exec:
            if let image = request.image, !image.isEmpty { throw .invalid("the exec runtime takes no Image: put the program in Cmd") }
            guard !cmd.isEmpty else { throw .invalid("Cmd is required for the exec runtime: the program and its arguments") }
            self.image = nil
        }
        self.started = request.started ?? false
        self.ports = try Self.validatePorts(request.ports ?? [], runtime: runtime)
        self.environment = try Self.validateEnvironment(request.environment ?? [])
        self.environmentID = try request.environmentID.map { id throws(GearError) in
            do throws(GearError) {
                return try EnvironmentID(id)
            } catch {
                throw .invalid("EnvironmentId: \(error.message)")
            }
        }
        if request.isolate == true {
            throw .invalid(
                "Isolate is not supported: geard's per-container user namespaces are not made here (podman isolates its containers, systemd sandboxes exec ones); send false"
            )
        }
        if request.socketActivation == true {
            throw .invalid("SocketActivation is not supported: containers listen on their ports themselves; send false")
        }
        if let source = request.environmentSource {
            throw .invalid(
                "Environment.Source '\(source.prefix(100).debugEscaped)': variables are not fetched from a URL; send them as Environment.Variables")
        }
        var volumes = request.volumes ?? []
        for (i, volume) in (request.volumeConfig?.volumes ?? []).enumerated() {
            volumes.append(VolumeRequest(name: try Self.volumeName(forPath: volume.path, index: i), path: volume.path))
        }
        self.volumes = try Self.validateVolumes(volumes)
        let mounts = request.volumeConfig?.volumeMounts ?? []
        self.binds = mounts.isEmpty ? nil : try Self.validateBinds(mounts, volumes: self.volumes)
        self.slice = try request.systemdSlice.flatMap { name throws(GearError) in name.isEmpty ? nil : try Self.validateSlice(name) }
        let links = try Self.validateLinks(request.networkLinks ?? [], field: "NetworkLinks")
        if !links.isEmpty, runtime == .exec {
            throw .invalid("NetworkLinks need the podman runtime: an exec container shares the host's network, where a link would bind for everyone")
        }
        self.links = links.isEmpty ? nil : links
        self.relax = try Self.validateRelax(request.relax ?? [], runtime: runtime)
        self.labels = try Self.validateLabels(request.labels ?? [:])
        self.health = try HealthSpec.validate(request, runtime: runtime, ports: self.ports)
        if let restart = request.restart {
            guard let policy = RestartPolicy(rawValue: restart.lowercased()) else {
                let allowed = RestartPolicy.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalid("unknown Restart '\(restart.debugEscaped)': use one of \(allowed)")
            }
            self.restart = policy
        } else {
            self.restart = .onFailure
        }
        self.memoryMax = try request.memory.map { limit throws(GearError) in try Self.parseMemory(limit.text) }
        self.cpuQuotaPercent = try request.cpus.map { cpus throws(GearError) in
            guard cpus.isFinite, cpus > 0, cpus <= Limits.maxCPUs else {
                throw .invalid("CPUs must be more than 0 and at most \(Int(Limits.maxCPUs))")
            }
            return max(1, Int((cpus * 100).rounded()))
        }
    }

    // MARK: fields

    /// Characters that make a value unsafe anywhere: NUL, line breaks and other control characters
    /// (a tab is allowed and escaped when written).
    static func firstForbiddenCharacter(_ value: String) -> Unicode.Scalar? {
        value.unicodeScalars.first { s in
            (s.value < 0x20 && s != "\t") || s.value == 0x7F || s == "\u{2028}" || s == "\u{2029}"
        }
    }

    /// Keys of 1 to 128 letters, digits, `.`, `_`, `-` and `/`, starting with a letter or digit; values of at most
    /// 1024 bytes of text without control characters.
    static func validateLabels(_ labels: [String: String]) throws(GearError) -> [String: String]? {
        guard labels.count <= Limits.maxLabels else { throw .invalid("more than \(Limits.maxLabels) Labels") }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            let bytes = Array(key.utf8)
            guard (1...Limits.maxLabelKeyBytes).contains(bytes.count), bytes[0].isASCIIAlphanumeric,
                bytes.allSatisfy({ $0.isASCIIAlphanumeric || "._-/".utf8.contains($0) })
            else {
                throw .invalid(
                    "Labels: key '\(key.prefix(100).debugEscaped)': use 1 to \(Limits.maxLabelKeyBytes) letters, digits, '.', '_', '-' or '/', starting with a letter or digit"
                )
            }
            guard value.utf8.count <= Limits.maxLabelValueBytes else {
                throw .invalid("Labels.\(key): the value is longer than \(Limits.maxLabelValueBytes) bytes")
            }
            if let bad = firstForbiddenCharacter(value) ?? value.unicodeScalars.first(where: { $0 == "\t" }) {
                throw .invalid("Labels.\(key): the value holds the control character U+\(String(bad.value, radix: 16, uppercase: true))")
            }
        }
        return labels.isEmpty ? nil : labels
    }

    static func validateImage(_ image: String) throws(GearError) -> String {
        let bytes = Array(image.utf8)
        let allowed: (UInt8) -> Bool = { b in
            b.isASCIIAlphanumeric || ".-_/:@".utf8.contains(b)
        }
        guard bytes.count <= Limits.maxImageLength, let first = bytes.first, first.isASCIIAlphanumeric, bytes.allSatisfy(allowed),
            !image.contains(".."), !image.contains("//")
        else {
            throw .invalid(
                "invalid Image '\(image.prefix(300).debugEscaped)': an image reference is letters, digits and . - _ / : @, starting with a letter or digit"
            )
        }
        return image
    }

    static func validateCommand(_ cmd: [String], runtime: ContainerRuntime) throws(GearError) -> [String] {
        guard cmd.count <= Limits.maxArguments else { throw .invalid("Cmd has more than \(Limits.maxArguments) arguments") }
        var total = 0
        for (i, argument) in cmd.enumerated() {
            if let bad = firstForbiddenCharacter(argument) {
                throw .invalid("Cmd[\(i)] contains a forbidden character (U+\(String(bad.value, radix: 16, uppercase: true)))")
            }
            guard argument.utf8.count <= Limits.maxArgumentBytes else { throw .invalid("Cmd[\(i)] is longer than \(Limits.maxArgumentBytes) bytes") }
            total += argument.utf8.count
        }
        guard total <= Limits.maxCommandBytes else { throw .invalid("Cmd is longer than \(Limits.maxCommandBytes) bytes") }
        if runtime == .exec, let program = cmd.first {
            // systemd reads prefix characters (`-@:+!`) at the start of ExecStart; a program must be an absolute
            // path or a plain name so that no request can ask for one.
            let bytes = Array(program.utf8)
            let plainName = !bytes.isEmpty && bytes[0].isASCIIAlphanumeric && !program.contains("/")
            // systemd takes only a normalized path to a file: no empty, `.` or `..` component, no trailing slash
            // (`/` alone is a directory: "bad unit file setting" at start, when the install had been accepted).
            let absolute =
                bytes.first == UInt8(ascii: "/")
                && program.split(separator: "/", omittingEmptySubsequences: false).dropFirst().allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
            guard plainName || absolute, !program.contains(" ") else {
                throw .invalid(
                    "Cmd[0] '\(program.prefix(200).debugEscaped)' must be a normalized absolute path to a program (/usr/bin/env) or a program name")
            }
        }
        return cmd
    }

    static func validatePorts(_ ports: [PortRequest], runtime: ContainerRuntime) throws(GearError) -> [PortSpec] {
        guard ports.count <= Limits.maxPorts else { throw .invalid("more than \(Limits.maxPorts) Ports") }
        if runtime == .exec, !ports.isEmpty {
            throw .invalid("the exec runtime runs in the host's network: it publishes no Ports (listen on a port directly)")
        }
        var internals = Set<Int>()
        var externals = Set<Int>()
        var result: [PortSpec] = []
        for (i, port) in ports.enumerated() {
            guard (1...65535).contains(port.internalPort) else {
                throw .invalid("Ports[\(i)].Internal \(port.internalPort) is not between 1 and 65535")
            }
            guard internals.insert(port.internalPort).inserted else { throw .invalid("Ports[\(i)].Internal \(port.internalPort) is given twice") }
            var external: Int? = nil
            if let e = port.externalPort, e != 0 {
                guard (1...65535).contains(e) else { throw .invalid("Ports[\(i)].External \(e) is not between 1 and 65535 (0 allocates one)") }
                guard externals.insert(e).inserted else { throw .invalid("Ports[\(i)].External \(e) is given twice") }
                external = e
            }
            result.append(PortSpec(internalPort: port.internalPort, externalPort: external))
        }
        return result
    }

    static func validateEnvironment(_ variables: [EnvironmentVariable]) throws(GearError) -> [EnvironmentVariable] {
        guard variables.count <= Limits.maxVariables else { throw .invalid("more than \(Limits.maxVariables) Environment variables") }
        var names = Set<String>()
        var total = 0
        for variable in variables {
            let name = variable.name
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count <= Limits.maxVariableNameBytes, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[0]),
                bytes.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") })
            else {
                throw .invalid("invalid Environment name '\(name.prefix(200).debugEscaped)': use letters, digits and '_', not starting with a digit")
            }
            guard names.insert(name).inserted else { throw .invalid("Environment variable \(name) is given twice") }
            if let bad = firstForbiddenCharacter(variable.value) {
                throw .invalid("Environment value of \(name) contains a forbidden character (U+\(String(bad.value, radix: 16, uppercase: true)))")
            }
            guard variable.value.utf8.count <= Limits.maxVariableValueBytes else {
                throw .invalid("Environment value of \(name) is longer than \(Limits.maxVariableValueBytes) bytes")
            }
            total += bytes.count + variable.value.utf8.count
        }
        guard total <= Limits.maxEnvironmentBytes else { throw .invalid("Environment is larger than \(Limits.maxEnvironmentBytes) bytes") }
        return variables.sorted { $0.name < $1.name }
    }

    static func validateVolumes(_ volumes: [VolumeRequest]) throws(GearError) -> [VolumeSpec] {
        guard volumes.count <= Limits.maxVolumes else { throw .invalid("more than \(Limits.maxVolumes) Volumes") }
        var names = Set<String>()
        var paths = Set<String>()
        var result: [VolumeSpec] = []
        for (i, volume) in volumes.enumerated() {
            let nameBytes = Array(volume.name.utf8)
            guard (1...63).contains(nameBytes.count), nameBytes[0].isASCIIAlphanumeric,
                nameBytes.allSatisfy({ $0.isASCIIAlphanumeric || "_.-".utf8.contains($0) })
            else {
                throw .invalid(
                    "invalid Volumes[\(i)].Name '\(volume.name.prefix(100).debugEscaped)': use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit"
                )
            }
            let path = volume.path
            let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            let pathBytes = Array(path.utf8)
            guard pathBytes.first == UInt8(ascii: "/"), pathBytes.count > 1, pathBytes.count <= Limits.maxVolumePathBytes,
                pathBytes.allSatisfy({ $0.isASCIIAlphanumeric || "/._-+@".utf8.contains($0) }),
                components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." })
            else {
                throw .invalid(
                    "invalid Volumes[\(i)].Path '\(path.prefix(200).debugEscaped)': use an absolute, normalized path of letters, digits and / . _ - + @"
                )
            }
            guard names.insert(volume.name).inserted else { throw .invalid("volume \(volume.name) is given twice") }
            guard paths.insert(path).inserted else { throw .invalid("volume path \(path) is given twice") }
            result.append(VolumeSpec(name: volume.name, path: path, readOnly: volume.readOnly ?? false))
        }
        return result
    }

    static func validateRelax(_ names: [String], runtime: ContainerRuntime) throws(GearError) -> [SandboxRelaxation]? {
        guard !names.isEmpty else { return nil }
        guard runtime == .exec else { throw .invalid("Relax applies to the exec runtime's sandbox (podman isolates its containers itself)") }
        var result = Set<SandboxRelaxation>()
        for name in names {
            guard let relaxation = SandboxRelaxation.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
                let known = SandboxRelaxation.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalid("unknown Relax '\(name.prefix(60).debugEscaped)': use \(known)")
            }
            result.insert(relaxation)
        }
        return result.sorted { $0.rawValue < $1.rawValue }
    }

    /// The name of a volume geard's `VolumeConfig` gives by path only: its components joined by `-` (`/var/lib/db`
    /// is `var-lib-db`).
    static func volumeName(forPath path: String, index: Int) throws(GearError) -> String {
        let name = path.split(separator: "/").joined(separator: "-")
        guard let first = name.utf8.first, first.isASCIIAlphanumeric, name.utf8.count <= 63 else {
            throw .invalid(
                "invalid VolumeConfig.Volumes[\(index)].Path '\(path.prefix(200).debugEscaped)': use an absolute path starting with a letter or digit, of at most 63 characters"
            )
        }
        return name
    }

    /// Paths for unit files and podman's `--volume`: absolute, normalized, of letters, digits and `/ . _ - + @`.
    static func isSafePath(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        return bytes.first == UInt8(ascii: "/") && bytes.count > 1 && bytes.count <= Limits.maxVolumePathBytes
            && bytes.allSatisfy({ $0.isASCIIAlphanumeric || "/._-+@".utf8.contains($0) })
            && components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." })
    }

    static func validateBinds(_ mounts: [VolumeConfig.Mount], volumes: [VolumeSpec]) throws(GearError) -> [BindSpec] {
        guard mounts.count <= Limits.maxVolumes else { throw .invalid("more than \(Limits.maxVolumes) VolumeMounts") }
        var paths = Set(volumes.map(\.path))
        var result: [BindSpec] = []
        for (i, mount) in mounts.enumerated() {
            for (field, value) in [("Path", mount.path), ("HostPath", mount.hostPath)] where !isSafePath(value) {
                throw .invalid(
                    "invalid VolumeConfig.VolumeMounts[\(i)].\(field) '\(value.prefix(200).debugEscaped)': use an absolute, normalized path of letters, digits and / . _ - + @"
                )
            }
            guard paths.insert(mount.path).inserted else { throw .invalid("volume path \(mount.path) is given twice") }
            result.append(BindSpec(hostPath: mount.hostPath, path: mount.path, readOnly: mount.readOnly ?? false))
        }
        return result
    }

    /// geard's slice names (`container`, `container-small`, `container-large`) and the like: lower-case letters,
    /// digits and single dashes, at most 32, so that `gear-{name}.slice` is a slice under gear.slice.
    static func validateSlice(_ name: String) throws(GearError) -> String {
        let bytes = Array(name.utf8)
        guard (1...32).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-"), !name.contains("--"),
            bytes.allSatisfy({
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "-")
            })
        else {
            throw .invalid(
                "invalid SystemdSlice '\(name.prefix(60).debugEscaped)': use up to 32 lower-case letters, digits and single dashes (such as container-small)"
            )
        }
        return name
    }

    /// Links as geard's `NetworkLinks` give them: `FromPort` 1-65535, `FromHost` a loopback address inside the
    /// container (default 127.0.0.1), `ToHost` an IPv4 address or `localhost` as the node reaches it, `ToPort` 0-65535
    /// (0 or no host: kept, but leading nowhere yet).
    public static func validateLinks(_ links: [NetworkLink], field: String) throws(GearError) -> [LinkSpec] {
        guard links.count <= Limits.maxPorts else { throw .invalid("more than \(Limits.maxPorts) \(field)") }
        var seen = Set<String>()
        var result: [LinkSpec] = []
        for (i, link) in links.enumerated() {
            let from = (link.fromHost ?? "").isEmpty ? "127.0.0.1" : link.fromHost!
            guard let octets = ipv4(from), octets[0] == 127 else {
                throw .invalid("\(field)[\(i)].FromHost '\(from.prefix(60).debugEscaped)' must be a loopback IPv4 address (127.x.x.x)")
            }
            guard (1...65535).contains(link.fromPort) else {
                throw .invalid("\(field)[\(i)].FromPort \(link.fromPort): the from port must be between 1 and 65535")
            }
            guard seen.insert("\(from):\(link.fromPort)").inserted else { throw .invalid("\(field)[\(i)]: \(from):\(link.fromPort) is given twice") }
            var toHost: String? = nil
            if let host = link.toHost, !host.isEmpty {
                guard host == "localhost" || ipv4(host) != nil else {
                    throw .invalid("\(field)[\(i)].ToHost '\(host.prefix(60).debugEscaped)' must be an IPv4 address or localhost")
                }
                toHost = host == "localhost" ? "127.0.0.1" : host
            }
            let toPort = link.toPort ?? 0
            guard (0...65535).contains(toPort) else { throw .invalid("\(field)[\(i)].ToPort \(toPort) must be between 0 and 65535") }
            let complete = toHost != nil && toPort > 0
            result.append(LinkSpec(fromHost: from, fromPort: link.fromPort, toHost: complete ? toHost : nil, toPort: complete ? toPort : nil))
        }
        return result
    }

    /// The four octets of a dotted IPv4 address, or nil.
    static func ipv4(_ text: String) -> [Int]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [Int] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), let value = Int(part), (0...255).contains(value) else { return nil }
            octets.append(value)
        }
        return octets
    }

    /// Parses `1048576`, `512K`, `256M`, `1G`, `2T` (powers of 1024; `KiB`, `MB` and friends read the same way).
    static func parseMemory(_ text: String) throws(GearError) -> UInt64 {
        guard let bytes = MemoryLimit(text).bytes else {
            throw .invalid("invalid Memory '\(text.prefix(100).debugEscaped)': use bytes or a number with K, M, G or T")
        }
        guard bytes >= Limits.minMemory else { throw .invalid("Memory must be at least 4M") }
        return bytes
    }
}
