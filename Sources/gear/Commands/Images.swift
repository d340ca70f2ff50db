import ArgumentParser
import Foundation
import GearAPI
import GearClient

#if canImport(Glibc)
    import Glibc
#endif

/// `gear image`: images on hosts, and image archives sent to them (nodes need not reach a registry).
struct Image: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import image archives into hosts, and list their images.", subcommands: [ImageImport.self, ImageListing.self])
}

struct ImageImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Send an image archive to hosts: podman save output, or a root file system tar with --name.",
        discussion: """
            A docker-archive or oci-archive (podman save, docker save) is loaded with its own names; with --name, a tar of \
            a root file system is imported as that image. Each host runs the import as a job; --wait shows its result.

            Examples:
              podman save -o app.tar localhost/app:1 && gear image import app.tar node1 node2 --wait
              gear image import --name localhost/tools:1 rootfs.tar node1
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var job: JobOptions
    @Option(name: .long, help: "Import the archive as a root file system image of this name.") var name: String?
    @Argument(help: "The image archive.") var file: String
    @Argument(help: "host[:port]; none for the default geard") var hosts: [String] = []

    func validate() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue,
            FileManager.default.isReadableFile(atPath: file)
        else { throw ValidationError("\(file) is not a readable file") }
        if let name, name.isEmpty || name.contains(" ") { throw ValidationError("--name must be an image name like localhost/app:1") }
    }

    func run() async throws {
        let (global, wait, name, file) = (global, job.waitSeconds, name, file)
        let targets = try global.locators(hosts.isEmpty ? ["-"] : hosts.map { $0 + "/-" })
        try checkRequestID(global, targets)
        let bar = ProgressBar(enabled: targets.count == 1 && isatty(STDERR_FILENO) == 1 && !global.quiet && global.output != .json)
        let outcomes = await FanOut.run(targets, options: global) { client, _ in
            try failedJob(try await client.importImage(from: file, name: name, wait: wait, requestID: global.requestID, progress: bar.update))
        }
        bar.finish()
        try reportJobs(outcomes, options: global)
    }
}

struct ImageListing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the images of hosts.", discussion: "Examples: gear image list; gear image list node1 node2")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "host[:port]; none for the default geard") var hosts: [String] = []

    func run() async throws {
        let targets = try global.locators(hosts.isEmpty ? ["-"] : hosts.map { $0 + "/-" })
        let outcomes = await FanOut.run(targets, options: global) { client, _ in try await client.images() }
        let output = Output(options: global)
        if global.output == .json {
            output.json(outcomes)
        } else {
            let many = Output.manyHosts(outcomes)
            var rows = [(many ? ["HOST"] : []) + ["IMAGE", "ID", "SIZE"]]
            for outcome in outcomes {
                guard case .success(let images) = outcome.result else { continue }
                for image in images {
                    let host = many ? [outcome.endpoint.description] : []
                    rows.append(host + [image.names.first ?? "<none>", String(image.id.prefix(12)), ProgressBar.size(image.size)])
                    for other in image.names.dropFirst() { rows.append(host + [other, String(image.id.prefix(12)), ""]) }
                }
            }
            if rows.count > 1 { output.print(Output.table(rows)) }
        }
        try output.finish(outcomes)
    }
}
