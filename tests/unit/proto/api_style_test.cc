// The API's rules (proto/braid/v1/README.md, "Style" and "Versioning"), checked on every
// descriptor of braid/v1/*.proto, so breaking one fails the build's tests:
//  - enums: value 0 is <ENUM>_UNSPECIFIED, every value carries the <ENUM>_ prefix;
//  - repeated fields have plural names (end in 's' but not in "ss"/"us"/"is", or are in
//    kPluralExceptions);
//  - time is google.protobuf.Duration or Timestamp: no *_ms / *_seconds fields, and fields named
//    like a time (…_time, …_timeout, rtt, …) have one of those types;
//  - names: PascalCase messages, enums, services (…Service) and methods; snake_case fields;
//    UPPER_SNAKE enum values; every RPC takes <Method>Request and returns <Method>Response (or
//    <Stem><Method>… with the service's name stem, as CniService's CniAddRequest), used by no
//    other RPC;
//  - every file, message, field, oneof, enum, value, service and method has a comment;
//  - field numbers are stable: the golden list (braid_v1_api.golden) of every field, enum value
//    and RPC must still hold, unless a removed one is `reserved` by number and name.
// The checks read the descriptor set protoc wrote with the comments (source info) next to the
// generated code, and first prove it is the same API that is compiled into braid_proto.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "braid/v1/cni.pb.h"
#include "braid/v1/common.pb.h"
#include "braid/v1/debug.pb.h"
#include "braid/v1/endpoint.pb.h"
#include "braid/v1/mptcp.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braid::proto {
namespace {

namespace pb = google::protobuf;

constexpr std::string_view kDescriptorSet = BRAID_BINARY_DIR "/proto/braid_v1_descriptor_set.pb";
constexpr std::string_view kGolden = BRAID_SOURCE_DIR "/tests/unit/proto/braid_v1_api.golden";

// Repeated fields whose plural does not look like one to IsPluralName.
const std::set<std::string, std::less<>> kPluralExceptions = {"data", "metadata", "criteria",
                                                              "children"};
// A field name ending like this counts time in an integer: use Duration or Timestamp instead.
constexpr std::string_view kTimeUnitSuffixes[] = {
    "_ns",   "_nsec", "_nanos", "_us",      "_usec",    "_micros", "_ms",    "_msec", "_millis",
    "_secs", "_sec",  "_s",     "_seconds", "_minutes", "_mins",   "_hours", "_days"};
// A field whose last word is one of these holds a time: it must be a Duration or Timestamp.
const std::set<std::string, std::less<>> kTimeWords = {
    "time",    "timeout", "duration", "interval", "delay", "age",  "deadline", "uptime",
    "latency", "period",  "expiry",   "lifetime", "rtt",   "srtt", "rttvar",   "rto"};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Plural-ish: ends in 's', but not as the singulars "address", "status" and "analysis" do.
bool IsPluralName(std::string_view name) {
  return kPluralExceptions.contains(name) || (EndsWith(name, "s") && !EndsWith(name, "ss") &&
                                              !EndsWith(name, "us") && !EndsWith(name, "is"));
}

bool IsPascalCase(std::string_view s) {
  return !s.empty() && std::isupper(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(c) != 0; });
}

bool IsSnakeCase(std::string_view s) {
  return !s.empty() && std::islower(static_cast<unsigned char>(s[0])) && !EndsWith(s, "_") &&
         s.find("__") == std::string_view::npos && std::all_of(s.begin(), s.end(), [](char c) {
           return std::islower(static_cast<unsigned char>(c)) || std::isdigit(c) || c == '_';
         });
}

bool IsUpperSnakeCase(std::string_view s) {
  return !s.empty() && std::isupper(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(c) || c == '_';
         });
}

// "PathManagerPolicy" -> "PATH_MANAGER_POLICY".
std::string UpperSnake(std::string_view pascal) {
  std::string out;
  for (size_t i = 0; i < pascal.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(pascal[i]);
    if (i > 0 && std::isupper(c)) out += '_';
    out += static_cast<char>(std::toupper(c));
  }
  return out;
}

template <typename T>
bool HasComment(const T& d) {
  pb::SourceLocation loc;
  return d.GetSourceLocation(&loc) &&
         (!loc.leading_comments.empty() || !loc.trailing_comments.empty());
}

// Collects the rule violations of one file, each a line naming the element and the rule.
class StyleChecker {
 public:
  explicit StyleChecker(std::vector<std::string>& out) : out_(out) {}

  void CheckFile(const pb::FileDescriptor& file, const pb::FileDescriptorProto& proto) {
    if (file.package() != "braid.v1") Report(file.name(), "package is not braid.v1");
    if (file.syntax() != pb::FileDescriptor::SYNTAX_PROTO3) Report(file.name(), "not proto3");
    // The comment above `syntax` (field 12 of FileDescriptorProto) says what the file holds.
    const bool file_comment = std::any_of(
        proto.source_code_info().location().begin(), proto.source_code_info().location().end(),
        [](const pb::SourceCodeInfo::Location& l) {
          return l.path_size() == 1 && l.path(0) == 12 && !l.leading_comments().empty();
        });
    if (!file_comment) Report(file.name(), "no comment above `syntax` saying what it holds");
    for (int i = 0; i < file.message_type_count(); ++i) CheckMessage(*file.message_type(i));
    for (int i = 0; i < file.enum_type_count(); ++i) CheckEnum(*file.enum_type(i));
    for (int i = 0; i < file.service_count(); ++i) CheckService(*file.service(i));
  }

 private:
  void Report(const std::string& what, const std::string& rule) {
    out_.push_back(what + ": " + rule);
  }

  void CheckMessage(const pb::Descriptor& m) {
    // A map's entry message is protoc's, not ours (its field is checked as the map).
    if (m.options().map_entry()) return;
    if (!IsPascalCase(m.name())) Report(m.full_name(), "message name is not PascalCase");
    if (!HasComment(m)) Report(m.full_name(), "message has no comment");
    for (int i = 0; i < m.field_count(); ++i) CheckField(*m.field(i));
    for (int i = 0; i < m.oneof_decl_count(); ++i) {
      const pb::OneofDescriptor& o = *m.oneof_decl(i);
      if (o.is_synthetic()) continue;  // proto3 `optional`
      if (!IsSnakeCase(o.name())) Report(o.full_name(), "oneof name is not snake_case");
      if (!HasComment(o)) Report(o.full_name(), "oneof has no comment");
    }
    for (int i = 0; i < m.nested_type_count(); ++i) CheckMessage(*m.nested_type(i));
    for (int i = 0; i < m.enum_type_count(); ++i) CheckEnum(*m.enum_type(i));
  }

  void CheckField(const pb::FieldDescriptor& f) {
    const std::string& name = f.name();
    if (!IsSnakeCase(name)) Report(f.full_name(), "field name is not snake_case");
    if (!HasComment(f)) Report(f.full_name(), "field has no comment");
    if (f.is_repeated() && !IsPluralName(name)) {
      Report(f.full_name(), "repeated field name is not plural");
    }
    for (std::string_view suffix : kTimeUnitSuffixes) {
      if (EndsWith(name, suffix)) {
        Report(f.full_name(), "time in an integer unit (" + std::string(suffix) +
                                  "): use google.protobuf.Duration or Timestamp");
      }
    }
    const size_t underscore = name.rfind('_');
    const std::string last_word =
        underscore == std::string::npos ? name : name.substr(underscore + 1);
    if (kTimeWords.contains(last_word) && !IsTimeType(f)) {
      Report(f.full_name(), "holds a time: must be google.protobuf.Duration or Timestamp");
    }
  }

  static bool IsTimeType(const pb::FieldDescriptor& f) {
    return f.message_type() != nullptr &&
           (f.message_type()->full_name() == "google.protobuf.Duration" ||
            f.message_type()->full_name() == "google.protobuf.Timestamp");
  }

  void CheckEnum(const pb::EnumDescriptor& e) {
    if (!IsPascalCase(e.name())) Report(e.full_name(), "enum name is not PascalCase");
    if (!HasComment(e)) Report(e.full_name(), "enum has no comment");
    const std::string prefix = UpperSnake(e.name()) + "_";
    const pb::EnumValueDescriptor* zero = e.FindValueByNumber(0);
    if (zero == nullptr || zero->name() != prefix + "UNSPECIFIED") {
      Report(e.full_name(), "value 0 is not " + prefix + "UNSPECIFIED");
    }
    for (int i = 0; i < e.value_count(); ++i) {
      const pb::EnumValueDescriptor& v = *e.value(i);
      const std::string what = e.full_name() + "." + v.name();
      if (!IsUpperSnakeCase(v.name())) Report(what, "value name is not UPPER_SNAKE_CASE");
      if (v.name().rfind(prefix, 0) != 0) Report(what, "value lacks the prefix " + prefix);
      if (!HasComment(v)) Report(what, "enum value has no comment");
    }
  }

  void CheckService(const pb::ServiceDescriptor& s) {
    if (!IsPascalCase(s.name()) || !EndsWith(s.name(), "Service")) {
      Report(s.full_name(), "service name is not PascalCase ending in Service");
    }
    if (!HasComment(s)) Report(s.full_name(), "service has no comment");
    const std::string stem = s.name().substr(0, s.name().size() - std::string("Service").size());
    for (int i = 0; i < s.method_count(); ++i) {
      const pb::MethodDescriptor& m = *s.method(i);
      if (!IsPascalCase(m.name())) Report(m.full_name(), "method name is not PascalCase");
      if (!HasComment(m)) Report(m.full_name(), "method has no comment");
      CheckRpcMessage(m, m.input_type()->name(), stem, "Request");
      CheckRpcMessage(m, m.output_type()->name(), stem, "Response");
      for (const pb::Descriptor* type : {m.input_type(), m.output_type()}) {
        auto [it, fresh] = rpc_messages_.emplace(type->full_name(), m.full_name());
        if (!fresh) Report(m.full_name(), type->full_name() + " is also used by " + it->second);
      }
    }
  }

  void CheckRpcMessage(const pb::MethodDescriptor& m, const std::string& type,
                       const std::string& stem, const std::string& kind) {
    if (type != m.name() + kind && type != stem + m.name() + kind) {
      Report(m.full_name(), kind + " message " + type + " is not " + m.name() + kind + " or " +
                                stem + m.name() + kind);
    }
  }

  std::vector<std::string>& out_;
  std::map<std::string, std::string> rpc_messages_;  // request/response type -> its RPC
};

// ---- Golden list of the wire contract ------------------------------------------------------

std::string FieldType(const pb::FieldDescriptor& f) {
  std::string out;
  if (f.is_repeated()) out += "repeated ";
  if (f.has_optional_keyword()) out += "optional ";
  if (f.message_type() != nullptr) return out + f.message_type()->full_name();
  if (f.enum_type() != nullptr) return out + f.enum_type()->full_name();
  return out + f.type_name();
}

void EnumLines(const pb::EnumDescriptor& e, std::vector<std::string>& lines) {
  for (int i = 0; i < e.value_count(); ++i) {
    lines.push_back("value " + e.full_name() + "." + e.value(i)->name() + " = " +
                    std::to_string(e.value(i)->number()));
  }
}

void MessageLines(const pb::Descriptor& m, std::vector<std::string>& lines) {
  for (int i = 0; i < m.field_count(); ++i) {
    const pb::FieldDescriptor& f = *m.field(i);
    std::string line =
        "field " + f.full_name() + " = " + std::to_string(f.number()) + " " + FieldType(f);
    if (f.real_containing_oneof() != nullptr) line += " oneof " + f.real_containing_oneof()->name();
    lines.push_back(line);
  }
  for (int i = 0; i < m.nested_type_count(); ++i) MessageLines(*m.nested_type(i), lines);
  for (int i = 0; i < m.enum_type_count(); ++i) EnumLines(*m.enum_type(i), lines);
}

// One line per field, enum value and RPC: what clients already compiled depend on.
std::vector<std::string> ApiLines(const pb::FileDescriptor& file) {
  std::vector<std::string> lines;
  for (int i = 0; i < file.message_type_count(); ++i) MessageLines(*file.message_type(i), lines);
  for (int i = 0; i < file.enum_type_count(); ++i) EnumLines(*file.enum_type(i), lines);
  for (int i = 0; i < file.service_count(); ++i) {
    const pb::ServiceDescriptor& s = *file.service(i);
    for (int j = 0; j < s.method_count(); ++j) {
      const pb::MethodDescriptor& m = *s.method(j);
      lines.push_back("rpc " + m.full_name() + "(" + (m.client_streaming() ? "stream " : "") +
                      m.input_type()->full_name() + ") returns (" +
                      (m.server_streaming() ? "stream " : "") + m.output_type()->full_name() + ")");
    }
  }
  return lines;
}

// A golden line that is gone is fine only when its field or value was removed properly: its
// number and name are `reserved` where it lived.
bool RemovedProperly(const pb::DescriptorPool& pool, const std::string& line) {
  std::istringstream in(line);
  std::string kind, full_name, equals;
  int number = 0;
  if (!(in >> kind >> full_name >> equals >> number) || equals != "=") return false;
  const size_t dot = full_name.rfind('.');
  const std::string parent = full_name.substr(0, dot);
  const std::string name = full_name.substr(dot + 1);
  if (kind == "field") {
    const pb::Descriptor* m = pool.FindMessageTypeByName(parent);
    return m != nullptr && m->FindFieldByName(name) == nullptr && m->IsReservedNumber(number) &&
           m->IsReservedName(name);
  }
  if (kind == "value") {
    const pb::EnumDescriptor* e = pool.FindEnumTypeByName(parent);
    return e != nullptr && e->FindValueByName(name) == nullptr && e->IsReservedNumber(number) &&
           e->IsReservedName(name);
  }
  return false;  // an RPC is never removed from v1
}

// ---- The API as protoc wrote it, with comments -----------------------------------------------

class ApiStyleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in{std::string(kDescriptorSet), std::ios::binary};
    ASSERT_TRUE(in) << "cannot read " << kDescriptorSet << " (built with braid_proto)";
    ASSERT_TRUE(set_.ParseFromIstream(&in)) << kDescriptorSet;
    // --include_imports: dependencies come first, so each file builds on what is there.
    for (const pb::FileDescriptorProto& file : set_.file()) {
      const pb::FileDescriptor* built = pool_.BuildFile(file);
      ASSERT_NE(built, nullptr) << file.name();
      if (built->package() == "braid.v1") api_.push_back({built, &file});
    }
    ASSERT_EQ(api_.size(), 5u);
  }

  struct ApiFile {
    const pb::FileDescriptor* file;
    const pb::FileDescriptorProto* proto;
  };
  pb::FileDescriptorSet set_;
  pb::DescriptorPool pool_;
  std::vector<ApiFile> api_;
};

// The descriptor set is the API compiled into braid_proto, not a stale copy.
TEST_F(ApiStyleTest, DescriptorSetIsTheCompiledApi) {
  // Linking one message of each file registers it in the generated pool.
  const pb::Descriptor* linked[] = {v1::PodRef::descriptor(), v1::MptcpOptions::descriptor(),
                                    v1::CniAddRequest::descriptor(), v1::Endpoint::descriptor(),
                                    v1::GetStatusRequest::descriptor()};
  for (const ApiFile& api : api_) {
    const pb::FileDescriptor* compiled =
        pb::DescriptorPool::generated_pool()->FindFileByName(api.file->name());
    ASSERT_NE(compiled, nullptr) << api.file->name();
    EXPECT_TRUE(std::any_of(std::begin(linked), std::end(linked),
                            [&](const pb::Descriptor* d) { return d->file() == compiled; }));
    pb::FileDescriptorProto from_set = *api.proto;
    from_set.clear_source_code_info();
    pb::FileDescriptorProto from_binary;
    compiled->CopyTo(&from_binary);
    compiled->CopyJsonNameTo(&from_binary);  // protoc's descriptor set carries json_name
    EXPECT_TRUE(pb::util::MessageDifferencer::Equals(from_set, from_binary)) << api.file->name();
  }
}

TEST_F(ApiStyleTest, EveryRuleHolds) {
  std::vector<std::string> violations;
  StyleChecker checker(violations);
  for (const ApiFile& api : api_) checker.CheckFile(*api.file, *api.proto);
  EXPECT_THAT(violations, ::testing::IsEmpty());
}

// The checker itself: a file that breaks each rule once is caught on each.
TEST(ApiStyleCheckerTest, CatchesEveryKindOfViolation) {
  pb::DescriptorPool pool;
  pb::FileDescriptorProto deps;
  pb::Duration::descriptor()->file()->CopyTo(&deps);
  ASSERT_NE(pool.BuildFile(deps), nullptr);
  pb::FileDescriptorProto bad;
  ASSERT_TRUE(pb::TextFormat::ParseFromString(
      R"pb(
        name: "braid/v1/bad.proto"
        package: "braid.v1"
        syntax: "proto3"
        dependency: "google/protobuf/duration.proto"
        message_type {
          name: "Probe"
          field { name: "timeout_ms" number: 1 type: TYPE_UINT32 label: LABEL_OPTIONAL }
          field { name: "address" number: 2 type: TYPE_STRING label: LABEL_REPEATED }
          field { name: "idle_time" number: 3 type: TYPE_UINT64 label: LABEL_OPTIONAL }
          field { name: "min_rtt" number: 4 type: TYPE_UINT32 label: LABEL_OPTIONAL }
          field {
            name: "wait"
            number: 5
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Duration"
            label: LABEL_OPTIONAL
          }
          field { name: "BadName" number: 6 type: TYPE_STRING label: LABEL_OPTIONAL }
        }
        message_type { name: "GetReply" }
        enum_type {
          name: "Color"
          value { name: "RED" number: 0 }
          value { name: "COLOR_BLUE" number: 1 }
        }
        service {
          name: "Probes"
          method { name: "Get" input_type: ".braid.v1.Probe" output_type: ".braid.v1.GetReply" }
          method { name: "Put" input_type: ".braid.v1.Probe" output_type: ".braid.v1.GetReply" }
        }
      )pb",
      &bad));
  const pb::FileDescriptor* file = pool.BuildFile(bad);
  ASSERT_NE(file, nullptr);
  std::vector<std::string> violations;
  StyleChecker(violations).CheckFile(*file, bad);
  using ::testing::HasSubstr;
  for (const char* expected : {
           "braid/v1/bad.proto: no comment above `syntax`",
           "braid.v1.Probe: message has no comment",
           "braid.v1.Probe.timeout_ms: time in an integer unit (_ms)",
           "braid.v1.Probe.address: repeated field name is not plural",
           "braid.v1.Probe.idle_time: holds a time",
           "braid.v1.Probe.min_rtt: holds a time",
           "braid.v1.Probe.BadName: field name is not snake_case",
           "braid.v1.Probe.wait: field has no comment",
           "braid.v1.Color: value 0 is not COLOR_UNSPECIFIED",
           "braid.v1.Color.RED: value lacks the prefix COLOR_",
           "braid.v1.Color.COLOR_BLUE: enum value has no comment",
           "braid.v1.Probes: service name is not PascalCase ending in Service",
           "braid.v1.Probes.Get: Request message Probe is not GetRequest",
           "braid.v1.Probes.Get: Response message GetReply is not GetResponse",
           "braid.v1.Probes.Put: braid.v1.Probe is also used by braid.v1.Probes.Get",
       }) {
    EXPECT_THAT(violations, ::testing::Contains(HasSubstr(expected))) << expected;
  }
  // A Duration named like a time, and a time-named Duration, are both fine.
  for (const std::string& v : violations) {
    EXPECT_THAT(v, ::testing::Not(HasSubstr("Probe.wait: holds"))) << v;
  }
}

// Field numbers, types and names, enum values and RPCs only ever get added (README.md,
// "Versioning"). With BRAID_UPDATE_GOLDEN=1 the test appends what is new to the golden file;
// it never deletes a line: a removed field is `reserved` by hand, and its line stays.
TEST_F(ApiStyleTest, WireContractOnlyGrows) {
  std::vector<std::string> current;
  for (const ApiFile& api : api_) {
    std::vector<std::string> lines = ApiLines(*api.file);
    current.insert(current.end(), lines.begin(), lines.end());
  }
  std::vector<std::string> golden;
  {
    std::ifstream in{std::string(kGolden)};
    ASSERT_TRUE(in) << "cannot read " << kGolden;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line[0] != '#') golden.push_back(line);
    }
  }
  const std::set<std::string> now(current.begin(), current.end());
  const std::set<std::string> before(golden.begin(), golden.end());

  for (const std::string& line : golden) {
    if (!now.contains(line)) {
      EXPECT_TRUE(RemovedProperly(pool_, line))
          << "changed or removed without `reserved`: " << line;
    }
  }
  std::vector<std::string> added;
  for (const std::string& line : current) {
    if (!before.contains(line)) added.push_back(line);
  }
  if (added.empty()) return;
  const char* update = std::getenv("BRAID_UPDATE_GOLDEN");
  if (update != nullptr && std::string_view(update) == "1") {
    std::ofstream out{std::string(kGolden), std::ios::app};
    for (const std::string& line : added) out << line << "\n";
    return;
  }
  std::string list;
  for (const std::string& line : added) list += "  " + line + "\n";
  ADD_FAILURE() << "new in the API, not yet in " << kGolden
                << " (run with BRAID_UPDATE_GOLDEN=1 to append):\n"
                << list;
}

}  // namespace
}  // namespace braid::proto
