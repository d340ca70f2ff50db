import GearAPI
import Testing

@testable import GearCore

@Suite struct ContainerSpecTests {
    @Test func aValidPodmanRequestIsNormalized() throws {
        let spec = try ContainerSpec(
            validating: InstallRequest(
                image: "docker.io/library/nginx:1.25", cmd: ["nginx", "-g", "daemon off;"], started: true,
                ports: [PortRequest(internal: 80, external: 0), PortRequest(internal: 443, external: 8443)],
                environment: [EnvironmentVariable(name: "Z", value: "1"), EnvironmentVariable(name: "A", value: "$x %n \"q\"")],
                volumes: [VolumeRequest(name: "data", path: "/var/lib/data")], restart: "Always", memory: "512M", cpus: 1.5))
        #expect(spec.runtime == .podman)
        #expect(spec.ports == [PortSpec(internalPort: 80, externalPort: nil), PortSpec(internalPort: 443, externalPort: 8443)])
        #expect(spec.environment.map(\.name) == ["A", "Z"])
        #expect(spec.restart == .always)
        #expect(spec.memoryMax == 512 << 20)
        #expect(spec.cpuQuotaPercent == 150)
        #expect(spec.started)
    }

    @Test func defaults() throws {
        let spec = try ContainerSpec(validating: InstallRequest(image: "localhost/busybox"))
        #expect(spec.runtime == .podman && !spec.started && spec.restart == .onFailure && spec.cmd.isEmpty)
        #expect(spec.memoryMax == nil && spec.cpuQuotaPercent == nil)
    }

    static let invalid: [(InstallRequest, String)] = [
        (InstallRequest(), "Image is required"),
        (InstallRequest(image: "a\nb"), "invalid Image"),
        (InstallRequest(image: "-privileged"), "invalid Image"),
        (InstallRequest(image: "a b"), "invalid Image"),
        (InstallRequest(image: "a/%n"), "invalid Image"),
        (InstallRequest(image: "../x"), "invalid Image"),
        (InstallRequest(image: String(repeating: "a", count: 256)), "invalid Image"),
        (InstallRequest(image: "a", runtime: "lxc"), "unknown Runtime"),
        (InstallRequest(image: "a", cmd: ["x\ny"]), "Cmd[0] contains a forbidden character (U+A)"),
        (InstallRequest(image: "a", cmd: ["ok", "x\u{0}y"]), "Cmd[1] contains a forbidden character"),
        (InstallRequest(image: "a", cmd: ["\u{7F}"]), "forbidden character"),
        (InstallRequest(image: "a", cmd: Array(repeating: "x", count: 257)), "more than 256 arguments"),
        (InstallRequest(image: "a", cmd: [String(repeating: "x", count: 16 * 1024 + 1)]), "longer than"),
        (InstallRequest(runtime: "exec"), "Cmd is required"),
        (InstallRequest(image: "a", runtime: "exec", cmd: ["/bin/true"]), "takes no Image"),
        (InstallRequest(runtime: "exec", cmd: ["+/bin/sh"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["-/bin/sh"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["@/bin/sh"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["bin/sh"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["/bin/../bin/sh"]), "absolute path to a program (/usr/bin/env) or a program name"),
        // Paths systemd would refuse at start ("bad unit file setting"): a directory, empty or `.` components.
        (InstallRequest(runtime: "exec", cmd: ["/"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["/usr/bin/"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["/usr//bin/env"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["/usr/./bin/env"]), "absolute path to a program (/usr/bin/env) or a program name"),
        (InstallRequest(runtime: "exec", cmd: ["/bin/true"], ports: [PortRequest(internal: 80)]), "publishes no Ports"),
        (InstallRequest(image: "a", ports: [PortRequest(internal: 0)]), "Ports[0].Internal 0"),
        (InstallRequest(image: "a", ports: [PortRequest(internal: 65536)]), "Ports[0].Internal 65536"),
        (InstallRequest(image: "a", ports: [PortRequest(internal: 80, external: 70000)]), "Ports[0].External 70000"),
        (InstallRequest(image: "a", ports: [PortRequest(internal: 80), PortRequest(internal: 80)]), "Internal 80 is given twice"),
        (
            InstallRequest(image: "a", ports: [PortRequest(internal: 80, external: 9000), PortRequest(internal: 81, external: 9000)]),
            "External 9000 is given twice"
        ),
        (InstallRequest(image: "a", environment: [EnvironmentVariable(name: "1A", value: "")]), "invalid Environment name"),
        (InstallRequest(image: "a", environment: [EnvironmentVariable(name: "A-B", value: "")]), "invalid Environment name"),
        (InstallRequest(image: "a", environment: [EnvironmentVariable(name: "", value: "")]), "invalid Environment name"),
        (
            InstallRequest(image: "a", environment: [EnvironmentVariable(name: "A", value: "x\ny")]),
            "Environment value of A contains a forbidden character"
        ),
        (InstallRequest(image: "a", environment: [EnvironmentVariable(name: "A", value: "x\ry")]), "forbidden character"),
        (
            InstallRequest(image: "a", environment: [EnvironmentVariable(name: "A", value: "1"), EnvironmentVariable(name: "A", value: "2")]),
            "given twice"
        ),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "relative")]), "invalid Volumes[0].Path"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/")]), "invalid Volumes[0].Path"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/a/../b")]), "invalid Volumes[0].Path"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/a//b")]), "invalid Volumes[0].Path"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/a:/b")]), "invalid Volumes[0].Path"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/a b")]), "invalid Volumes[0].Path"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/%n")]), "invalid Volumes[0].Path"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "..", path: "/a")]), "invalid Volumes[0].Name"),
        (InstallRequest(image: "a", volumes: [VolumeRequest(name: "a/b", path: "/a")]), "invalid Volumes[0].Name"),
        (
            InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/a"), VolumeRequest(name: "d", path: "/b")]),
            "volume d is given twice"
        ),
        (
            InstallRequest(image: "a", volumes: [VolumeRequest(name: "d", path: "/a"), VolumeRequest(name: "e", path: "/a")]),
            "volume path /a is given twice"
        ),
        (InstallRequest(image: "a", restart: "sometimes"), "unknown Restart"),
        (InstallRequest(image: "a", memory: "lots"), "invalid Memory"),
        (InstallRequest(image: "a", memory: "1K"), "at least 4M"),
        (InstallRequest(image: "a", memory: "99999999999T"), "invalid Memory"),
        (InstallRequest(image: "a", cpus: 0), "CPUs must be"),
        (InstallRequest(image: "a", cpus: -1), "CPUs must be"),
        (InstallRequest(image: "a", cpus: 5000), "CPUs must be"),
        (InstallRequest(image: "a", cpus: .nan), "CPUs must be"),
        (labelled(["": "x"]), "Labels: key ''"),
        (labelled(["-x": "x"]), "starting with a letter or digit"),
        (labelled(["a b": "x"]), "Labels: key 'a b'"),
        (labelled(["a=b": "x"]), "Labels: key 'a=b'"),
        (labelled([String(repeating: "k", count: 129): "x"]), "1 to 128"),
        (labelled(["k": "line\nbreak"]), "Labels.k: the value holds the control character U+A"),
        (labelled(["k": "tab\there"]), "control character U+9"),
        (labelled(["k": String(repeating: "v", count: 1025)]), "longer than 1024"),
        (labelled(Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })), "more than 64 Labels"),
    ]

    static func labelled(_ labels: [String: String]) -> InstallRequest {
        var request = InstallRequest(image: "a")
        request.labels = labels
        return request
    }

    @Test func labelsAreKeptAndNoLabelsIsNil() throws {
        let spec = try ContainerSpec(validating: Self.labelled(["gear.deployment": "app", "team/a": "ünï x"]))
        #expect(spec.labels == ["gear.deployment": "app", "team/a": "ünï x"])
        #expect(try ContainerSpec(validating: Self.labelled([:])).labels == nil)
    }

    @Test(arguments: invalid)
    func invalidRequestsAreRefusedWithAMessageNamingTheField(_ request: InstallRequest, _ fragment: String) {
        #expect {
            try ContainerSpec(validating: request)
        } throws: { error in
            guard let error = error as? GearError else { return false }
            return error.code == .invalidRequest && error.message.contains(fragment)
        }
    }

    @Test(arguments: [
        ("8388608", UInt64(8 << 20)), ("4M", UInt64(4 << 20)), ("512MiB", UInt64(512 << 20)), ("1G", UInt64(1 << 30)),
        ("2gb", UInt64(2 << 30)), ("1T", UInt64(1) << 40), ("8192k", UInt64(8 << 20)),
    ])
    func memoryParsing(_ text: String, _ bytes: UInt64) throws {
        #expect(try ContainerSpec.parseMemory(text) == bytes)
    }

    @Test(arguments: ["web", "a", "A-1_b", "web.1", "db.tenant-a.2", String(repeating: "x", count: 64)])
    func validIDs(_ id: String) throws {
        #expect(try ContainerID(id).unitName == "ctr-\(id).service")
    }

    @Test(arguments: ["", "..", ".", ".a", "a/b", "a b", "-a", "_a", "ünï", "a%n", "a@b", "a\nb", String(repeating: "x", count: 65)])
    func invalidIDs(_ id: String) {
        #expect(throws: GearError.self) { try ContainerID(id) }
    }

    @Test(arguments: [
        ("0123456789abcdef0123456789ABCDEF", true), ("123e4567-e89b-12d3-a456-426614174000", true),
        ("0123456789abcdef", false), ("../../etc/passwd", false), ("0123456789abcdef0123456789abcdeg", false), ("", false),
        // geard's client: 16 bytes in base64url, 22 characters (or 24 with the padding).
        ("-sF3yxGNFLDjxZeer_fP0A", true), ("-sF3yxGNFLDjxZeer_fP0A==", true), ("-sF3yxGNFLDjxZeer_fP0B", false),
        ("-sF3yxGNFLDjxZeer_fP0A=", false), ("-sF3yxGNFLDjxZeer/fP0A", false), ("-sF3yxGNFLDjxZeer_fP0A=x", false),
    ])
    func requestIDs(_ value: String, _ valid: Bool) {
        #expect(((try? RequestID(value)) != nil) == valid)
    }

    @Test func longIDsGetAPortableExecUserName() throws {
        #expect(try ContainerID("web").execUserName == "ctr-web")
        let long = try ContainerID(String(repeating: "a", count: 64))
        #expect(long.execUserName.utf8.count <= 31)
        #expect(long.execUserName != (try ContainerID(String(repeating: "a", count: 63))).execUserName)
    }

    @Test func base64RequestIDsAreTheHexOfTheirBytesAndDerivedOnesStable() throws {
        #expect(try RequestID("-sF3yxGNFLDjxZeer_fP0A").rawValue == "fac177cb118d14b0e3c5979eaff7cfd0")
        #expect(try RequestID("-sF3yxGNFLDjxZeer_fP0A==") == RequestID("FAC177CB118D14B0E3C5979EAFF7CFD0"))
        // Case matters in base64url: another id, not the same one.
        #expect(try RequestID("-SF3yxGNFLDjxZeer_fP0A") != RequestID("-sF3yxGNFLDjxZeer_fP0A"))
        let id = try RequestID("0123456789abcdef0123456789abcdef")
        #expect(id.derived(for: "web") == id.derived(for: "web") && id.derived(for: "web") != id.derived(for: "db"))
        #expect(try RequestID(id.derived(for: "web").rawValue) == id.derived(for: "web"))
    }

    @Test func dottedIDsGetAPortableExecUserName() throws {
        let name = try ContainerID("web.1").execUserName
        #expect(!name.contains(".") && name.hasPrefix("ctr-web-1-"))
    }

    @Test(arguments: [("env1", true), ("-_x9", true), ("a.b", true), (".hidden", false), ("x.podman", false), ("a/b", false), ("", false)])
    func environmentIDs(_ value: String, _ valid: Bool) {
        #expect(((try? EnvironmentID(value)) != nil) == valid)
    }

    @Test func geardsFieldsAreValidated() throws {
        var request = InstallRequest(image: "localhost/busybox")
        request.systemdSlice = "container-small"
        request.volumeConfig = VolumeConfig(volumes: [.init(path: "/var/lib/db")])
        request.networkLinks = [NetworkLink(fromPort: 8081, toHost: "localhost", toPort: 4000), NetworkLink(fromPort: 9000, toHost: nil, toPort: 0)]
        let spec = try ContainerSpec(validating: request)
        #expect(spec.slice == "container-small")
        #expect(spec.volumes == [VolumeSpec(name: "var-lib-db", path: "/var/lib/db", readOnly: false)])
        #expect(
            spec.links == [
                LinkSpec(fromHost: "127.0.0.1", fromPort: 8081, toHost: "127.0.0.1", toPort: 4000),
                LinkSpec(fromHost: "127.0.0.1", fromPort: 9000, toHost: nil, toPort: nil),
            ])
        for change in [
            { (r: inout InstallRequest) in r.isolate = true }, { $0.socketActivation = true }, { $0.systemdSlice = "a--b" },
            { $0.systemdSlice = "Big" }, { $0.networkLinks = [NetworkLink(fromHost: "10.0.0.1", fromPort: 80, toHost: nil, toPort: nil)] },
            { $0.networkLinks = [NetworkLink(fromPort: 80, toHost: "db.example", toPort: 80)] },
            { $0.volumeConfig = VolumeConfig(volumeMounts: [.init(path: "/srv", hostPath: "/a:b")]) },
            { $0.environmentSource = "http://x" },
        ] as [(inout InstallRequest) -> Void] {
            var bad = InstallRequest(image: "localhost/busybox")
            change(&bad)
            #expect(throws: GearError.self) { try ContainerSpec(validating: bad) }
        }
        var exec = InstallRequest(runtime: "exec", cmd: ["/bin/true"])
        exec.networkLinks = [NetworkLink(fromPort: 8081, toHost: "127.0.0.1", toPort: 80)]
        #expect(throws: GearError.self) { try ContainerSpec(validating: exec) }
    }
}
