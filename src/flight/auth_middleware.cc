#include "flight/auth_middleware.h"

#include "common/status.h"

namespace squadron::flight {

namespace fl = arrow::flight;

void AuthMiddleware::SendingHeaders(fl::AddCallHeaders* headers) {
  if (!authenticated_.token.empty()) headers->AddHeader("authorization", "Bearer " + authenticated_.token);
  if (!authenticated_.negotiate_reply.empty()) {
    headers->AddHeader("www-authenticate", "Negotiate " + authenticated_.negotiate_reply);
  }
}

arrow::Status AuthMiddlewareFactory::StartCall(const fl::CallInfo& info, const fl::ServerCallContext& context,
                                               std::shared_ptr<fl::ServerMiddleware>* middleware) {
  std::string authorization;
  const auto& headers = context.incoming_headers();
  if (auto it = headers.find("authorization"); it != headers.end()) authorization = std::string(it->second);
  const std::string certificate = authenticator_->mtls() ? context.peer_identity() : std::string();
  ARROW_ASSIGN_OR_RAISE(auto authenticated, authenticator_->Authenticate(authorization, certificate, context.peer()));
  if (authenticated.identity.user.empty()) {
    if (!authenticator_->required()) {
      authenticated.identity = auth::Identity{"anonymous", auth::Role::kAdmin, "none"};
    } else if (info.method == fl::FlightMethod::Handshake) {
      return Unauthenticated("The handshake needs credentials: Basic (user and password) or Negotiate (Kerberos)");
    }
  }
  *middleware = std::make_shared<AuthMiddleware>(std::move(authenticated));
  return arrow::Status::OK();
}

arrow::Status HeaderAuthHandler::Authenticate(const fl::ServerCallContext&, fl::ServerAuthSender*,
                                              fl::ServerAuthReader*) {
  return arrow::Status::OK();
}

arrow::Status HeaderAuthHandler::IsValid(const fl::ServerCallContext&, const std::string&, std::string* peer_identity) {
  peer_identity->clear();
  return arrow::Status::OK();
}

arrow::Result<auth::Identity> CallerIdentity(const fl::ServerCallContext& context) {
  auto* middleware = static_cast<AuthMiddleware*>(context.GetMiddleware(kAuthMiddlewareKey));
  if (middleware == nullptr) return auth::Identity{"anonymous", auth::Role::kAdmin, "none"};
  if (middleware->identity().user.empty()) {
    return Unauthenticated(
        "Authentication required: send a user and password (Basic: the Flight handshake or an "
        "'authorization: Basic' header), a bearer token this cluster issued, a Kerberos ticket "
        "('authorization: Negotiate') or a client certificate, as the server's --auth allows");
  }
  return middleware->identity();
}

}  // namespace squadron::flight
