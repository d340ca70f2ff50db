/// gear's subjects on a NATS bus, and who may use which. The broker enforces the last part: a node publishes only on
/// reply subjects that carry its own name and subscribes only to its own requests and the broadcasts, so the node
/// token of a reply's subject is vouched for by the broker, not by the node (docs/nats.md).
///
///     gear.v1.req.{node}.{operation}                 a request to one node
///     gear.v1.bcast.{operation}                      a request to every node (or a selection named in it)
///     gear.v1.rep.{caller}.{node}.{request-id}       a node's reply to a caller
public enum BusSubjects {
    public static let root = "gear.v1"

    /// The subject of a request to `node`.
    public static func request(node: String, operation: String) -> String { "\(root).req.\(node).\(operation)" }
    /// The subject of a request to every node.
    public static func broadcast(operation: String) -> String { "\(root).bcast.\(operation)" }
    /// The subject of `node`'s reply to `caller`'s request `requestID`.
    public static func reply(caller: String, node: String, requestID: String) -> String { "\(root).rep.\(caller).\(node).\(requestID)" }

    /// What a node may subscribe to: its own requests and the broadcasts.
    public static func nodeSubscriptions(_ node: String) -> [String] { ["\(root).req.\(node).>", "\(root).bcast.>"] }
    /// What a node may publish on: replies carrying its own name, to any caller.
    public static func nodePublications(_ node: String) -> [String] { ["\(root).rep.*.\(node).>"] }
    /// What a caller may publish on: requests to any node and broadcasts.
    public static let callerPublications = ["\(root).req.>", "\(root).bcast.>"]
    /// What a caller may subscribe to: the replies addressed to it.
    public static func callerSubscriptions(_ caller: String) -> [String] { ["\(root).rep.\(caller).>"] }

    /// Why `operation` cannot be the operation of a request subject (`container.read`: lower-case tokens of letters
    /// and `-`), or nil.
    public static func problem(withOperation operation: String) -> String? {
        guard (1...64).contains(operation.utf8.count) else { return "must have 1 to 64 characters" }
        let tokens = operation.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == UInt8(ascii: "-") } }) else {
            return "must be dot-separated words of lower-case letters and '-'"
        }
        return nil
    }

    /// Why `name` cannot name a node or a caller on the bus (it is one token of a subject), or nil.
    public static func problem(withName name: String) -> String? {
        guard (1...64).contains(name.utf8.count) else { return "must have 1 to 64 characters" }
        guard name.utf8.allSatisfy({ ContainerID.isIDByte($0) && $0 != UInt8(ascii: ".") }) else {
            return "may hold only letters, digits, '-' and '_' (a '.' would split a subject's token)"
        }
        return nil
    }
}
