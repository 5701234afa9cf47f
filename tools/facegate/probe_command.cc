#include "commands.hpp"
#include "output/json_writer.hpp"
#include "table.hpp"

namespace facegate::cli {

int run_probe(const ProbeOptions& options, Streams io) {
  const std::vector<SourceProbe> probes =
      probe_inputs(expand_inputs(options.inputs, io.in), options.settings);
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
      io.out << json.text() << '\n';
    } else {
      table.add_row(probe_table_cells(probe));
    }
  }
  if (!options.json) table.print(io.out);
  io.out.flush();
  return all_ok ? kExitOk : kExitFailed;
}

}  // namespace facegate::cli
