// Who is calling: sessions and transactions; and stopping queries: cancellation.
#include "flight/sql_server_internal.h"

namespace squadron::flight {

arrow::Result<Caller> FlightSqlServer::Impl::ResolveCaller(const fl::ServerCallContext& context) {
  ReleaseExpiredSessions();
  Caller caller;
  ARROW_ASSIGN_OR_RAISE(caller.identity, CallerIdentity(context));
  caller.session.settings.user = caller.ticket_owner();
  auto id = SessionIdFromHeaders(context.incoming_headers());
  if (!id) {
    // No session cookie: engine state (a Spark session) lives per connection.
    caller.session.settings.client = "connection:" + context.peer();
    caller.session.user = caller.ticket_owner();
    if (!caller.ticket_owner().empty()) caller.owner = "user:" + caller.ticket_owner();
    return caller;
  }
  ARROW_ASSIGN_OR_RAISE(caller.session, sessions_.Get(*id));
  caller.session.settings.user = caller.ticket_owner();
  if (caller.session.user != caller.ticket_owner()) {
    // Another user's session is, to this one, no session at all.
    return NotFound("Unknown or expired session (", kSessionCookie, " cookie): open a new one");
  }
  caller.owner = *id;
  caller.session_id = std::move(*id);
  caller.session.settings.client = EngineClientOf(caller.session_id);
  return caller;
}

arrow::Result<Caller> FlightSqlServer::Impl::ResolveOrOpenSession(const fl::ServerCallContext& context) {
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  if (!caller.session_id.empty()) return caller;
  ARROW_ASSIGN_OR_RAISE(caller.session_id, sessions_.Create());
  caller.owner = caller.session_id;
  caller.session.settings.client = EngineClientOf(caller.session_id);
  caller.session.user = caller.ticket_owner();
  ARROW_RETURN_NOT_OK(sessions_.Update(caller.session_id, caller.session));
  context.AddHeader("set-cookie", std::string(kSessionCookie) + "=" + caller.session_id);
  spdlog::info("event=session_opened session={}", caller.session_id);
  return caller;
}

void FlightSqlServer::Impl::ReleaseExpiredSessions() {
  for (const auto& id : sessions_.TakeExpired()) {
    const size_t handles = statements_.CloseOwnedBy(id);
    const size_t transactions = RollBack(transactions_.TakeOwnedBy(id));
    engine_->ReleaseClient(EngineClientOf(id));
    spdlog::info("event=session_closed reason=idle session={} prepared_statements={} "
                 "transactions_rolled_back={}", id, handles, transactions);
  }
  const size_t idle = RollBack(transactions_.TakeIdle());
  if (idle > 0) spdlog::info("event=transactions_rolled_back reason=idle count={}", idle);
}

size_t FlightSqlServer::Impl::RollBack(const std::vector<std::shared_ptr<Transaction>>& transactions) {
  for (const auto& transaction : transactions) (void)transaction->End(/*commit=*/false);
  return transactions.size();
}

arrow::Status FlightSqlServer::Impl::BeginTransaction(const fl::ServerCallContext& context, std::string_view body,
                               std::unique_ptr<fl::ResultStream>* result) {
  ARROW_RETURN_NOT_OK(ParseBeginTransaction(body));
  if (!engine_->supports_transactions()) {
    return Unimplemented("Transactions are not available on the ", engine_->name(), " engine: it has none. Run "
                         "statements without a transaction (autocommit; ADBC: autocommit=True)");
  }
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
  ARROW_RETURN_NOT_OK(session->ExecuteUpdate("BEGIN TRANSACTION", {}).status());
  ARROW_ASSIGN_OR_RAISE(auto id, transactions_.Add(std::make_shared<Transaction>(std::move(session)),
                                                   caller.owner));
  spdlog::debug("event=transaction_begun session={}", caller.session_id);
  *result = std::make_unique<fl::SimpleResultStream>(OneResult(SerializeBeginTransactionResult(id)));
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::EndTransaction(const fl::ServerCallContext& context, std::string_view body,
                             std::unique_ptr<fl::ResultStream>* result) {
  ARROW_ASSIGN_OR_RAISE(auto request, ParseEndTransaction(body));
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  ARROW_ASSIGN_OR_RAISE(auto transaction, transactions_.Take(request.transaction_id, caller.owner));
  ARROW_RETURN_NOT_OK(transaction->End(request.commit));
  spdlog::debug("event=transaction_ended commit={} session={}", request.commit, caller.session_id);
  *result = std::make_unique<fl::SimpleResultStream>(std::vector<fl::Result>{});
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::SetSessionOptions(const fl::ServerCallContext& context, std::string_view body,
                                std::unique_ptr<fl::ResultStream>* result) {
  ARROW_ASSIGN_OR_RAISE(auto request, fl::SetSessionOptionsRequest::Deserialize(body));
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveOrOpenSession(context));
  // Options apply one by one; each is checked by opening a connection with
  // it, so a bad catalog or time zone fails alone and changes nothing.
  std::map<std::string, fl::SetSessionOptionsResult::Error> errors;
  for (const auto& [name, value] : request.session_options) {
    ClientSession candidate = caller.session;
    auto error = ApplySessionOption(name, value, &candidate);
    if (!error) {
      if (auto opened = engine_->OpenSession(candidate.settings); !opened.ok()) {
        spdlog::info("event=session_option_refused session={} option={} error={:?}", caller.session_id, name,
                     ForLog(opened.status()));
        error = fl::SetSessionOptionErrorValue::kInvalidValue;
      }
    }
    if (error) {
      errors[name] = {*error};
    } else {
      caller.session = std::move(candidate);
    }
  }
  ARROW_RETURN_NOT_OK(sessions_.Update(caller.session_id, caller.session));
  ARROW_ASSIGN_OR_RAISE(auto out, fl::SetSessionOptionsResult(std::move(errors)).SerializeToString());
  *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(out)));
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::GetSessionOptions(const fl::ServerCallContext& context,
                                std::unique_ptr<fl::ResultStream>* result) {
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveOrOpenSession(context));
  ARROW_ASSIGN_OR_RAISE(auto out,
                        fl::GetSessionOptionsResult(SessionOptions(caller.session)).SerializeToString());
  *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(out)));
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::CloseSession(const fl::ServerCallContext& context, std::unique_ptr<fl::ResultStream>* result) {
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  if (caller.session_id.empty()) {
    return NotFound("No session to close: the call carries no ", kSessionCookie, " cookie");
  }
  ARROW_RETURN_NOT_OK(sessions_.Close(caller.session_id));
  const size_t handles = statements_.CloseOwnedBy(caller.session_id);
  const size_t transactions = RollBack(transactions_.TakeOwnedBy(caller.session_id));
  engine_->ReleaseClient(EngineClientOf(caller.session_id));
  spdlog::info("event=session_closed reason=close_session session={} prepared_statements={} "
               "transactions_rolled_back={}", caller.session_id, handles, transactions);
  ARROW_ASSIGN_OR_RAISE(auto out, fl::CloseSessionResult(fl::CloseSessionStatus::kClosed).SerializeToString());
  *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(out)));
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::CheckTicketOwner(const auth::Identity& identity,
                                                      const TicketContents& contents) const {
  // Without authentication tickets carry no owner; with it, another user's
  // ticket names nothing this caller may see.
  if (contents.owner.empty() || identity.method == "none" || contents.owner == identity.user) {
    return arrow::Status::OK();
  }
  spdlog::warn("event=ticket_refused user={:?} owner={:?}", identity.user, contents.owner);
  return NotFound("Unknown result: the ticket names no result of user '", identity.user, "'");
}

arrow::Status FlightSqlServer::Impl::CancelFlightInfo(const auth::Identity& identity, const fl::Action& action,
                                                      std::unique_ptr<fl::ResultStream>* result, bool forwarded) {
  if (!action.body) return InvalidArgument("CancelFlightInfo needs a CancelFlightInfoRequest body");
  ARROW_ASSIGN_OR_RAISE(auto request,
                        fl::CancelFlightInfoRequest::Deserialize(std::string_view(*action.body)));
  if (!request.info) return InvalidArgument("CancelFlightInfoRequest carries no FlightInfo");
  ARROW_RETURN_NOT_OK(CheckMayCancel(identity, *request.info));
  ARROW_ASSIGN_OR_RAISE(auto cancelled, Cancel(identity, *request.info, forwarded));
  const auto status = cancelled ? fl::CancelStatus::kCancelled : fl::CancelStatus::kNotCancellable;
  ARROW_ASSIGN_OR_RAISE(auto body, fl::CancelFlightInfoResult(status).SerializeToString());
  *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(body)));
  return arrow::Status::OK();
}

arrow::Result<bool> FlightSqlServer::Impl::Cancel(const auth::Identity& identity, const fl::FlightInfo& info,
                                                  bool forwarded) {
  if (auto* cluster = cluster_.load()) {
    ARROW_ASSIGN_OR_RAISE(auto distributed, cluster->CancelFlightInfo(info));
    if (distributed) {
      CheckDistributed();  // a write this node runs for it stops now
      return *distributed;
    }
    if (!forwarded && CancelOnPeers(identity, info)) return true;
  }
  bool cancelled = false;
  std::vector<std::string> tickets;
  for (const auto& endpoint : info.endpoints()) tickets.push_back(endpoint.ticket.ticket);
  if (info.app_metadata().rfind(kPollPrefix, 0) == 0) {
    tickets.push_back(info.app_metadata().substr(kPollPrefix.size()));  // a running poll
  }
  for (const auto& ticket : tickets) {
    ARROW_ASSIGN_OR_RAISE(auto contents, tickets_.Decode(ticket, std::chrono::system_clock::now()));
    if (auto control = running_.Find(contents.result_id)) {
      control->Stop(QueryControl::Reason::kCancelled);
      cancelled = true;
    }
    if (results_.Take(contents.result_id).ok()) cancelled = true;
  }
  spdlog::info("event=cancel_requested cancelled={}", cancelled);
  return cancelled;
}

arrow::Status FlightSqlServer::Impl::CheckMayCancel(const auth::Identity& identity, const fl::FlightInfo& info) const {
  std::vector<std::string> tickets;
  for (const auto& endpoint : info.endpoints()) tickets.push_back(endpoint.ticket.ticket);
  if (info.app_metadata().rfind(kPollPrefix, 0) == 0) tickets.push_back(info.app_metadata().substr(kPollPrefix.size()));
  for (const auto& ticket : tickets) {
    auto contents = tickets_.Decode(ticket, std::chrono::system_clock::now());
    if (!contents.ok()) continue;  // Cancel() says what is wrong with it
    if (CheckTicketOwner(identity, *contents).ok()) continue;
    if (identity.role >= auth::Role::kAdmin) {
      spdlog::info("event=cancel_by_admin user={:?} owner={:?}", identity.user, contents->owner);
      continue;
    }
    return NotFound("Unknown query: the FlightInfo names no query of user '", identity.user,
                    "' (cancelling another user's query needs the admin role)");
  }
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::CancelQuery(const auth::Identity& identity, std::string_view body,
                                                 std::unique_ptr<fl::ResultStream>* result) {
  ARROW_ASSIGN_OR_RAISE(auto serialized_info, ParseCancelQuery(body));
  ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Deserialize(serialized_info));
  ARROW_RETURN_NOT_OK(CheckMayCancel(identity, *info));
  ARROW_ASSIGN_OR_RAISE(auto cancelled, Cancel(identity, *info));
  *result = std::make_unique<fl::SimpleResultStream>(OneResult(SerializeCancelQueryResult(cancelled)));
  return arrow::Status::OK();
}

std::shared_ptr<QueryControl> FlightSqlServer::Impl::Watch(const fl::ServerCallContext& context, const Caller& caller,
                                    const std::string& result_id) {
  auto control = std::make_shared<QueryControl>(caller.session.query_timeout.value_or(options_.query_timeout));
  control->SetCall(&context);
  running_.Add(result_id, control);
  return control;
}

std::function<void()> FlightSqlServer::Impl::InterruptOf(const std::shared_ptr<Transaction>& transaction) {
  return [weak = std::weak_ptr<Transaction>(transaction)] {
    if (auto t = weak.lock()) t->Interrupt();
  };
}

}  // namespace squadron::flight
