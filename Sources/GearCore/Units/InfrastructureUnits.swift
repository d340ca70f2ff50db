/// The units geard itself needs: the slice containers run in and the target that starts them at boot.
enum InfrastructureUnits {
    static let slice = "gear.slice"
    static let activeTarget = "gear-active.target"

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

    static var all: [(name: String, text: String)] { [(slice, sliceText), (activeTarget, activeTargetText)] }
}
