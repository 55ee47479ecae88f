// cni/options.h: cni-args and braid.io/* annotations become PodOptions as proto/braid/v1/README.md
// says ("Per-pod options").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cni/error.h"
#include "cni/options.h"

namespace braid::cni {
namespace {

std::vector<std::string> Options(const std::string& config) {
  const absl::StatusOr<std::vector<v1::PodOption>> options = PodOptions(*ParseJson(config));
  if (!options.ok()) {
    const CniError error = ToCniError(options.status());
    return {"error " + std::to_string(error.code) + ": " + error.msg};
  }
  std::vector<std::string> out;
  for (const v1::PodOption& option : *options) {
    out.push_back(
        option.name() + "=" + option.value() +
        (option.source() == v1::OPTION_SOURCE_CNI_ARGS ? " (cni-args)" : " (annotation)"));
  }
  return out;
}

TEST(OptionsTest, ValuesAsText) {
  EXPECT_EQ(*OptionValueText(JsonString("blest"), "x"), "blest");
  EXPECT_EQ(*OptionValueText(JsonNumber(2), "x"), "2");
  EXPECT_EQ(*OptionValueText(JsonNumber(0.5), "x"), "0.5");
  EXPECT_EQ(*OptionValueText(JsonBool(false), "x"), "false");
  EXPECT_EQ(*OptionValueText(*ParseJson(R"(["path0", "path1"])"), "x"), "path0,path1");
  EXPECT_EQ(*OptionValueText(*ParseJson("[]"), "x"), "");
  EXPECT_EQ(ToCniError(OptionValueText(*ParseJson(R"({"a": 1})"), "args.cni.x").status()).msg,
            "args.cni.x: expected a string, number, boolean or list of strings, got an object");
  EXPECT_EQ(ToCniError(OptionValueText(*ParseJson("[\"a\", true]"), "args.cni.x").status()).msg,
            "args.cni.x[1]: expected a string, got a boolean");
}

TEST(OptionsTest, CniArgsThenBraidAnnotations) {
  EXPECT_EQ(
      Options(R"({
      "args": {"cni": {"scheduler": "blest", "paths": ["path0", "path1"], "checksum": true,
                       "subflows-per-path": 2},
               "other": "ignored"},
      "runtimeConfig": {"io.kubernetes.cri.pod-annotations": {
          "braid.io/backup-paths": "path1", "braid.io/scheduler": "ecf",
          "kubernetes.io/config.seen": "2024", "braid.iox/no": "x"},
        "portMappings": []}})"),
      (std::vector<std::string>{
          "checksum=true (cni-args)", "paths=path0,path1 (cni-args)", "scheduler=blest (cni-args)",
          "subflows-per-path=2 (cni-args)", "backup-paths=path1 (annotation)",
          "scheduler=ecf (annotation)",  // the agent refuses the same name twice
      }));
  EXPECT_TRUE(Options(R"({"name": "braid"})").empty());
  EXPECT_TRUE(Options(R"({"args": {}, "runtimeConfig": {}})").empty());
}

TEST(OptionsTest, ErrorsNameTheKey) {
  EXPECT_EQ(Options(R"({"args": []})"),
            (std::vector<std::string>{"error 7: args: expected an object, got a list"}));
  EXPECT_EQ(Options(R"({"args": {"cni": "scheduler=blest"}})"),
            (std::vector<std::string>{"error 7: args.cni: expected an object, got a string"}));
  EXPECT_EQ(Options(R"({"args": {"cni": {"paths": null}}})"),
            (std::vector<std::string>{"error 7: args.cni.paths: expected a string, number, "
                                      "boolean or list of strings, got null"}));
  EXPECT_EQ(Options(R"({"runtimeConfig": {"io.kubernetes.cri.pod-annotations": {
                        "braid.io/paths": {"a": 1}}}})"),
            (std::vector<std::string>{
                "error 7: runtimeConfig[\"io.kubernetes.cri.pod-annotations\"][\"braid.io/"
                "paths\"]: expected a string, number, boolean or list of strings, got an object"}));
  EXPECT_EQ(Options(R"({"runtimeConfig": {"io.kubernetes.cri.pod-annotations": []}})"),
            (std::vector<std::string>{"error 7: runtimeConfig[\"io.kubernetes.cri.pod-"
                                      "annotations\"]: expected an object, got a list"}));
}

}  // namespace
}  // namespace braid::cni
