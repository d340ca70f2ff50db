import Foundation
import GearAPI
import GearAuthorization
import GearCore
import GearDeploy

@testable import GearCertificates

/// Documents geard and gear read: access policy files, delegation tokens, deployment descriptors.
enum DocumentTargets {
    /// `--policy FILE`: every grant an accepted policy holds names a role it defines.
    static func policy(_ input: [UInt8]) {
        guard let policy = try? AccessPolicy(json: Data(input)) else { return }
        for grant in policy.grants where policy.roles[grant.role] == nil {
            violated("a grant of undefined role \(grant.role)", input)
        }
    }

    /// `Authorization: Bearer` delegation tokens: the signature is checked over exactly the header and claims that
    /// were read.
    static func token(_ input: [UInt8]) {
        guard let text = input.text, let token = try? DelegationToken(parsing: text) else { return }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard token.signingInput == Array((parts[0] + "." + parts[1]).utf8) else { violated("the signature covers other bytes", input) }
        _ = token.hasValidSignature
    }

    /// `gear deploy FILE`: a descriptor the validation accepts has instance ids geard accepts.
    static func deployment(_ input: [UInt8]) {
        guard let descriptor = try? DeploymentDescriptor.parse(Data(input), fileName: "fuzz.json"), (try? descriptor.validate()) != nil,
            !descriptor.randomizeIds
        else { return }
        for container in descriptor.containers {
            for n in stride(from: 1, through: container.count, by: 1) {
                let id = descriptor.instanceID(container.name, n)
                if (try? ContainerID(id)) == nil {
                    violated("the valid deployment has instance id \(id.debugDescription), which geard refuses", input)
                }
            }
        }
    }
}
