import Foundation
import GearAPI
import Testing

@testable import GearCore

@Suite struct UnitRendererTests {
    let renderer = UnitRenderer(layout: try! StateLayout(root: "/var/lib/gear"))

    func definition(_ request: InstallRequest, id: String = "web", ports: [PortMapping] = []) throws -> ContainerDefinition {
        let spec = try ContainerSpec(validating: request)
        return ContainerDefinition(
            id: try ContainerID(id), spec: spec, ports: ports, started: spec.started, createdAt: Date(), updatedAt: Date())
    }

    @Test(arguments: [
        ("plain", "\"plain\""),
        ("a b", "\"a b\""),
        ("$HOME", "\"$$HOME\""),
        ("%n", "\"%%n\""),
        ("q\"x", "\"q\\\"x\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("tab\there", "\"tab\\there\""),
        (";", "\";\""),
        ("", "\"\""),
    ])
    func commandArgumentsAreQuotedBySystemdsRules(_ value: String, _ expected: String) {
        #expect(UnitEscaping.commandArgument(value) == expected)
    }

    @Test func environmentFilesEscapeWhatSystemdUnquotes() {
        // Inside double quotes systemd takes \\, \", \` and \$ as the character and expands nothing; % is literal.
        #expect(UnitEscaping.environmentFileLine(name: "A", value: #"$x %n "q" \ `b` ${Y}"#) == #"A="\$x %n \"q\" \\ \`b\` \${Y}""# + "\n")
        #expect(UnitEscaping.environmentFileLine(name: "B", value: #"ends with \"#) == #"B="ends with \\""# + "\n")
    }

    @Test func controlCharactersCanNeverBreakALine() {
        // Validation refuses them; the escaping still never writes one raw.
        #expect(UnitEscaping.commandArgument("a\nb\rc\u{0}") == #""a\x0ab\x0dc\x00""#)
    }

    @Test func unitsJoinTheConfiguredNetworkNamespaceAndNoneOtherwise() throws {
        let definition = try definition(InstallRequest(image: "localhost/busybox"), ports: [])
        var inNamespace = renderer
        inNamespace.networkNamespace = "/run/netns/gear-h1"
        #expect(inNamespace.unitFile(definition).split(separator: "\n").contains("NetworkNamespacePath=/run/netns/gear-h1"))
        #expect(!renderer.unitFile(definition).contains("NetworkNamespacePath"))
    }

    @Test func podmanUnitFollowsPodmanGenerateSystemdNew() throws {
        let text = renderer.unitFile(
            try definition(
                InstallRequest(
                    image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080"], started: true, ports: [PortRequest(internal: 8080)],
                    environment: [EnvironmentVariable(name: "A", value: "1")], volumes: [VolumeRequest(name: "data", path: "/data")],
                    memory: "64M", cpus: 0.5),
                ports: [PortMapping(internal: 8080, external: 4000)]))
        let lines = text.split(separator: "\n").map(String.init)
        for expected in [
            "Type=notify", "NotifyAccess=all", "KillMode=mixed", "Slice=gear.slice", "Restart=on-failure", "MemoryMax=67108864",
            "CPUQuota=50%", "WantedBy=gear-active.target", "ExecStartPre=\"/bin/rm\" \"-f\" \"/run/ctr-web.service.ctr-id\"",
            "ExecStop=\"/usr/bin/podman\" \"rm\" \"-f\" \"-v\" \"--ignore\" \"-t\" \"10\" \"--cidfile=/run/ctr-web.service.ctr-id\"",
            "OnFailure=gear-podman-cleanup@ctr-web.service",
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        // Nothing runs after a clean stop: the cleanup is the OnFailure= unit's.
        #expect(!lines.contains { $0.hasPrefix("ExecStopPost=") })
        let execStart = try #require(lines.first { $0.hasPrefix("ExecStart=") })
        for part in [
            "\"--cidfile=/run/ctr-web.service.ctr-id\"", "\"--cgroups=split\"", "\"--rm\"", "\"--sdnotify=conmon\"", "\"--replace\"",
            "\"--publish\" \"4000:8080\"", "\"--volume\" \"/var/lib/gear/volumes/web/data:/data\"",
            "\"--env-file\" \"/var/lib/gear/env/web.env\"", "\"localhost/busybox\" \"httpd\" \"-f\" \"-p\" \"8080\"",
        ] {
            #expect(execStart.contains(part), "\(part)")
        }
        #expect(
            renderer.environmentFile(try definition(InstallRequest(image: "a", environment: [EnvironmentVariable(name: "A", value: "x $y %z")])))
                == "A=x $y %z\n")
    }

    @Test func thePodmanCleanupTemplateRemovesTheContainerOfTheUnitThatFailed() throws {
        let template = InfrastructureUnits.podmanCleanupText(podmanPath: "/usr/bin/podman")
        let id = try ContainerID("my.web_1")
        // systemd's %i of the instance the unit names is the podman name; expanded, the cleanup's cidfile and
        // ordering are the unit's own.
        let instance = InfrastructureUnits.podmanCleanupInstance(id)
        let name = try #require(instance.split(separator: "@").last?.dropLast(".service".count)).description
        #expect(name == id.podmanName)
        let expanded = template.replacingOccurrences(of: "%i", with: name)
        #expect(expanded.contains("\nBefore=\(id.unitName)\n"))
        #expect(
            expanded.contains(
                #"ExecStart="/usr/bin/podman" "rm" "-f" "-v" "--ignore" "-t" "10" "--cidfile="#
                    + renderer.cidFile(id) + "\"\n"))
        #expect(expanded.contains("Type=oneshot"))
        #expect(renderer.unitFile(try definition(InstallRequest(runtime: "exec", cmd: ["/bin/true"]))).contains("OnFailure=") == false)
    }

    @Test func aNamedEnvironmentComesBeforeTheContainersOwnVariables() throws {
        let own = [EnvironmentVariable(name: "A", value: "1")]
        let podman = renderer.unitFile(try definition(InstallRequest(image: "localhost/busybox", environment: own, environmentID: "shared")))
        let execStart = try #require(podman.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        #expect(execStart.contains(#""--env-file" "/var/lib/gear/environments/shared.podman.env" "--env-file" "/var/lib/gear/env/web.env""#))
        let exec = renderer.unitFile(try definition(InstallRequest(runtime: "exec", cmd: ["/bin/true"], environment: own, environmentID: "shared")))
        let files = exec.split(separator: "\n").filter { $0.hasPrefix("EnvironmentFile=") }
        #expect(files == ["EnvironmentFile=/var/lib/gear/environments/shared.env", "EnvironmentFile=/var/lib/gear/env/web.env"])
        #expect(!exec.contains("\nEnvironment="))
        let alone = renderer.unitFile(try definition(InstallRequest(runtime: "exec", cmd: ["/bin/true"], environmentID: "shared")))
        #expect(alone.split(separator: "\n").filter { $0.hasPrefix("EnvironmentFile=") } == ["EnvironmentFile=/var/lib/gear/environments/shared.env"])
        #expect(renderer.environmentFile(try definition(InstallRequest(runtime: "exec", cmd: ["/bin/true"], environment: own))) == "A=\"1\"\n")
    }

    @Test func execUnitIsSandboxed() throws {
        let text = renderer.unitFile(
            try definition(
                InstallRequest(runtime: "exec", cmd: ["/usr/bin/worker", "-v"], volumes: [VolumeRequest(name: "d", path: "/d")]), id: "job"))
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            "Type=exec", "DynamicUser=yes", "User=ctr-job", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict",
            "ProtectHome=yes", "ExecStart=\"/usr/bin/worker\" \"-v\"", "BindPaths=/var/lib/gear/volumes/job/d:/d",
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        #expect(text.contains("ExecStartPre=+\"/bin/sh\""))
    }

    /// Whatever a request holds, the unit has exactly the lines the renderer writes: no value can add one.
    @Test func noValueCanAddALineOrADirective() throws {
        let hostile = [
            "x\n[Service]\nExecStartPre=/bin/evil", "%n%i%%", "$(evil)", "\\\n", "\"", "'", "; /bin/evil", "a\\", "\\", "\u{2028}",
        ]
        let baseline = renderer.unitFile(
            try definition(InstallRequest(runtime: "exec", cmd: ["/bin/true", "x"], environment: [EnvironmentVariable(name: "A", value: "x")])))
        let baselineLines = baseline.split(separator: "\n", omittingEmptySubsequences: false).count
        for value in hostile {
            guard
                let spec = try? ContainerSpec(
                    validating: InstallRequest(
                        runtime: "exec", cmd: ["/bin/true", value], environment: [EnvironmentVariable(name: "A", value: value)]))
            else {
                continue  // refused by validation: fine too
            }
            let text = renderer.unitFile(
                ContainerDefinition(id: try ContainerID("web"), spec: spec, ports: [], started: false, createdAt: Date(), updatedAt: Date()))
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == baselineLines, "\(value.debugDescription)")
            #expect(!lines.contains { $0.hasSuffix("\\") }, "a line continues onto the next for \(value.debugDescription)")
            #expect(lines.filter { $0.hasPrefix("ExecStart") }.count == 1)
            // The environment file: one line, quoted, with no quote, backtick or dollar left unescaped.
            let environment = try #require(
                renderer.environmentFile(
                    ContainerDefinition(
                        id: try ContainerID("web"), spec: spec, ports: [], started: false, createdAt: Date(), updatedAt: Date())))
            #expect(environment.split(separator: "\n", omittingEmptySubsequences: false).count == 2, "\(value.debugDescription)")
            var escaped = false
            for c in environment.dropFirst(3).dropLast(2) {
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else {
                    #expect(c != "\"" && c != "$" && c != "`", "\(value.debugDescription)")
                }
            }
            #expect(!escaped)
        }
    }
}
