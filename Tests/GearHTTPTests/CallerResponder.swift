import GearAuthorization
import Hummingbird

@testable import GearHTTP

/// Serves a router in process as one caller, as geard's listeners do (HummingbirdTesting makes contexts with
/// nobody as the caller).
struct CallerResponder: HTTPResponder {
    typealias Context = GearRequestContext
    let caller: Caller
    let responder: RouterResponder<GearRequestContext>

    init(caller: Caller, router: Router<GearRequestContext>) {
        self.caller = caller
        self.responder = router.buildResponder()
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        var context = context
        context.caller = caller
        return try await responder.respond(to: request, context: context)
    }
}
