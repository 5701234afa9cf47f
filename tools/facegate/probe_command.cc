#include <iostream>

#include "commands.hpp"
#include "facegate/probe.hpp"
#include "inputs.hpp"
#include "output/json_writer.hpp"
#include "records.hpp"
#include "table.hpp"

namespace facegate::cli {

int run_probe(const ProbeOptions& options, std::ostream& out, std::ostream&) {
  const std::vector<Input> inputs = expand_inputs(options.inputs, std::cin);
  const std::vector<SourceProbe> probes = probe_inputs(inputs);
  bool all_ok = true;
  Table table({"SOURCE", "FORMAT", "WIDTH", "HEIGHT", "ORIENT", "ANIM", "FILE_SIZE", "READ",
               "ERROR"});
  for (const auto& probe : probes) {
    all_ok = all_ok && probe.ok();
    if (options.json) {
      detail::JsonWriter json;
      json.begin_object();
      write_probe_fields(json, probe);
      json.end_object();
      out << json.text() << '\n';
    } else {
      table.add_row(probe_table_cells(probe));
    }
  }
  if (!options.json) table.print(out);
  out.flush();
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace facegate::cli
