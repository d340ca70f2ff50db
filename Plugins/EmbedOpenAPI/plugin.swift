import Foundation
import PackagePlugin

/// Embeds docs/openapi.json into GearHTTP at build time, as `OpenAPIDocument.json`, so that geard serves the one
/// document of the repository (at `GET /openapi.json`) and remains one file when installed, with no generated copy
/// to keep. The text goes into a raw string literal, which compiles in a fraction of a second (SwiftPM's
/// `.embedInCode` resources make an array literal of its 200 KB that took 80 s to compile on this machine).
@main
struct EmbedOpenAPI: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "docs/openapi.json")
        let output = context.pluginWorkDirectoryURL.appending(path: "OpenAPIDocument.swift")
        // The document must not hold the literal's closing delimiter; `make lint` would not catch it, the build does.
        let script = ###"""
            if grep -q '"""##' "$1"; then echo "$1 holds the delimiter \"\"\"##" >&2; exit 1; fi
            { printf '%s\n' '/// docs/openapi.json, embedded at build time by the EmbedOpenAPI plugin.' 'enum OpenAPIDocument {' \
              '    static let json = ##"""'; cat "$1"; printf '%s\n' '"""##' '}'; } > "$2"
            """###
        return [
            .buildCommand(
                displayName: "Embedding docs/openapi.json", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "embed-openapi", input.path, output.path], inputFiles: [input], outputFiles: [output])
        ]
    }
}
