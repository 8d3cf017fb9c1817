#include "datastore/journal.h"

namespace caracal::datastore {
namespace {

class NullJournal : public Journal {
public:
  Result<JournalState> load() override { return JournalState{}; }
  Status append(const JournalBatch&) override { return Status::ok(); }
};

} // namespace

JournalPtr makeNullJournal() { return std::make_unique<NullJournal>(); }

} // namespace caracal::datastore
