import GearAPI

/// The units geard itself needs: the slice containers run in, the target that starts them at boot, and the
/// template that cleans up after a podman container whose unit failed.
enum InfrastructureUnits {
    static let slice = "gear.slice"
    static let activeTarget = "gear-active.target"
    static let podmanCleanup = "gear-podman-cleanup@.service"

    /// The cleanup instance a podman container's unit names in `OnFailure=`: the instance is the podman name
    /// (`ctr-{id}`), which is also the unit's name without `.service`.
    static func podmanCleanupInstance(_ id: ContainerID) -> String { "gear-podman-cleanup@\(id.podmanName).service" }

    /// Removes what podman left of a container whose unit failed (conmon killed, a stop that timed out, a start
    /// that failed half-way): its storage mount, network namespace and record. A clean stop leaves nothing (the
    /// unit's `ExecStop=` removed the container), so it runs only on failure, through the unit's `OnFailure=`;
    /// `Before=` makes a start of the container that is queued meanwhile wait for it. `%i` is `ctr-{id}`, so the
    /// cidfile is the container unit's (written apart from the escaped arguments, which would turn `%i` into `%%i`).
    static func podmanCleanupText(podmanPath: String) -> String {
        let remove = UnitEscaping.commandLine(UnitRenderer.podmanRemove(podmanPath: podmanPath))
        return """
            # Written by geard. Removes the podman container of a gear container whose unit failed.
            [Unit]
            Description=gear: remove what podman left of %i after a failure
            Before=%i.service

            [Service]
            Type=oneshot
            ExecStart=\(remove) "--cidfile=\(UnitRenderer.cidFile(unit: "%i.service"))"

            """
    }

    static let sliceText = """
        # Written by geard. Every gear container runs in this slice.
        [Unit]
        Description=gear containers
        Before=slices.target

        [Slice]

        """

    static let activeTargetText = """
        # Written by geard. Wants every container that should be running, so that they start at boot.
        [Unit]
        Description=gear containers that should be running
        After=network-online.target

        [Install]
        WantedBy=multi-user.target

        """

    static func all(podmanPath: String) -> [(name: String, text: String)] {
        [(slice, sliceText), (activeTarget, activeTargetText), (podmanCleanup, podmanCleanupText(podmanPath: podmanPath))]
    }
}
