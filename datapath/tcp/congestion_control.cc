#include "datapath/tcp/congestion_control.h"

#include <algorithm>

namespace braid::tcp {

namespace {

CongestionController MakeCubic(const CcParams& params) {
  return CongestionController(Cubic(params.common, params.cubic));
}

CongestionController MakeNewReno(const CcParams& params) {
  return CongestionController(NewReno(params.common, params.newreno));
}

CongestionController MakeLia(const CcParams& params) {
  return CongestionController(Lia(params.common, params.newreno, params.coupling));
}

CongestionController MakeOlia(const CcParams& params) {
  return CongestionController(Olia(params.common, params.newreno, params.coupling));
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > CongestionControlRegistry::kMaxNameLen) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace

std::string_view CcErrorName(CcError e) {
  switch (e) {
    case CcError::kNone:
      return "none";
    case CcError::kUnknownName:
      return "unknown_name";
    case CcError::kDuplicateName:
      return "duplicate_name";
    case CcError::kInvalidName:
      return "invalid_name";
    case CcError::kRegistryFull:
      return "registry_full";
    case CcError::kDefaultNotRemovable:
      return "default_not_removable";
  }
  return "unknown";
}

CongestionControlRegistry::CongestionControlRegistry() {
  // The default goes first; Unregister() refuses to remove it.
  (void)Register(kDefaultName, &MakeCubic);
  (void)Register(NewReno::kName, &MakeNewReno);
  (void)Register(Lia::kName, &MakeLia);
  (void)Register(Olia::kName, &MakeOlia);
}

const CongestionControlRegistry::Entry* CongestionControlRegistry::Find(
    std::string_view name) const {
  for (size_t i = 0; i < size_; ++i) {
    if (entries_[i].view() == name) return &entries_[i];
  }
  return nullptr;
}

CcError CongestionControlRegistry::Register(std::string_view name, CcFactory factory) {
  if (!ValidName(name) || factory == nullptr) return CcError::kInvalidName;
  if (Find(name) != nullptr) return CcError::kDuplicateName;
  if (size_ == kMaxEntries) return CcError::kRegistryFull;
  Entry& e = entries_[size_++];
  std::copy(name.begin(), name.end(), e.name.begin());
  e.name_len = static_cast<uint8_t>(name.size());
  e.factory = factory;
  return CcError::kNone;
}

CcError CongestionControlRegistry::Unregister(std::string_view name) {
  if (name == kDefaultName) return CcError::kDefaultNotRemovable;
  for (size_t i = 0; i < size_; ++i) {
    if (entries_[i].view() != name) continue;
    // Keep registration order for the remaining names.
    std::move(entries_.begin() + static_cast<std::ptrdiff_t>(i) + 1,
              entries_.begin() + static_cast<std::ptrdiff_t>(size_),
              entries_.begin() + static_cast<std::ptrdiff_t>(i));
    entries_[--size_] = Entry{};
    return CcError::kNone;
  }
  return CcError::kUnknownName;
}

bool CongestionControlRegistry::Contains(std::string_view name) const {
  return Find(name) != nullptr;
}

CcResult<CongestionController> CongestionControlRegistry::Create(std::string_view name,
                                                                 const CcParams& params) const {
  if (name.empty()) return CreateDefault(params);
  const Entry* e = Find(name);
  if (e == nullptr) return CcError::kUnknownName;
  return e->factory(params);
}

CongestionController CongestionControlRegistry::CreateDefault(const CcParams& params) const {
  const Entry* e = Find(kDefaultName);
  // The default cannot be unregistered, so it is always found; the fallback keeps release builds
  // safe should that invariant ever break.
  return e != nullptr ? e->factory(params) : MakeCubic(params);
}

std::string_view CongestionControlRegistry::name_at(size_t i) const {
  return i < size_ ? entries_[i].view() : std::string_view();
}

std::string CongestionControlRegistry::KnownNames() const {
  std::string out;
  for (size_t i = 0; i < size_; ++i) {
    if (i > 0) out += ", ";
    out += entries_[i].view();
    if (entries_[i].view() == kDefaultName) out += " (default)";
  }
  return out;
}

std::string CongestionControlRegistry::ErrorMessage(CcError error, std::string_view name) const {
  std::string quoted = "\"" + std::string(name) + "\"";
  switch (error) {
    case CcError::kNone:
      return "congestion control " + quoted + ": no error";
    case CcError::kUnknownName:
      return "unknown congestion control " + quoted + "; known: " + KnownNames();
    case CcError::kDuplicateName:
      return "congestion control " + quoted + " is already registered";
    case CcError::kInvalidName:
      return "invalid congestion control name " + quoted + ": expected 1 to " +
             std::to_string(kMaxNameLen) + " characters of [a-z0-9_-] and a factory";
    case CcError::kRegistryFull:
      return "cannot register congestion control " + quoted + ": the registry holds at most " +
             std::to_string(kMaxEntries) + " algorithms";
    case CcError::kDefaultNotRemovable:
      return "congestion control " + quoted + " is the default and cannot be removed";
  }
  return "congestion control " + quoted + ": unknown error";
}

}  // namespace braid::tcp
