import Foundation
import GearAPI
import GearDeploy
import Testing

/// What `gear deploy --etcd` prints and decides from the orchestrator's statuses of a deployment.
@Suite struct DeploymentFollowerTests {
    typealias Instance = DeploymentStatus.Instance

    static func status(
        _ revision: Int64, _ state: DeploymentStatus.State, _ instances: [Instance], message: String? = nil, pending: [String]? = nil
    ) -> DeploymentStatus {
        DeploymentStatus(
            name: "web", deploymentRevision: revision, state: state, message: message, instances: instances, pending: pending, leader: "o1")
    }

    static func db(_ n: Int, _ state: String, on node: String = "h1", reason: String? = nil) -> Instance {
        Instance(id: "web-db-\(n)", container: "db", index: n, node: node, state: state, reason: reason)
    }

    @Test func aRollingReplacementIsPrintedInstanceByInstanceUntilAllRun() {
        var follower = DeploymentFollower(name: "web", revision: 20)
        // The status of the descriptor before: nothing to say yet.
        #expect(follower.take(Self.status(12, .running, [Self.db(1, "running"), Self.db(2, "running")])) == ([], nil))
        // The first of this revision: db-1 written, db-2 still the old one (running, not news).
        let first = follower.take(Self.status(20, .converging, [Self.db(1, "starting"), Self.db(2, "running")]))
        #expect(first.lines == ["h1\tweb-db-1\tstarting"] && first.verdict == nil)
        let ready = follower.take(Self.status(20, .converging, [Self.db(1, "running"), Self.db(2, "starting", reason: "converging, activating")]))
        #expect(ready.lines == ["h1\tweb-db-1\trunning", "h1\tweb-db-2\tstarting\tconverging, activating"] && ready.verdict == nil)
        // The same again says nothing; the end is the verdict.
        #expect(
            follower.take(Self.status(20, .converging, [Self.db(1, "running"), Self.db(2, "starting", reason: "converging, activating")])) == (
                [], nil
            ))
        let done = Self.status(20, .running, [Self.db(1, "running"), Self.db(2, "running")])
        #expect(follower.take(done) == (["h1\tweb-db-2\trunning"], .running(done)))
    }

    @Test func anUnchangedDeploymentIsRunningAtOnceAndAScaleDownSaysWhatWent() {
        var follower = DeploymentFollower(name: "web", revision: 20)
        let same = Self.status(20, .running, [Self.db(1, "running")])
        #expect(follower.take(same) == ([], .running(same)))
        var down = DeploymentFollower(name: "web", revision: 30)
        #expect(down.take(Self.status(30, .converging, [Self.db(1, "running"), Self.db(2, "running", on: "h2")])).lines.isEmpty)
        let after = Self.status(30, .running, [Self.db(1, "running")])
        #expect(down.take(after) == (["h2\tweb-db-2\tdeleted"], .running(after)))
        // Deleted in the very pass that wrote the status of the new descriptor: the status from before shows it.
        let before = Self.status(25, .running, [Self.db(1, "running"), Self.db(2, "running", on: "h2")])
        var quick = DeploymentFollower(name: "web", revision: 30, baseline: before)
        #expect(quick.take(after) == (["h2\tweb-db-2\tdeleted"], .running(after)))
    }

    @Test func aFailureAnInvalidDescriptorAndALaterWriteEndIt() {
        var follower = DeploymentFollower(name: "web", revision: 20)
        let failed = follower.take(Self.status(20, .converging, [Self.db(1, "failed", reason: "unhealthy: no db"), Self.db(2, "running")]))
        #expect(failed.lines == ["h1\tweb-db-1\tfailed\tunhealthy: no db"])
        #expect(failed.verdict == .failed(node: "h1", id: "web-db-1", reason: "unhealthy: no db"))
        var invalid = DeploymentFollower(name: "web", revision: 20)
        #expect(
            invalid.take(Self.status(20, .invalid, [], message: "Containers[0].Count: must be 0 or more")).verdict
                == .invalid("Containers[0].Count: must be 0 or more"))
        var superseded = DeploymentFollower(name: "web", revision: 20)
        #expect(superseded.take(Self.status(25, .running, [])).verdict == .superseded(25))
        // A status deleted is the end only of a --delete.
        #expect(superseded.take(nil) == ([], nil))
    }

    @Test func pendingSaysEachNodesReasonOnceAndWaits() {
        var follower = DeploymentFollower(name: "web", revision: 20)
        let reasons = ["h1: memory: needs 100 TiB, 7.6 GiB free", "h2: cordoned"]
        let pending = Self.status(20, .pending, [], message: "db-1 fits on no host: h1: memory ...", pending: reasons)
        let first = follower.take(pending)
        #expect(first.verdict == nil)
        #expect(
            first.lines == [
                "pending: db-1 fits on no host, it is placed when room appears:", "  h1: memory: needs 100 TiB, 7.6 GiB free", "  h2: cordoned",
            ])
        #expect(follower.take(pending) == ([], nil))
    }

    @Test func aDeletionEndsWhenTheStatusGoes() {
        var follower = DeploymentFollower(name: "web", revision: 40, deleting: true)
        #expect(follower.take(Self.status(30, .running, [Self.db(1, "running"), Self.db(2, "running", on: "h2")])) == ([], nil))
        #expect(follower.take(Self.status(30, .converging, [Self.db(1, "running")])) == (["h2\tweb-db-2\tdeleted"], nil))
        #expect(follower.take(nil) == ([], .deleted))
    }
}
