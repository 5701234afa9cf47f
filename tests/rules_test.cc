// The model rules (lib/rules/models.json, docs/service.md#input-rules): the loader, evaluate()
// on both sides of every bound of every model, and the presentations.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "facegate/rules.hpp"

using namespace facegate;

namespace {

const char* const kWan = "wan2.2-s2v-detect";
const char* const kEmo = "emo-detect-v1";
const char* const kLive = "liveportrait-detect";
const char* const kEmoji = "emoji-detect-v1";
const char* const kAa = "animate-anyone-detect-gen2";

const ModelRules& model(std::string_view name) {
  const RulesResult& builtin = builtin_rules();
  REQUIRE(builtin.ok());
  const ModelRules* found = builtin.rules.find(name);
  REQUIRE(found != nullptr);
  return *found;
}

Subject image(Format format, std::uint32_t width, std::uint32_t height,
              std::optional<std::uint64_t> file_size = 1000) {
  Subject subject;
  subject.image.format = format;
  subject.image.width = width;
  subject.image.height = height;
  subject.file_size = file_size;
  return subject;
}

Subject jpeg(std::uint32_t width, std::uint32_t height,
             std::optional<std::uint64_t> file_size = 1000) {
  return image(Format::jpeg, width, height, file_size);
}

Subject with_size(std::optional<std::uint64_t> file_size) { return jpeg(1000, 1000, file_size); }

Subject strict(Subject subject) {
  subject.strict = true;
  return subject;
}

Subject with_parameter(Subject subject, std::string name, std::string value) {
  subject.parameters.push_back(Parameter{std::move(name), std::move(value)});
  return subject;
}

Verdict check(std::string_view name, const Subject& subject) {
  return evaluate(model(name), subject);
}

// The decision, and that the only non-info findings are the expected codes. The retirement
// warning that every verdict of a retired model ends with is left out here; the lifecycle
// tests pin it.
void expect(const Verdict& verdict, Decision decision, std::vector<std::string> codes = {}) {
  CHECK(decision_name(verdict.decision) == decision_name(decision));
  std::vector<std::string> found;
  for (const auto& finding : verdict.findings) {
    if (finding.severity != Severity::info && finding.code != "model.retired") {
      found.push_back(finding.code);
    }
  }
  CHECK(found == codes);
}

Severity severity_of(const Verdict& verdict, std::string_view code) {
  const Finding* finding = verdict.find(code);
  REQUIRE(finding != nullptr);
  return finding->severity;
}

std::filesystem::path data_file(std::string_view name) {
  const char* root = std::getenv("FACEGATE_TEST_DATA");
  REQUIRE(root != nullptr);
  return std::filesystem::path(root) / "rules" / name;
}

// A minimal valid model, to break one field at a time in parse tests.
std::string document_with(std::string_view model_fields) {
  return R"({"schema": 1, "models": [{"name": "m", "endpoint": "/e", "response": "pass_message",
    "urls": {"schemes": ["https"], "source": "documented"},
    "formats": {"accepted": ["jpeg"], "source": "documented"},
    "rate": {"requests_per_second": 1, "source": "documented"})" +
         std::string(model_fields) + "}]}";
}

void expect_error(const RulesResult& result, RulesErrorKind kind, std::string_view path) {
  REQUIRE_FALSE(result.ok());
  CHECK(rules_error_kind_name(result.error->kind) == rules_error_kind_name(kind));
  CHECK(result.error->path == path);
  CHECK(result.error->message().find(path.empty() ? "rules" : path) == 0);
  CHECK(result.rules.models.empty());
}

}  // namespace

TEST_CASE("the built-in rules load and hold the five models of the spec") {
  const RulesResult& builtin = builtin_rules();
  REQUIRE(builtin.ok());
  CHECK(builtin.rules.schema == 1);
  CHECK(builtin.rules.names() ==
        std::vector<std::string_view>{kWan, kEmo, kLive, kEmoji, kAa});
  CHECK(builtin.rules.find("no-such-model") == nullptr);

  CHECK(model(kWan).endpoint == "/services/aigc/image2video/face-detect");
  CHECK(model(kAa).endpoint == "/services/aigc/image2video/aa-detect");
  CHECK(model(kWan).response == ResponseShape::check_pass_humanoid);
  CHECK(model(kEmo).response == ResponseShape::check_pass_bbox);
  CHECK(model(kLive).response == ResponseShape::pass_message);
  CHECK(model(kEmoji).response == ResponseShape::bbox_face);
  CHECK(model(kAa).response == ResponseShape::check_pass_bodystyle);
  CHECK(model(kEmoji).rate.requests_per_second == 1);
  for (auto name : {kWan, kEmo, kLive, kAa}) CHECK(model(name).rate.requests_per_second == 5);
  CHECK(model(kWan).urls.schemes == std::vector<std::string>{"http", "https", "oss"});
  CHECK(model(kEmoji).urls.schemes == std::vector<std::string>{"http", "https", "oss"});
  CHECK(model(kEmo).urls.schemes == std::vector<std::string>{"http", "https"});
  CHECK(model(kAa).formats.source == RuleSource::inferred);
  CHECK(model(kAa).file_size->source == RuleSource::inferred);
  CHECK(model(kLive).file_size->source == RuleSource::documented);
}

TEST_CASE("the compiled-in rules are exactly lib/rules/models.json") {
  const char* root = std::getenv("FACEGATE_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  const RulesResult from_file =
      load_rules_file(std::filesystem::path(root) / "lib" / "rules" / "models.json");
  REQUIRE(from_file.ok());
  CHECK(from_file.rules == builtin_rules().rules);
}

TEST_CASE("prices are integers in micro units, null where unpublished") {
  REQUIRE(price_per_image(model(kWan), "USD"));
  CHECK(price_per_image(model(kWan), "USD")->amount_micros == 574);
  CHECK(format_money(*price_per_image(model(kWan), "USD")) == "USD 0.000574");
  CHECK(format_money(*price_per_image(model(kWan), "CNY")) == "CNY 0.004");
  CHECK(model(kLive).price->source == RuleSource::inferred);
  CHECK(price_per_image(model(kLive), "CNY")->amount_micros == 4000);
  CHECK_FALSE(price_per_image(model(kLive), "USD"));
  for (auto name : {kEmo, kEmoji, kAa}) {
    CHECK_FALSE(model(name).price);
    CHECK_FALSE(price_per_image(model(name), "USD"));
  }
  CHECK(format_money(Money{"USD", 12'500'000}) == "USD 12.5");
  CHECK(format_money(Money{"USD", 0}) == "USD 0");
  CHECK(format_money(Money{"USD", -1}) == "USD -0.000001");
  CHECK(format_money(Money{"USD", std::numeric_limits<std::int64_t>::min()}) ==
        "USD -9223372036854.775808");
}

TEST_CASE("wan2.2-s2v-detect: 400 <= width, height <= 7000") {
  expect(check(kWan, jpeg(400, 400)), Decision::pass);
  expect(check(kWan, jpeg(7000, 7000)), Decision::pass);
  expect(check(kWan, jpeg(399, 400)), Decision::reject, {"size.width_below_min"});
  expect(check(kWan, jpeg(400, 399)), Decision::reject, {"size.height_below_min"});
  expect(check(kWan, jpeg(7001, 7000)), Decision::reject, {"size.width_above_max"});
  expect(check(kWan, jpeg(7000, 7001)), Decision::reject, {"size.height_above_max"});
  expect(check(kWan, jpeg(399, 7001)), Decision::reject,
         {"size.width_below_min", "size.height_above_max"});
  // No aspect rule: 400 x 7000 is fine.
  expect(check(kWan, jpeg(400, 7000)), Decision::pass);

  const Verdict verdict = check(kWan, jpeg(399, 400));
  const Finding& finding = verdict.findings.at(0);
  CHECK(finding.severity == Severity::reject);
  CHECK(finding.limit == "400");
  CHECK(finding.actual == "399");
  CHECK(finding.message == "width 399 px is below the minimum of 400 px");
}

TEST_CASE("emo-detect-v1: short side >= 400, long side <= 7000") {
  expect(check(kEmo, jpeg(400, 400)), Decision::pass);
  expect(check(kEmo, jpeg(400, 7000)), Decision::pass);
  expect(check(kEmo, jpeg(7000, 400)), Decision::pass);
  expect(check(kEmo, jpeg(399, 1000)), Decision::reject, {"size.short_side_below_min"});
  expect(check(kEmo, jpeg(1000, 399)), Decision::reject, {"size.short_side_below_min"});
  expect(check(kEmo, jpeg(7001, 400)), Decision::reject, {"size.long_side_above_max"});
  expect(check(kEmo, jpeg(400, 7001)), Decision::reject, {"size.long_side_above_max"});
}

TEST_CASE("liveportrait-detect: long side <= 4096, aspect <= 2, no minimum") {
  expect(check(kLive, jpeg(4096, 2048)), Decision::pass);
  expect(check(kLive, jpeg(2048, 4096)), Decision::pass);
  expect(check(kLive, jpeg(4097, 2049)), Decision::reject, {"size.long_side_above_max"});
  expect(check(kLive, jpeg(2049, 4097)), Decision::reject, {"size.long_side_above_max"});
  expect(check(kLive, jpeg(1, 1)), Decision::pass);
  expect(check(kLive, jpeg(2, 1)), Decision::pass);
  expect(check(kLive, jpeg(800, 400)), Decision::pass);
  expect(check(kLive, jpeg(400, 800)), Decision::pass);
  expect(check(kLive, jpeg(801, 400)), Decision::reject, {"aspect.above_max"});
  expect(check(kLive, jpeg(400, 801)), Decision::reject, {"aspect.above_max"});
  expect(check(kLive, jpeg(3, 1)), Decision::reject, {"aspect.above_max"});

  const Verdict verdict = check(kLive, jpeg(1000, 400));
  CHECK(verdict.findings.at(0).limit == "2:1");
  CHECK(verdict.findings.at(0).actual == "5:2");
}

TEST_CASE("liveportrait-detect: file size < 10M, ambiguous between 10,000,000 and 10,485,760") {
  expect(check(kLive, with_size(0)), Decision::pass);
  expect(check(kLive, with_size(9'999'999)), Decision::pass);
  CHECK(check(kLive, with_size(9'999'999)).findings.size() == 1);  // model.retired
  expect(check(kLive, with_size(10'000'000)), Decision::pass, {"file_size.ambiguous"});
  CHECK(severity_of(check(kLive, with_size(10'000'000)), "file_size.ambiguous") ==
        Severity::warn);
  CHECK(check(kLive, with_size(10'000'000)).findings.at(0).limit == "< 10000000");
  expect(check(kLive, with_size(10'485'759)), Decision::pass, {"file_size.ambiguous"});
  expect(check(kLive, with_size(10'485'760)), Decision::reject, {"file_size.above_max"});
  CHECK(check(kLive, with_size(10'485'760)).findings.at(0).limit == "< 10485760");
  expect(check(kLive, with_size(std::numeric_limits<std::uint64_t>::max())), Decision::reject,
         {"file_size.above_max"});
  // Strict reads the limit the small way.
  expect(check(kLive, strict(with_size(9'999'999))), Decision::pass);
  expect(check(kLive, strict(with_size(10'000'000))), Decision::reject, {"file_size.ambiguous"});
}

TEST_CASE("an unknown file size matters only to a model with a file-size rule") {
  const Verdict live = check(kLive, with_size(std::nullopt));
  expect(live, Decision::unknown);
  CHECK(severity_of(live, "file_size.unknown") == Severity::info);
  expect(check(kEmoji, with_parameter(with_size(std::nullopt), "ratio", "1:1")),
         Decision::unknown);
  expect(check(kWan, with_size(std::nullopt)), Decision::pass);
  CHECK(check(kWan, with_size(std::nullopt)).findings.empty());
  expect(check(kEmo, with_size(std::nullopt)), Decision::pass);
  // aa-detect's size rule is inferred: it could only warn, so it does not hold back a pass...
  const Verdict aa = check(kAa, with_size(std::nullopt));
  expect(aa, Decision::pass);
  CHECK(aa.find("file_size.unknown") != nullptr);
  // ...unless strict, where it could reject.
  expect(check(kAa, strict(with_size(std::nullopt))), Decision::unknown);
  // A rule that already fails outranks a missing fact.
  expect(check(kLive, jpeg(801, 400, std::nullopt)), Decision::reject, {"aspect.above_max"});
}

TEST_CASE("emoji-detect-v1: 400 <= width, height <= 7000, file size <= 10 MB, ratio required") {
  auto emoji = [](Subject subject) {
    return check(kEmoji, with_parameter(std::move(subject), "ratio", "1:1"));
  };
  expect(emoji(jpeg(400, 400)), Decision::pass);
  expect(emoji(jpeg(7000, 7000)), Decision::pass);
  expect(emoji(jpeg(399, 400)), Decision::reject, {"size.width_below_min"});
  expect(emoji(jpeg(400, 399)), Decision::reject, {"size.height_below_min"});
  expect(emoji(jpeg(7001, 400)), Decision::reject, {"size.width_above_max"});
  expect(emoji(jpeg(400, 7001)), Decision::reject, {"size.height_above_max"});

  // "<= 10 MB": 10,000,000 passes either reading; 10,485,760 only the larger one.
  expect(emoji(with_size(10'000'000)), Decision::pass);
  expect(emoji(with_size(10'000'001)), Decision::pass, {"file_size.ambiguous"});
  CHECK(emoji(with_size(10'000'001)).findings.at(0).limit == "<= 10000000");
  expect(emoji(with_size(10'485'760)), Decision::pass, {"file_size.ambiguous"});
  expect(emoji(with_size(10'485'761)), Decision::reject, {"file_size.above_max"});
  CHECK(emoji(with_size(10'485'761)).findings.at(0).limit == "<= 10485760");
}

TEST_CASE("animate-anyone-detect-gen2: inferred rules warn, strict rejects") {
  expect(check(kAa, jpeg(4096, 2048)), Decision::pass);
  expect(check(kAa, jpeg(4097, 2049)), Decision::pass, {"size.long_side_above_max"});
  CHECK(severity_of(check(kAa, jpeg(4097, 2049)), "size.long_side_above_max") == Severity::warn);
  CHECK(check(kAa, jpeg(4097, 2049)).findings.at(0).message.ends_with("(inferred rule)"));
  expect(check(kAa, strict(jpeg(4097, 2049))), Decision::reject, {"size.long_side_above_max"});
  expect(check(kAa, jpeg(800, 400)), Decision::pass);
  expect(check(kAa, jpeg(801, 400)), Decision::pass, {"aspect.above_max"});
  expect(check(kAa, strict(jpeg(801, 400))), Decision::reject, {"aspect.above_max"});

  // "< 5 MB": 5,000,000 or 5,242,880 bytes.
  expect(check(kAa, with_size(4'999'999)), Decision::pass);
  expect(check(kAa, with_size(5'000'000)), Decision::pass, {"file_size.ambiguous"});
  expect(check(kAa, with_size(5'242'879)), Decision::pass, {"file_size.ambiguous"});
  expect(check(kAa, with_size(5'242'880)), Decision::pass, {"file_size.above_max"});
  CHECK(severity_of(check(kAa, with_size(5'242'880)), "file_size.above_max") == Severity::warn);
  expect(check(kAa, strict(with_size(5'242'880))), Decision::reject, {"file_size.above_max"});
  expect(check(kAa, strict(with_size(5'000'000))), Decision::reject, {"file_size.ambiguous"});
  expect(check(kAa, strict(with_size(4'999'999))), Decision::pass);
}

TEST_CASE("strict does not change documented rules or passing images") {
  expect(check(kWan, strict(jpeg(400, 400))), Decision::pass);
  expect(check(kWan, strict(jpeg(399, 400))), Decision::reject, {"size.width_below_min"});
  expect(check(kLive, strict(jpeg(800, 400))), Decision::pass);
}

TEST_CASE("each format is accepted or refused per model") {
  struct Expectation {
    Format format;
    bool by_face_detect;  // wan2.2, emo, liveportrait, emoji: jpeg png bmp webp [doc]
    bool by_aa_detect;    // jpeg png bmp [inferred]
  };
  const Expectation expectations[] = {
      {Format::jpeg, true, true},   {Format::png, true, true},    {Format::bmp, true, true},
      {Format::webp, true, false},  {Format::gif, false, false},  {Format::tiff, false, false},
      {Format::heif, false, false}, {Format::avif, false, false}, {Format::jxl, false, false},
      {Format::ico, false, false},  {Format::psd, false, false},  {Format::svg, false, false},
  };
  for (const auto& expectation : expectations) {
    CAPTURE(format_name(expectation.format));
    const bool parsed = format_is_parsed(expectation.format);
    // Recognized-only formats come without dimensions.
    const Subject subject = parsed ? image(expectation.format, 1000, 1000)
                                   : image(expectation.format, 0, 0);
    for (auto name : {kWan, kEmo, kLive}) {
      CAPTURE(name);
      const Verdict verdict = check(name, subject);
      if (expectation.by_face_detect) {
        expect(verdict, Decision::pass);
      } else {
        expect(verdict, Decision::reject, {"format.not_accepted"});
        CHECK(verdict.find("size.unknown") != nullptr);
      }
    }
    const Verdict aa = check(kAa, subject);
    if (expectation.by_aa_detect) {
      expect(aa, Decision::pass);
    } else {
      // Inferred: warns. Without dimensions the inferred pixel rules could only warn too.
      expect(aa, Decision::pass, {"format.not_accepted"});
      expect(check(kAa, strict(subject)), Decision::reject, {"format.not_accepted"});
    }
  }
  const Verdict gif = check(kWan, image(Format::gif, 0, 0));
  CHECK(gif.findings.at(0).message ==
        "gif is not accepted; wan2.2-s2v-detect accepts jpeg, png, bmp, webp");
  CHECK(gif.findings.at(0).actual == "gif");
}

TEST_CASE("bytes of no known format are format.unknown, not a probe error") {
  Subject subject = image(Format::unknown, 0, 0);
  subject.probe_error = Error{ErrorCode::unsupported_format, "no known magic bytes"};
  const Verdict verdict = check(kWan, subject);
  expect(verdict, Decision::reject, {"format.unknown"});
  CHECK(verdict.find("size.unknown") != nullptr);
  expect(check(kAa, subject), Decision::pass, {"format.unknown"});
  expect(check(kAa, strict(subject)), Decision::reject, {"format.unknown"});
}

TEST_CASE("a failed probe gives error, never reject or pass") {
  for (auto code : {ErrorCode::truncated, ErrorCode::malformed, ErrorCode::io}) {
    CAPTURE(error_code_name(code));
    Subject subject = image(code == ErrorCode::io ? Format::unknown : Format::jpeg, 0, 0);
    subject.probe_error = Error{code, "details"};
    for (auto name : {kWan, kEmo, kLive, kEmoji, kAa}) {
      CAPTURE(name);
      const Verdict verdict = check(name, subject);
      CHECK(verdict.decision == Decision::error);
      const std::string expected = "probe." + std::string(error_code_name(code));
      REQUIRE(verdict.find(expected) != nullptr);
      CHECK(verdict.find(expected)->severity == Severity::error);
      CHECK(verdict.find(expected)->message == "the image header could not be read: details");
      CHECK(verdict.find("size.unknown") == nullptr);
      CHECK(verdict.find("format.unknown") == nullptr);
    }
  }
  // A partial header's dimensions are not judged.
  Subject partial = jpeg(7001, 7001);
  partial.probe_error = Error{ErrorCode::truncated, ""};
  const Verdict verdict = check(kWan, partial);
  expect(verdict, Decision::error, {"probe.truncated"});
  CHECK(verdict.findings.at(0).message == "the image header could not be read");
}

TEST_CASE("parameters: values, defaults, required, unknown") {
  // emo-detect-v1: ratio "1:1" (default) or "3:4".
  expect(check(kEmo, jpeg(1000, 1000)), Decision::pass);
  expect(check(kEmo, with_parameter(jpeg(1000, 1000), "ratio", "3:4")), Decision::pass);
  expect(check(kEmo, with_parameter(jpeg(1000, 1000), "ratio", "1:1")), Decision::pass);
  const Verdict wide = check(kEmo, with_parameter(jpeg(1000, 1000), "ratio", "16:9"));
  expect(wide, Decision::reject, {"param.ratio.invalid"});
  CHECK(wide.findings.at(0).limit == "\"1:1\", \"3:4\"");
  CHECK(wide.findings.at(0).actual == "16:9");

  const std::vector<Parameter> none;
  CHECK(effective_parameters(model(kEmo), none) == std::vector<Parameter>{{"ratio", "1:1"}});
  const std::vector<Parameter> half_body{{"ratio", "3:4"}};
  CHECK(effective_parameters(model(kEmo), half_body) == half_body);

  // emoji-detect-v1: ratio required, only "1:1", no default.
  expect(check(kEmoji, jpeg(1000, 1000)), Decision::reject, {"param.ratio.missing"});
  expect(check(kEmoji, with_parameter(jpeg(1000, 1000), "ratio", "1:1")), Decision::pass);
  expect(check(kEmoji, with_parameter(jpeg(1000, 1000), "ratio", "3:4")), Decision::reject,
         {"param.ratio.invalid"});
  CHECK(effective_parameters(model(kEmoji), none).empty());

  // A parameter the model does not define warns and is not sent.
  const Verdict extra = check(kWan, with_parameter(jpeg(1000, 1000), "ratio", "1:1"));
  expect(extra, Decision::pass, {"param.ratio.unknown"});
  CHECK(effective_parameters(model(kWan), half_body).empty());
}

TEST_CASE("the source: local files get a note, non-public URLs reject") {
  Subject local = jpeg(1000, 1000);
  local.source = SourceKind::local_file;
  expect(check(kWan, local), Decision::pass);
  CHECK(severity_of(check(kWan, local), "url.not_public") == Severity::info);
  expect(check(kWan, strict(local)), Decision::pass);
  Subject internal = jpeg(1000, 1000);
  internal.url = "http://10.1.2.3/a.jpg";
  expect(check(kWan, internal), Decision::reject, {"url.not_public"});
  internal.private_network_reachable = true;  // a test double on the private network
  expect(check(kWan, internal), Decision::pass);
  Subject redirected = jpeg(1000, 1000);  // a public name whose fetch was refused at connect
  redirected.url = "http://images.example/a.jpg";
  redirected.probe_error = Error{ErrorCode::private_address, "redirect to 127.0.0.1"};
  expect(check(kWan, redirected), Decision::reject, {"url.not_public"});
  expect(check(kWan, jpeg(1000, 1000)), Decision::pass);
}

TEST_CASE("a URL the service cannot fetch gets findings about the URL only") {
  Subject ftp;  // never fetched: nothing about the image
  ftp.url = "ftp://images.example/a.jpg";
  const Verdict scheme = check(kWan, ftp);
  expect(scheme, Decision::reject, {"url.scheme"});
  CHECK(scheme.findings.size() == 1);
  CHECK(scheme.find("url.scheme")->actual == "ftp");
  Subject spaced;
  spaced.url = "https://a b/";
  const Verdict malformed = check(kWan, spaced);
  expect(malformed, Decision::reject, {"url.malformed"});
  CHECK(malformed.findings.size() == 1);
  Subject internal;
  internal.url = "http://192.168.1.1/x.png";
  CHECK(check(kWan, internal).findings.size() == 1);
}

TEST_CASE("a network failure is an error with the fetch's own code") {
  Subject failed;
  failed.url = "https://images.example/a.jpg";
  failed.probe_error = Error{ErrorCode::dns, "could not resolve host"};
  const Verdict verdict = check(kWan, failed);
  expect(verdict, Decision::error, {"fetch.dns"});
  CHECK(verdict.findings.size() == 1);
}

TEST_CASE("an image never fetched is judged on its URL and parameters only") {
  Subject oss;  // an oss:// URL: only the service resolves it
  oss.url = "oss://dashscope-instant/key/a.png";
  const Verdict unread = check(kWan, oss);
  expect(unread, Decision::unknown);
  CHECK(unread.find("image.not_read") != nullptr);
  CHECK(unread.find("format.unknown") == nullptr);
  // A model that does not take oss:// URLs rejects them on the scheme.
  const RulesResult no_oss = parse_rules(document_with(""));
  REQUIRE(no_oss.ok());
  expect(evaluate(no_oss.rules.models.at(0), oss), Decision::reject, {"url.scheme"});
}

TEST_CASE("subject_from_probe carries the probe's facts") {
  ProbeResult probe;
  probe.info.format = Format::png;
  probe.info.width = 500;
  probe.info.height = 600;
  probe.file_size = 1234;
  const Subject subject = subject_from_probe(probe, SourceKind::local_file);
  CHECK(subject.image.format == Format::png);
  CHECK(subject.image.width == 500);
  CHECK(subject.file_size == 1234);
  CHECK(subject.source == SourceKind::local_file);
  CHECK_FALSE(subject.probe_error);
  CHECK_FALSE(subject.strict);
}

TEST_CASE("aspect ratios compare exactly at the extremes of uint32") {
  constexpr std::uint32_t kMax = std::numeric_limits<std::uint32_t>::max();
  ModelRules rules = model(kLive);
  rules.pixels.reset();
  rules.aspect = AspectRule{kMax, 1, RuleSource::documented, ""};
  CHECK(evaluate(rules, jpeg(kMax, 1)).decision == Decision::pass);
  CHECK(evaluate(rules, jpeg(1, kMax)).decision == Decision::pass);
  rules.aspect = AspectRule{kMax, kMax - 1, RuleSource::documented, ""};
  CHECK(evaluate(rules, jpeg(kMax, kMax - 1)).decision == Decision::pass);
  CHECK(evaluate(rules, jpeg(kMax - 1, kMax - 2)).decision == Decision::reject);
  CHECK(evaluate(rules, jpeg(kMax, kMax)).decision == Decision::pass);
}

TEST_CASE("rules files with mistakes give errors that name the field") {
  SUBCASE("a valid file loads") {
    const RulesResult result = load_rules_file(data_file("valid.json"));
    REQUIRE(result.ok());
    CHECK(result.rules.names() ==
          std::vector<std::string_view>{"first-detect", "second-detect", "third-detect"});
  }
  SUBCASE("missing field") {
    expect_error(load_rules_file(data_file("missing_field.json")), RulesErrorKind::missing_field,
                 "models[1].formats");
  }
  SUBCASE("wrong type") {
    const RulesResult result = load_rules_file(data_file("wrong_type.json"));
    expect_error(result, RulesErrorKind::wrong_type, "models[2].rate.requests_per_second");
    CHECK(result.error->message() ==
          "models[2].rate.requests_per_second: expected an integer, found a string");
  }
  SUBCASE("negative bound") {
    const RulesResult result = load_rules_file(data_file("negative_bound.json"));
    expect_error(result, RulesErrorKind::negative, "models[2].pixels.max_long_side");
    CHECK(result.error->message() ==
          "models[2].pixels.max_long_side: negative value -5 (must be an integer from 1 to "
          "4294967295)");
  }
  SUBCASE("unknown key") {
    expect_error(load_rules_file(data_file("unknown_key.json")), RulesErrorKind::unknown_key,
                 "models[2].pixels.max_long_sides");
  }
  SUBCASE("bad value") {
    expect_error(load_rules_file(data_file("bad_value.json")), RulesErrorKind::bad_value,
                 "models[2].parameters[0].default");
  }
  SUBCASE("not JSON") {
    const RulesResult result = load_rules_file(data_file("not_json.json"));
    expect_error(result, RulesErrorKind::not_json, "");
    CHECK(result.error->message().starts_with("rules: not valid JSON: "));
  }
  SUBCASE("empty") {
    expect_error(load_rules_file(data_file("empty.json")), RulesErrorKind::empty, "");
    expect_error(parse_rules(" \n\t "), RulesErrorKind::empty, "");
  }
  SUBCASE("no such file") {
    expect_error(load_rules_file(data_file("no_such_file.json")), RulesErrorKind::io, "");
  }
}

TEST_CASE("parse_rules checks every field") {
  CHECK(parse_rules(document_with("")).ok());
  expect_error(parse_rules("[]"), RulesErrorKind::wrong_type, "");
  expect_error(parse_rules(R"({"models": []})"), RulesErrorKind::missing_field, "schema");
  expect_error(parse_rules(R"({"schema": 2, "models": []})"), RulesErrorKind::unsupported_schema,
               "schema");
  expect_error(parse_rules(R"({"schema": 1.0, "models": []})"), RulesErrorKind::wrong_type,
               "schema");
  expect_error(parse_rules(R"({"schema": 1, "models": []})"), RulesErrorKind::bad_value,
               "models");
  expect_error(parse_rules(R"({"schema": 1, "models": {}})"), RulesErrorKind::wrong_type,
               "models");
  expect_error(parse_rules(R"({"schema": 1, "schema": 1, "models": []})"),
               RulesErrorKind::unknown_key, "schema");
  expect_error(parse_rules(R"({"schema": 1, "models": [], "extra": 0})"),
               RulesErrorKind::unknown_key, "extra");
  expect_error(parse_rules(R"({"schema": 1, "models": [null]})"), RulesErrorKind::wrong_type,
               "models[0]");

  // One field at a time in a model.
  expect_error(parse_rules(document_with(R"(, "pixels": {"max_long_side": 40.5,
      "source": "documented"})")),
               RulesErrorKind::wrong_type, "models[0].pixels.max_long_side");
  expect_error(parse_rules(document_with(R"(, "pixels": {"max_long_side": 0,
      "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].pixels.max_long_side");
  expect_error(parse_rules(document_with(R"(, "pixels": {"max_long_side": 4294967296,
      "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].pixels.max_long_side");
  expect_error(parse_rules(document_with(R"(, "pixels": {"min_width": 500, "max_width": 400,
      "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].pixels.min_width");
  expect_error(parse_rules(document_with(R"(, "pixels": {"source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].pixels");
  expect_error(parse_rules(document_with(R"(, "pixels": {"max_long_side": 10})")),
               RulesErrorKind::missing_field, "models[0].pixels.source");
  expect_error(parse_rules(document_with(R"(, "pixels": {"max_long_side": 10,
      "source": "guessed"})")),
               RulesErrorKind::bad_value, "models[0].pixels.source");
  expect_error(parse_rules(document_with(R"(, "aspect": {"long": 1, "short": 2,
      "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].aspect.long");
  expect_error(parse_rules(document_with(R"(, "aspect": {"long": 2, "short": -1,
      "source": "documented"})")),
               RulesErrorKind::negative, "models[0].aspect.short");
  expect_error(parse_rules(document_with(R"(, "file_size": {"max_bytes": 10, "bound": "=<",
      "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].file_size.bound");
  expect_error(parse_rules(document_with(R"(, "file_size": {"max_bytes": 10, "bound": "<",
      "ambiguous_from_bytes": 11, "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].file_size.ambiguous_from_bytes");
  expect_error(parse_rules(document_with(R"(, "file_size": {"max_bytes": -10, "bound": "<",
      "source": "documented"})")),
               RulesErrorKind::negative, "models[0].file_size.max_bytes");
  expect_error(parse_rules(document_with(R"(, "parameters": [{"name": "ratio", "values": [],
      "required": true, "source": "documented"}])")),
               RulesErrorKind::bad_value, "models[0].parameters[0].values");
  expect_error(parse_rules(document_with(R"(, "parameters": [{"name": "ratio",
      "values": ["1:1"], "required": "yes", "source": "documented"}])")),
               RulesErrorKind::wrong_type, "models[0].parameters[0].required");
  expect_error(parse_rules(document_with(R"(, "price": {"per_image": [{"currency": "usd",
      "amount_micros": 1}], "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].price.per_image[0].currency");
  expect_error(parse_rules(document_with(R"(, "price": {"per_image": [{"currency": "USD",
      "amount_micros": -1}], "source": "documented"})")),
               RulesErrorKind::negative, "models[0].price.per_image[0].amount_micros");
  expect_error(parse_rules(document_with(R"(, "price": {"per_image": [],
      "source": "documented"})")),
               RulesErrorKind::bad_value, "models[0].price.per_image");
  expect_error(parse_rules(document_with(R"(, "endpoint2": "/x")")),
               RulesErrorKind::unknown_key, "models[0].endpoint2");

  // Replace fields of the minimal model.
  auto replaced = [](std::string from, std::string to) {
    std::string text = document_with("");
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  expect_error(parse_rules(replaced(R"("jpeg")", R"("jpg")")), RulesErrorKind::bad_value,
               "models[0].formats.accepted[0]");
  expect_error(parse_rules(replaced(R"("jpeg")", R"("jpeg", "jpeg")")), RulesErrorKind::bad_value,
               "models[0].formats.accepted[1]");
  expect_error(parse_rules(replaced(R"("/e")", R"("e")")), RulesErrorKind::bad_value,
               "models[0].endpoint");
  expect_error(parse_rules(replaced(R"("m")", R"("")")), RulesErrorKind::bad_value,
               "models[0].name");
  expect_error(parse_rules(replaced(R"("pass_message")", R"("passed")")),
               RulesErrorKind::bad_value, "models[0].response");
  expect_error(parse_rules(replaced(R"("https")", R"("HTTPS")")), RulesErrorKind::bad_value,
               "models[0].urls.schemes[0]");
  expect_error(parse_rules(replaced(R"("requests_per_second": 1)", R"("requests_per_second": 0)")),
               RulesErrorKind::bad_value, "models[0].rate.requests_per_second");
  expect_error(parse_rules(replaced(R"("name": "m",)", "")), RulesErrorKind::missing_field,
               "models[0].name");

  // Two models of one name.
  std::string twice = document_with("");
  const auto models_start = twice.find('[') + 1;
  const std::string one_model = twice.substr(models_start, twice.size() - 2 - models_start);
  twice.insert(twice.size() - 2, ", " + one_model);
  expect_error(parse_rules(twice), RulesErrorKind::bad_value, "models[1].name");

  // Bytes that are not UTF-8 are not JSON.
  expect_error(parse_rules("{\"schema\": 1, \"comment\": \"\xff\", \"models\": []}"),
               RulesErrorKind::not_json, "");
}

TEST_CASE("rules_to_json writes the file schema back") {
  const RuleSet& builtin = builtin_rules().rules;
  const std::string json = rules_to_json(builtin);
  const RulesResult again = parse_rules(json);
  REQUIRE(again.ok());
  CHECK(again.rules == builtin);
  CHECK(json.find(R"("amount_micros":574)") != std::string::npos);
  CHECK(json.find(R"("price":null)") != std::string::npos);
}

TEST_CASE("the rules table marks documented and inferred rules") {
  const std::string table = render_rules_table(builtin_rules().rules);
  CHECK(table.starts_with("wan2.2-s2v-detect\n"));
  CHECK(table.ends_with("\n"));
  CHECK(table.find("  pixels      400 <= width <= 7000, 400 <= height <= 7000 px  [doc]\n") !=
        std::string::npos);
  CHECK(table.find("price       USD 0.000574, CNY 0.004 per image") != std::string::npos);
  CHECK(table.find("ratio (required): \"1:1\"") != std::string::npos);
  CHECK(table.find("ratio: \"1:1\" (default), \"3:4\"") != std::string::npos);
  CHECK(table.find("< 10485760 bytes (warns from 10000000)") != std::string::npos);
  CHECK(table.find("[inferred] from the animate-anyone generation model") != std::string::npos);
  CHECK(table.find("[inferred] third-party report") != std::string::npos);
  const std::string framed = std::string("\n") + table;
  for (auto name : {kWan, kEmo, kLive, kEmoji, kAa}) {
    const std::string heading = std::string("\n").append(name).append("\n");
    CHECK(framed.find(heading) != std::string::npos);
  }
}

TEST_CASE("lifecycle: four models retired on 2026-10-10 by notice 118434; wan2.2-s2v-detect not") {
  CHECK_FALSE(model(kWan).lifecycle);
  for (std::string name : {kEmo, kLive, kEmoji, kAa}) {
    CAPTURE(name);
    REQUIRE(model(name).lifecycle);
    const LifecycleRule& rule = *model(name).lifecycle;
    CHECK(rule.retired == "2026-10-10");
    CHECK(rule.reference.find("118434") != std::string::npos);
    CHECK(rule.source == RuleSource::documented);
  }
}

TEST_CASE("model.retired: a warning last in every verdict of a retired model, never a rejection") {
  for (std::string name : {kEmo, kLive, kEmoji, kAa}) {
    CAPTURE(name);
    const Subject passing = with_parameter(jpeg(1000, 1000), "ratio", "1:1");
    Subject unfetchable;
    unfetchable.url = "ftp://images.example/a.jpg";
    Subject truncated = passing;
    truncated.probe_error = Error{ErrorCode::truncated, "cut short"};
    const std::vector<std::pair<Subject, Decision>> cases = {
        {passing, Decision::pass},          {strict(passing), Decision::pass},
        {strict(jpeg(300, 8000)), Decision::reject}, {unfetchable, Decision::reject},
        {truncated, Decision::error}};
    for (const auto& [subject, decision] : cases) {
      const Verdict verdict = check(name, subject);
      CHECK(decision_name(verdict.decision) == decision_name(decision));
      REQUIRE_FALSE(verdict.findings.empty());
      const Finding& last = verdict.findings.back();
      CHECK(last.code == "model.retired");
      CHECK(last.severity == Severity::warn);
      CHECK(last.actual == "2026-10-10");
      CHECK(last.message == name + " is retired as of 2026-10-10 (the vendor's model-retirement "
                                   "notice 118434): the service may refuse it");
    }
    // A URL the service cannot fetch: its finding, then the retirement, and nothing else.
    CHECK(check(name, unfetchable).findings.size() == 2);
  }
  CHECK(check(kWan, jpeg(1000, 1000)).find("model.retired") == nullptr);
  CHECK(check(kWan, jpeg(300, 300)).find("model.retired") == nullptr);
}

TEST_CASE("parse_rules checks the lifecycle group") {
  auto with_lifecycle = [](std::string_view group) {
    return parse_rules(document_with(std::string(R"(, "lifecycle": )").append(group)));
  };
  const RulesResult leap_day = with_lifecycle(
      R"({"retired": "2024-02-29", "reference": "notice 1", "source": "inferred", "note": "n"})");
  REQUIRE(leap_day.ok());
  const LifecycleRule& rule = *leap_day.rules.models.at(0).lifecycle;
  CHECK(rule == LifecycleRule{"2024-02-29", "notice 1", RuleSource::inferred, "n"});
  const Verdict inferred = evaluate(leap_day.rules.models.at(0), jpeg(10, 10));
  CHECK(inferred.find("model.retired")->message.ends_with("(inferred rule)"));
  CHECK(inferred.find("model.retired")->severity == Severity::warn);
  CHECK_FALSE(with_lifecycle("null").rules.models.at(0).lifecycle);

  for (const char* date : {"2026-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-1-10",
                           "2026/10/10", "20261010", "2026-10-1x", "1900-02-29", ""}) {
    CAPTURE(date);
    expect_error(with_lifecycle(std::string(R"({"retired": ")") + date +
                                R"(", "reference": "r", "source": "documented"})"),
                 RulesErrorKind::bad_value, "models[0].lifecycle.retired");
  }
  CHECK(with_lifecycle(R"({"retired": "2000-02-29", "reference": "r", "source": "documented"})")
            .ok());
  expect_error(with_lifecycle(R"({"retired": 20261010, "reference": "r", "source": "documented"})"),
               RulesErrorKind::wrong_type, "models[0].lifecycle.retired");
  expect_error(with_lifecycle(R"({"reference": "r", "source": "documented"})"),
               RulesErrorKind::missing_field, "models[0].lifecycle.retired");
  expect_error(with_lifecycle(R"({"retired": "2026-10-10", "source": "documented"})"),
               RulesErrorKind::missing_field, "models[0].lifecycle.reference");
  expect_error(with_lifecycle(R"({"retired": "2026-10-10", "reference": "", "source": "documented"})"),
               RulesErrorKind::bad_value, "models[0].lifecycle.reference");
  expect_error(with_lifecycle(R"({"retired": "2026-10-10", "reference": "r"})"),
               RulesErrorKind::missing_field, "models[0].lifecycle.source");
  expect_error(with_lifecycle(
                   R"({"retired": "2026-10-10", "reference": "r", "source": "documented", "x": 1})"),
               RulesErrorKind::unknown_key, "models[0].lifecycle.x");
  expect_error(with_lifecycle(R"("2026-10-10")"), RulesErrorKind::wrong_type,
               "models[0].lifecycle");
}

TEST_CASE("lifecycle in the JSON and the table") {
  const std::string json = rules_to_json(builtin_rules().rules);
  CHECK(json.find(R"("lifecycle":{"retired":"2026-10-10","reference":"the vendor's )"
                  R"(model-retirement notice 118434","source":"documented")") !=
        std::string::npos);
  const std::string wan = rules_to_json(RuleSet{1, {model(kWan)}});
  CHECK(wan.find("lifecycle") == std::string::npos);
  const std::string table = render_rules_table(builtin_rules().rules);
  CHECK(table.find("  lifecycle   no retirement announced\n") != std::string::npos);
  CHECK(table.find("  lifecycle   retired 2026-10-10") != std::string::npos);
  CHECK(table.find("[doc] the vendor's model-retirement notice 118434; from 00:00 UTC+8") !=
        std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Regions (docs/service.md#regions-and-prices) and oss:// URLs (docs/service.md#urls)

namespace {

Subject in_region(Subject subject, std::string region) {
  subject.region = std::move(region);
  return subject;
}

Subject uploaded_file(Subject subject) {
  subject.source = SourceKind::local_file;
  subject.uploaded = true;
  return subject;
}

Subject oss_url() {
  Subject subject;
  subject.url = "oss://dashscope-instant/abc/2026-01-01/photo.jpg";
  return subject;
}

}  // namespace

TEST_CASE("regions: wan2.2-s2v-detect and emo-detect-v1 are offered in cn-beijing only") {
  for (auto name : {kWan, kEmo}) {
    CAPTURE(name);
    REQUIRE(model(name).regions);
    CHECK(model(name).regions->offered == std::vector<std::string>{"cn-beijing"});
    CHECK(model(name).regions->source == RuleSource::documented);
  }
  for (auto name : {kLive, kEmoji, kAa}) {
    CAPTURE(name);
    CHECK_FALSE(model(name).regions);
  }
}

TEST_CASE("model.region: documented rejects, inferred warns, strict rejects, no rule passes") {
  const Verdict singapore = check(kWan, in_region(jpeg(1000, 1000), "ap-southeast-1"));
  expect(singapore, Decision::reject, {"model.region"});
  const Finding& finding = *singapore.find("model.region");
  CHECK(finding.severity == Severity::reject);
  CHECK(finding.message == "wan2.2-s2v-detect is offered only in cn-beijing, not in "
                           "ap-southeast-1 (Singapore): API keys are region-bound");
  CHECK(finding.limit == "cn-beijing");
  CHECK(finding.actual == "ap-southeast-1");
  expect(check(kWan, in_region(jpeg(1000, 1000), "cn-beijing")), Decision::pass);
  expect(check(kWan, jpeg(1000, 1000)), Decision::pass);  // "" = not checked
  // A model without a region rule is taken to be offered everywhere.
  expect(check(kLive, in_region(jpeg(1000, 1000), "us")), Decision::pass);
  // The finding comes after the image's and before the retirement, which ends every verdict.
  const Verdict emo = check(kEmo, in_region(jpeg(300, 300), "cn-hongkong"));
  expect(emo, Decision::reject, {"size.short_side_below_min", "model.region"});
  REQUIRE(emo.findings.size() >= 2);
  CHECK(emo.findings[emo.findings.size() - 2].code == "model.region");
  CHECK(emo.findings.back().code == "model.retired");
  // A URL the service cannot fetch still says where the model is offered.
  Subject ftp;
  ftp.url = "ftp://images.example/a.jpg";
  expect(check(kWan, in_region(ftp, "us")), Decision::reject, {"url.scheme", "model.region"});

  const RulesResult inferred = parse_rules(document_with(
      R"(, "regions": {"offered": ["ap-southeast-1", "us"], "source": "inferred"})"));
  REQUIRE(inferred.ok());
  const ModelRules& guessed = inferred.rules.models.at(0);
  const Verdict warned = evaluate(guessed, in_region(jpeg(10, 10), "cn-beijing"));
  expect(warned, Decision::pass, {"model.region"});
  CHECK(warned.find("model.region")->message ==
        "m is offered only in ap-southeast-1, us, not in cn-beijing (China (Beijing)): API keys "
        "are region-bound (inferred rule)");
  expect(evaluate(guessed, strict(in_region(jpeg(10, 10), "cn-beijing"))), Decision::reject,
         {"model.region"});
  expect(evaluate(guessed, in_region(jpeg(10, 10), "us")), Decision::pass);
}

TEST_CASE("parse_rules checks the regions group against the table of regions") {
  auto with_regions = [](std::string_view group) {
    return parse_rules(document_with(std::string(R"(, "regions": )").append(group)));
  };
  const RulesResult all =
      with_regions(R"({"offered": ["cn-beijing", "ap-southeast-1", "us", "cn-hongkong"],
                       "source": "documented", "note": "n"})");
  REQUIRE(all.ok());
  CHECK(*all.rules.models.at(0).regions ==
        RegionRule{{"cn-beijing", "ap-southeast-1", "us", "cn-hongkong"},
                   RuleSource::documented, "n"});
  CHECK_FALSE(with_regions("null").rules.models.at(0).regions);

  const RulesResult unknown =
      with_regions(R"({"offered": ["cn-beijing", "eu-central-1"], "source": "documented"})");
  expect_error(unknown, RulesErrorKind::bad_value, "models[0].regions.offered[1]");
  CHECK(unknown.error->message() ==
        "models[0].regions.offered[1]: \"eu-central-1\" is not a DashScope region (known: "
        "cn-beijing, ap-southeast-1, us, cn-hongkong)");
  expect_error(with_regions(R"({"offered": ["Beijing"], "source": "documented"})"),
               RulesErrorKind::bad_value, "models[0].regions.offered[0]");
  expect_error(with_regions(R"({"offered": ["us", "us"], "source": "documented"})"),
               RulesErrorKind::bad_value, "models[0].regions.offered[1]");
  expect_error(with_regions(R"({"offered": [], "source": "documented"})"),
               RulesErrorKind::bad_value, "models[0].regions.offered");
  expect_error(with_regions(R"({"offered": "us", "source": "documented"})"),
               RulesErrorKind::wrong_type, "models[0].regions.offered");
  expect_error(with_regions(R"({"offered": [1], "source": "documented"})"),
               RulesErrorKind::wrong_type, "models[0].regions.offered[0]");
  expect_error(with_regions(R"({"source": "documented"})"), RulesErrorKind::missing_field,
               "models[0].regions.offered");
  expect_error(with_regions(R"({"offered": ["us"]})"), RulesErrorKind::missing_field,
               "models[0].regions.source");
  expect_error(with_regions(R"({"offered": ["us"], "source": "documented", "only": true})"),
               RulesErrorKind::unknown_key, "models[0].regions.only");
}

TEST_CASE("oss_url_source: documented for wan2.2-s2v-detect and emoji-detect-v1, inferred for the rest") {
  CHECK(oss_url_source(model(kWan)) == RuleSource::documented);
  CHECK(oss_url_source(model(kEmoji)) == RuleSource::documented);
  for (auto name : {kEmo, kLive, kAa}) {
    CAPTURE(name);
    CHECK(oss_url_source(model(name)) == RuleSource::inferred);
    CHECK(model(name).urls.schemes == std::vector<std::string>{"http", "https"});
    CHECK(model(name).urls.inferred_schemes == std::vector<std::string>{"oss"});
    CHECK_FALSE(model(name).urls.inferred_note.empty());
  }
  const RulesResult none = parse_rules(document_with(""));
  REQUIRE(none.ok());
  CHECK_FALSE(oss_url_source(none.rules.models.at(0)));
  // The URL rule's own source, when oss is among its schemes.
  const RulesResult guessed = parse_rules(R"({"schema": 1, "models": [{"name": "m",
    "endpoint": "/e", "response": "pass_message",
    "urls": {"schemes": ["https", "oss"], "source": "inferred"},
    "formats": {"accepted": ["jpeg"], "source": "documented"},
    "rate": {"requests_per_second": 1, "source": "documented"}}]})");
  REQUIRE(guessed.ok());
  CHECK(oss_url_source(guessed.rules.models.at(0)) == RuleSource::inferred);
}

TEST_CASE("url.oss_inferred: an oss:// URL or an upload for an inferred model warns; strict rejects") {
  for (auto name : {kEmo, kLive, kAa}) {
    CAPTURE(name);
    const Verdict given = check(name, oss_url());
    // Never fetched: the decision is at best unknown, and the URL rule passes with a warning.
    CHECK(decision_name(given.decision) == decision_name(Decision::unknown));
    REQUIRE(given.find("url.oss_inferred") != nullptr);
    CHECK(given.find("url.oss_inferred")->severity == Severity::warn);
    CHECK(given.find("url.oss_inferred")->actual == "oss");
    CHECK(given.find("url.oss_inferred")->message ==
          std::string(name) + " is not documented to take oss:// URLs; facegate infers it does "
                              "(inferred rule)");
    CHECK(given.find("url.scheme") == nullptr);
    CHECK(given.find("image.not_read") != nullptr);
    const Verdict strict_given = check(name, strict(oss_url()));
    CHECK(decision_name(strict_given.decision) == decision_name(Decision::reject));
    CHECK(severity_of(strict_given, "url.oss_inferred") == Severity::reject);

    const Subject upload = uploaded_file(jpeg(1000, 1000));
    expect(check(name, upload), Decision::pass, {"url.oss_inferred"});
    // Judged as the oss:// URL it is sent as: no "upload this local file first" note.
    CHECK(check(name, upload).find("url.not_public") == nullptr);
    expect(check(name, strict(upload)), Decision::reject, {"url.oss_inferred"});
    // Not uploaded: a local file is only noted.
    Subject local = upload;
    local.uploaded = false;
    expect(check(name, local), Decision::pass);
  }
  // Upper-case schemes are the same scheme.
  Subject upper = oss_url();
  upper.url = "OSS://dashscope-instant/abc/photo.jpg";
  CHECK(check(kAa, upper).find("url.oss_inferred") != nullptr);
  // Documented oss support: neither a URL nor an upload gets a finding about it.
  for (auto name : {kWan, kEmoji}) {
    CAPTURE(name);
    const Verdict given = check(name, strict(with_parameter(oss_url(), "ratio", "1:1")));
    CHECK(decision_name(given.decision) == decision_name(Decision::unknown));
    CHECK(given.find("url.oss_inferred") == nullptr);
    const Verdict upload =
        check(name, strict(uploaded_file(with_parameter(jpeg(1000, 1000), "ratio", "1:1"))));
    CHECK(decision_name(upload.decision) == decision_name(Decision::pass));
    CHECK(upload.find("url.oss_inferred") == nullptr);
    CHECK(upload.find("url.no_oss") == nullptr);
  }
}

TEST_CASE("url.no_oss: an upload for a model that takes no oss:// URL rejects, even not strict") {
  const RulesResult none = parse_rules(document_with(""));
  REQUIRE(none.ok());
  const ModelRules& https_only = none.rules.models.at(0);
  const Verdict verdict = evaluate(https_only, uploaded_file(jpeg(10, 10)));
  expect(verdict, Decision::reject, {"url.no_oss"});
  CHECK(verdict.find("url.no_oss")->limit == "https");
  CHECK(verdict.find("url.no_oss")->actual == "oss");
  Subject memory = uploaded_file(jpeg(10, 10));
  memory.source = SourceKind::memory;
  expect(evaluate(https_only, memory), Decision::reject, {"url.no_oss"});
  expect(evaluate(https_only, jpeg(10, 10)), Decision::pass);
  Subject local = jpeg(10, 10);
  local.source = SourceKind::local_file;
  expect(evaluate(https_only, local), Decision::pass);
}

TEST_CASE("parse_rules checks inferred_schemes and inferred_note") {
  auto with_urls = [](std::string_view group) {
    std::string text = document_with("");
    const std::string from = R"("urls": {"schemes": ["https"], "source": "documented"})";
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return parse_rules(text.replace(at, from.size(), std::string(R"("urls": )").append(group)));
  };
  const RulesResult ok = with_urls(
      R"({"schemes": ["https"], "source": "documented", "inferred_schemes": ["oss"], "inferred_note": "n"})");
  REQUIRE(ok.ok());
  CHECK(ok.rules.models.at(0).urls.inferred_schemes == std::vector<std::string>{"oss"});
  CHECK(ok.rules.models.at(0).urls.inferred_note == "n");
  const RulesResult both = with_urls(
      R"({"schemes": ["https", "oss"], "source": "documented", "inferred_schemes": ["oss"]})");
  expect_error(both, RulesErrorKind::bad_value, "models[0].urls.inferred_schemes[0]");
  CHECK(both.error->detail == "\"oss\" is in schemes too");
  expect_error(with_urls(R"({"schemes": ["https"], "source": "documented",
                             "inferred_schemes": ["oss", "oss"]})"),
               RulesErrorKind::bad_value, "models[0].urls.inferred_schemes[1]");
  expect_error(with_urls(R"({"schemes": ["https"], "source": "documented", "inferred_schemes": []})"),
               RulesErrorKind::bad_value, "models[0].urls.inferred_schemes");
  expect_error(with_urls(R"({"schemes": ["https"], "source": "documented", "inferred_schemes": ["OSS"]})"),
               RulesErrorKind::bad_value, "models[0].urls.inferred_schemes[0]");
  expect_error(with_urls(R"({"schemes": ["https"], "source": "documented", "inferred_schemes": "oss"})"),
               RulesErrorKind::wrong_type, "models[0].urls.inferred_schemes");
  expect_error(with_urls(R"({"schemes": ["https"], "source": "documented", "inferred_note": "n"})"),
               RulesErrorKind::bad_value, "models[0].urls.inferred_note");
  expect_error(with_urls(R"({"schemes": null, "source": "documented"})"),
               RulesErrorKind::wrong_type, "models[0].urls.schemes");
  expect_error(with_urls(R"({"schemes": [], "source": "documented"})"), RulesErrorKind::bad_value,
               "models[0].urls.schemes");
}

TEST_CASE("regions and inferred schemes in the JSON and the table") {
  const std::string json = rules_to_json(builtin_rules().rules);
  CHECK(json.find(R"("regions":{"offered":["cn-beijing"],"source":"documented","note":"its page )"
                  R"(applies to the China (Beijing) region only"})") != std::string::npos);
  CHECK(json.find(R"("urls":{"schemes":["http","https"],"source":"documented",)"
                  R"("inferred_schemes":["oss"],"inferred_note":")") != std::string::npos);
  const std::string live = rules_to_json(RuleSet{1, {model(kLive)}});
  CHECK(live.find("regions") == std::string::npos);
  const std::string wan = rules_to_json(RuleSet{1, {model(kWan)}});
  CHECK(wan.find("inferred_schemes") == std::string::npos);

  const std::string table = render_rules_table(RuleSet{1, {model(kEmo)}});
  CHECK(table.find("  regions     offered only in cn-beijing") != std::string::npos);
  CHECK(table.find("[doc] its page applies to the China (Beijing) region only\n") !=
        std::string::npos);
  CHECK(table.find("  urls        oss ") != std::string::npos);
  CHECK(table.find("[inferred] its page does not mention them") != std::string::npos);
  CHECK(render_rules_table(RuleSet{1, {model(kLive)}}).find("  regions     no rule\n") !=
        std::string::npos);
}
