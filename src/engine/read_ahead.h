// A result stream that computes its next batch while the caller sends the
// current one.
#pragma once

#include <memory>

#include "engine/engine.h"

namespace squadron::engine {

/// Wraps `inner` so that one background thread calls inner->Next() ahead of
/// the caller, keeping at most `depth` finished batches waiting. The engine's
/// Arrow conversion then overlaps with serialising and sending the previous
/// batch instead of alternating with it.
///
/// Errors are delivered in order, after the batches before them. Destroying
/// the wrapper stops the thread after its current inner->Next() (interrupt
/// the engine first to make that prompt) and then destroys `inner`.
///
/// `inner` must not be used by anyone else meanwhile: not for streams that
/// share an engine connection with later statements (transactions).
std::unique_ptr<ResultStream> ReadAhead(std::unique_ptr<ResultStream> inner, size_t depth = 1);

}  // namespace squadron::engine
