import Foundation
import GearAPI
import Testing

@Suite struct InstallRequestDecodingTests {
    func decode(_ json: String) throws -> InstallRequest {
        try GearJSON.decoder().decode(InstallRequest.self, from: Data(json.utf8))
    }

    @Test func geardsFieldNamesAreReadCaseInsensitively() throws {
        let a = try decode(#"{"Image":"localhost/busybox","Cmd":["httpd"],"Ports":[{"Internal":8080,"External":0}],"Started":true}"#)
        let b = try decode(#"{"image":"localhost/busybox","cmd":["httpd"],"ports":[{"internal":8080,"external":0}],"started":true}"#)
        let c = try decode(#"{"IMAGE":"localhost/busybox","CMD":["httpd"],"pOrTs":[{"INTERNAL":8080,"EXTERNAL":0}],"STARTED":true}"#)
        #expect(a == b && b == c)
        #expect(a.image == "localhost/busybox" && a.cmd == ["httpd"] && a.started == true)
        #expect(a.ports == [PortRequest(internal: 8080, external: 0)])
    }

    @Test(arguments: [
        #"{"Environment":{"A":"1","B":"two words"}}"#,
        #"{"Environment":{"Variables":[{"Name":"A","Value":"1"},{"Name":"B","Value":"two words"}]}}"#,
        #"{"environment":[{"name":"A","value":"1"},{"name":"B","value":"two words"}]}"#,
        #"{"Environment":["A=1","B=two words"]}"#,
    ])
    func environmentInEveryShapeClientsSend(_ json: String) throws {
        let variables = try #require(try decode(json).environment)
        #expect(Set(variables) == [EnvironmentVariable(name: "A", value: "1"), EnvironmentVariable(name: "B", value: "two words")])
    }

    @Test func anUnknownFieldIsAnErrorNamingIt() throws {
        #expect {
            try decode(#"{"Imagee":"x"}"#)
        } throws: { error in
            "\(error)".contains("unknown field 'Imagee'")
        }
    }

    @Test func aFieldGivenTwiceInDifferentCasingsIsAnError() throws {
        #expect {
            try decode(#"{"Image":"a","image":"b"}"#)
        } throws: { error in
            "\(error)".contains("more than once")
        }
    }

    @Test func memoryTakesBytesOrAString() throws {
        #expect(try decode(#"{"Memory":1048576}"#).memory == MemoryLimit("1048576"))
        #expect(try decode(#"{"Memory":"256M"}"#).memory == MemoryLimit("256M"))
    }

    @Test func wrongTypesAreErrors() {
        #expect(throws: DecodingError.self) { try decode(#"{"Started":"yes"}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"Ports":[{"Internal":"80"}]}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"Ports":[{"External":80}]}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"Environment":{"A":1}}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"Environment":["NOEQUALS"]}"#) }
    }

    /// A value that starts with a combining mark makes `=` and the mark one Character: the split is by scalar, so
    /// `A=\u{0363}` is still A set to the mark, in every form that takes `KEY=VALUE` (found by the environment fuzz
    /// target).
    @Test func aValueStartingWithACombiningMarkSplitsAtItsEquals() throws {
        let expected = EnvironmentVariable(name: "A", value: "\u{0363}x")
        #expect(EnvironmentVariable(assignment: "A=\u{0363}x") == expected)
        #expect(KeyValue.split("=\u{0363}") == nil)
        #expect(KeyValue.split("\u{0363}") == nil)
        #expect(KeyValue.hasEquals("X=\u{0363}") && !"X=\u{0363}".contains("="))
        #expect(try decode(#"{"Environment":["A=\#u{0363}x"]}"#).environment == [expected])
        #expect(try EnvironmentChange.parse(Array("# c\nA=\u{0363}x\n".utf8)).set == [expected])
        let query = try InteractiveExecRequest(queryItems: [("cmd", "env"), ("env", "A=\u{0363}x")])
        #expect(query.exec.env == ["A": "\u{0363}x"])
    }

    @Test func encodingUsesGeardsNamesAndDecodesBack() throws {
        let request = InstallRequest(
            image: "localhost/busybox", runtime: "podman", cmd: ["a", "b"], started: true, ports: [PortRequest(internal: 80)],
            environment: [EnvironmentVariable(name: "A", value: "1")], volumes: [VolumeRequest(name: "d", path: "/d")], restart: "always",
            memory: "64M", cpus: 0.5)
        let data = try GearJSON.encoder().encode(request)
        #expect(String(decoding: data, as: UTF8.self).contains(#""Image":"localhost/busybox""#))
        #expect(try GearJSON.decoder().decode(InstallRequest.self, from: data) == request)
    }

    @Test func datesRoundTripToTheSameText() throws {
        for _ in 0..<1000 {
            let date = Date(timeIntervalSince1970: Double.random(in: 1_600_000_000...1_900_000_000))
            let text = GearJSON.format(date)
            let again = try GearJSON.decoder().decode([Date].self, from: Data("[\"\(text)\"]".utf8))[0]
            #expect(GearJSON.format(again) == text)
            #expect(abs(again.timeIntervalSince(date)) <= 0.0005 + 1e-6)
        }
    }

    @Test func geardsClientsWholeBodyIsRead() throws {
        let body =
            #"{"Id":"web1","Image":"localhost/busybox","Simple":false,"Isolate":false,"SocketActivation":false,"SkipSocketProxy":false,"Ports":[{"Internal":8080}],"Environment":{"Variables":[{"Name":"A","Value":"1"}],"Source":"","Id":"-Xy_z"},"NetworkLinks":[{"FromHost":"127.0.0.1","FromPort":8081,"ToHost":"10.0.0.1","ToPort":80}],"VolumeConfig":{"Volumes":[{"Path":"/data"}],"VolumeMounts":[{"Path":"/srv","HostPath":"/www","ReadOnly":false}]},"Started":true,"SystemdSlice":"container-small"}"#
        let request = try decode(body)
        #expect(request.id == "web1" && request.isolate == false && request.simple == false && request.systemdSlice == "container-small")
        #expect(request.environment == [EnvironmentVariable(name: "A", value: "1")] && request.environmentDescriptionID == "-Xy_z")
        #expect(request.environmentSource == nil)
        #expect(request.networkLinks == [NetworkLink(fromHost: "127.0.0.1", fromPort: 8081, toHost: "10.0.0.1", toPort: 80)])
        #expect(request.volumeConfig?.volumes == [.init(path: "/data")])
        #expect(request.volumeConfig?.volumeMounts == [.init(path: "/srv", hostPath: "/www", readOnly: false)])
        // What the CLI sends without -e: an empty description.
        let empty = try decode(#"{"Image":"x","Environment":{"Variables":null,"Source":"","Id":""}}"#)
        #expect(empty.environment == nil && empty.environmentDescriptionID == nil)
        // A gear environment whose variable is called Source is not geard's description.
        #expect(try decode(#"{"Environment":{"Source":"here"}}"#).environment == [EnvironmentVariable(name: "Source", value: "here")])
        // Encoded and read again, the same request.
        #expect(try decode(String(decoding: GearJSON.encoder().encode(request), as: UTF8.self)) == request)
    }

    @Test func healthFieldsAreReadInEveryForm() throws {
        let request = try decode(
            #"{"healthcmd":["true"],"HEALTHHTTP":{"port":8080,"PATH":"/ok"},"HealthTCP":9,"HealthInterval":30,"HealthTimeout":"1.5s","HealthStartPeriod":0.25,"HealthRetries":2,"HealthOnFailure":"kill"}"#
        )
        #expect(request.healthCmd == ["true"] && request.healthHTTP == HealthHTTPCheck(port: 8080, path: "/ok") && request.healthTCP == 9)
        #expect(request.healthInterval?.milliseconds == 30_000 && request.healthTimeout?.milliseconds == 1500)
        #expect(request.healthStartPeriod?.milliseconds == 250 && request.healthRetries == 2 && request.healthOnFailure == "kill")
        #expect(try decode(String(decoding: GearJSON.encoder().encode(request), as: UTF8.self)) == request)
        #expect(throws: (any Error).self) { try decode(#"{"HealthHTTP":{"Path":"/"}}"#) }
        #expect(throws: (any Error).self) { try decode(#"{"HealthHTTP":{"Port":80,"Verb":"POST"}}"#) }
    }

    @Test(
        arguments: [
            ("30", 30_000), ("0.5", 500), ("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("1m30s", 90_000),
            ("1.5s", 1500), ("2d", 172_800_000), (" 10s ", 10_000),
        ] as [(String, Int64)])
    func durations(_ text: String, _ milliseconds: Int64) {
        #expect(DurationText(text).milliseconds == milliseconds)
    }

    @Test(arguments: ["", "s", "-1", "-5s", "10x", "5 s", "1e9", "31d", "nan", "inf", "1s-", "ms"])
    func notDurations(_ text: String) {
        #expect(DurationText(text).milliseconds == nil)
    }
}
