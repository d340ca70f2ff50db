/// GearCore: the node agent. Container specs and their validation, unit rendering for the podman and exec
/// runtimes, the job queue, port allocation, and the state kept on disk.
///
/// Transport-neutral: operations take wire types from GearAPI and return jobs, results and streams, so that HTTP
/// (GearHTTP) or any other transport can drive them. It knows nothing of HTTP; it reaches systemd only through
/// `SystemdControl`.
public enum GearCoreModule {}
