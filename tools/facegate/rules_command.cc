#include "commands.hpp"

namespace facegate::cli {

std::optional<RuleSet> load_rules_or_report(const std::optional<std::string>& file,
                                            std::ostream& err) {
  const RulesResult loaded = file ? load_rules_file(*file) : builtin_rules();
  if (!loaded.ok()) {
    err << "facegate: " << (file ? "rules file " + *file : std::string("built-in rules"))
        << ": " << loaded.error->message() << '\n';
    return std::nullopt;
  }
  return loaded.rules;
}

const ModelRules* find_model_or_report(const RuleSet& rules, std::string_view name,
                                       std::ostream& err) {
  const ModelRules* model = rules.find(name);
  if (!model) {
    err << "facegate: unknown model \"" << name << "\"; known models:";
    for (auto known : rules.names()) err << ' ' << known;
    err << '\n';
  }
  return model;
}

int run_rules(const RulesOptions& options, std::ostream& out, std::ostream& err) {
  std::optional<RuleSet> rules = load_rules_or_report(options.rules_file, err);
  if (!rules) return kExitUsage;
  if (options.model) {
    const ModelRules* model = find_model_or_report(*rules, *options.model, err);
    if (!model) return kExitUsage;
    RuleSet only{rules->schema, {*model}};
    rules = std::move(only);
  }
  out << (options.json ? rules_to_json(*rules) + "\n" : render_rules_table(*rules));
  return kExitOk;
}

}  // namespace facegate::cli
