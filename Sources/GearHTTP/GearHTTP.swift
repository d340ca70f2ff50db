public import GearAPI

/// GearHTTP: geard's REST API over HTTP, on Hummingbird.
///
/// It only translates: HTTP requests into `NodeAgent` calls, and their results and errors into HTTP responses
/// (errors are mapped in one place, `HTTPErrorMapping`). It holds no state of its own and never talks to systemd.
public enum GearHTTPModule {}

/// gear's request id, by a name Hummingbird's own `RequestID` does not hide.
public typealias GearRequestID = RequestID
