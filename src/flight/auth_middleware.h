// Authentication of every call (docs/security.md): a Flight server
// middleware that checks the `authorization` header (Basic, Bearer,
// Negotiate) or the client certificate, and sends a bearer token back.
#pragma once

#include <memory>
#include <string>

#include <arrow/flight/server.h>
#include <arrow/flight/server_auth.h>
#include <arrow/flight/server_middleware.h>

#include "auth/authenticator.h"

namespace squadron::flight {

inline constexpr char kAuthMiddlewareKey[] = "squadron-auth";

class AuthMiddleware final : public arrow::flight::ServerMiddleware {
 public:
  explicit AuthMiddleware(auth::Authenticated authenticated) : authenticated_(std::move(authenticated)) {}
  std::string name() const override { return "SquadronAuth"; }
  void SendingHeaders(arrow::flight::AddCallHeaders* headers) override;
  void CallCompleted(const arrow::Status&) override {}
  /// The caller; user "" when the call carried no credentials.
  const auth::Identity& identity() const { return authenticated_.identity; }

 private:
  const auth::Authenticated authenticated_;
};

class AuthMiddlewareFactory final : public arrow::flight::ServerMiddlewareFactory {
 public:
  /// `authenticator` is borrowed; it outlives the server.
  explicit AuthMiddlewareFactory(auth::Authenticator* authenticator) : authenticator_(authenticator) {}
  arrow::Status StartCall(const arrow::flight::CallInfo& info, const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  auth::Authenticator* const authenticator_;
};

/// The Flight handshake: the middleware has checked the credentials already,
/// so it only has to succeed (the token travels in the response headers).
class HeaderAuthHandler final : public arrow::flight::ServerAuthHandler {
 public:
  arrow::Status Authenticate(const arrow::flight::ServerCallContext& context,
                             arrow::flight::ServerAuthSender* outgoing,
                             arrow::flight::ServerAuthReader* incoming) override;
  arrow::Status IsValid(const arrow::flight::ServerCallContext& context, const std::string& token,
                        std::string* peer_identity) override;
};

/// The caller's identity as the middleware established it (anonymous admin
/// when authentication is off); UNAUTHENTICATED, saying how to authenticate,
/// when it is required and the call carried no credentials.
arrow::Result<auth::Identity> CallerIdentity(const arrow::flight::ServerCallContext& context);

}  // namespace squadron::flight
