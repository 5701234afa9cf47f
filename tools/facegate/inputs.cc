#include "inputs.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <cerrno>
#include <cstring>

namespace facegate::cli {
namespace {

// A line longer than this is no path or URL: it is reported and skipped, so an endless line
// cannot take unbounded memory.
constexpr std::size_t kMaxLineBytes = 1 << 20;
constexpr std::size_t kReadChunk = 64 * 1024;

Error io_error(std::string what) {
  return Error{ErrorCode::io, std::move(what) + ": " + std::strerror(errno)};
}

Error bad_line(const std::string& where, std::string why) {
  return Error{ErrorCode::bad_input, where + ": " + std::move(why)};
}

// Non-empty lines of a regular file, or nullopt when it is not one.
std::optional<std::uint64_t> count_lines(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return 1;  // one failed input
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::nullopt;
  }
  std::uint64_t lines = 0;
  bool in_line = false;
  char buffer[kReadChunk];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    for (ssize_t i = 0; i < n; ++i) {
      const char c = buffer[i];
      if (c == '\n') {
        lines += in_line ? 1 : 0;
        in_line = false;
      } else if (c != '\r') {
        in_line = true;
      }
    }
  }
  ::close(fd);
  return lines + (in_line ? 1 : 0);
}

// A path naming a directory, through symbolic links (the name was given).
bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

InputReader::InputReader(std::vector<std::string> arguments, InputFormat format, WalkOptions walk,
                         int stdin_fd)
    : arguments_(std::move(arguments)), format_(format), walk_options_(walk), stdin_fd_(stdin_fd) {
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) wake_pipe_[0] = wake_pipe_[1] = -1;
}

InputReader::~InputReader() {
  close_list();
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void InputReader::interrupt() noexcept {
  interrupted_ = true;
  if (wake_pipe_[1] >= 0) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_pipe_[1], &byte, 1);
  }
}

std::optional<std::uint64_t> InputReader::count_total(std::stop_token stop) const {
  std::uint64_t total = 0;
  for (const std::string& argument : arguments_) {
    std::optional<std::uint64_t> count = 1;
    if (argument == "-") return std::nullopt;
    if (argument.size() > 1 && argument[0] == '@') {
      count = count_lines(argument.substr(1));
    } else if (!looks_like_url(argument) && is_directory(argument)) {
      count = DirectoryWalker::total_if_cheap(argument, walk_options_, 100'000, stop);
    }
    if (!count || stop.stop_requested()) return std::nullopt;
    total += *count;
  }
  return total;
}

// Starts the walk of `input` when it is a path that names a directory.
bool InputReader::starts_walk(const CheckInput& input) {
  if (input.kind != CheckInput::Kind::path || !is_directory(input.source)) return false;
  walk_.emplace(input.source, walk_options_);
  return true;
}

void InputReader::close_list() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
  fd_ = -1;
  owns_fd_ = false;
  buffer_.clear();
  buffer_start_ = 0;
  at_end_ = false;
  skipping_long_line_ = false;
}

std::optional<CheckInput> InputReader::next() {
  for (;;) {
    if (interrupted_) return std::nullopt;
    if (walk_) {
      if (std::optional<WalkEntry> entry = walk_->next()) return CheckInput::from_walk(std::move(*entry));
      walk_.reset();
      continue;
    }
    if (pending_failure_) {
      std::string where = line_number_ == 0 ? list_name_ : list_name_ + ":" + std::to_string(line_number_);
      CheckInput failed = CheckInput::from_failure(std::move(where), std::move(*pending_failure_));
      pending_failure_.reset();
      return failed;
    }
    if (fd_ >= 0) {
      std::optional<std::string> line = read_line();
      if (line) {
        if (line->empty()) continue;
        CheckInput input = from_line(std::move(*line));
        if (format_ == InputFormat::lines && starts_walk(input)) {
          walked_list_line_ = true;
          continue;
        }
        return input;
      }
      const bool failed = pending_failure_.has_value();
      if (!failed || at_end_) {
        const bool interrupted = !at_end_ && !failed;
        close_list();
        if (interrupted) return std::nullopt;
      }
      continue;
    }
    if (next_argument_ >= arguments_.size()) return std::nullopt;
    const std::string& argument = arguments_[next_argument_++];
    line_number_ = 0;
    if (argument == "-") {
      fd_ = stdin_fd_;
      list_name_ = "<stdin>";
      continue;
    }
    if (argument.size() > 1 && argument[0] == '@') {
      list_name_ = argument.substr(1);
      // O_NONBLOCK: opening a FIFO without a writer must not hang the run.
      fd_ = ::open(list_name_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd_ < 0) return CheckInput::from_failure(argument, io_error("cannot open list file " + list_name_));
      owns_fd_ = true;
      continue;
    }
    CheckInput input = CheckInput::from_text(argument);
    if (!starts_walk(input)) return input;
  }
}

// Reads more of the list; false at its end, on a read error (pending_failure_) or once
// interrupted.
bool InputReader::fill_buffer() {
  if (buffer_start_ > 0) {
    buffer_.erase(0, buffer_start_);
    buffer_start_ = 0;
  }
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, wake_pipe_[0] >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[1].revents != 0) return false;  // interrupted
    char chunk[kReadChunk];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) {
      at_end_ = true;
      return false;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    pending_failure_ = io_error("cannot read " + list_name_);
    at_end_ = true;
    return false;
  }
}

std::optional<std::string> InputReader::read_line() {
  for (;;) {
    const std::size_t newline = buffer_.find('\n', buffer_start_);
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(buffer_start_, newline - buffer_start_);
      buffer_start_ = newline + 1;
      ++line_number_;
      if (skipping_long_line_) {
        skipping_long_line_ = false;
        continue;
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (buffer_.size() - buffer_start_ > kMaxLineBytes) {
      buffer_.clear();
      buffer_start_ = 0;
      if (!skipping_long_line_) {
        skipping_long_line_ = true;
        pending_failure_ = bad_line(list_name_ + ":" + std::to_string(line_number_ + 1),
                                    "line longer than 1 MiB");
        return std::nullopt;
      }
    }
    if (at_end_ || !fill_buffer()) {
      if (pending_failure_ || buffer_start_ >= buffer_.size() || !at_end_) return std::nullopt;
      // The last line, without a newline.
      std::string line = buffer_.substr(buffer_start_);
      buffer_start_ = buffer_.size();
      ++line_number_;
      if (skipping_long_line_) return std::nullopt;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
  }
}

CheckInput InputReader::from_line(std::string line) {
  std::string where = list_name_ + ":" + std::to_string(line_number_);
  if (line.find('\0') != std::string::npos) {
    return CheckInput::from_failure(where, bad_line(where, "the line holds a NUL byte"));
  }
  if (format_ == InputFormat::jsonl) return from_json_line(line, std::move(where));
  return CheckInput::from_text(std::move(line));
}

// {"source": "...", "id": <any JSON value>, "model": "...", "ratio": "..."}; source required.
CheckInput InputReader::from_json_line(const std::string& line, std::string where) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(line).get(root) != simdjson::SUCCESS) {
    return CheckInput::from_failure(where, bad_line(where, "not JSON"));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return CheckInput::from_failure(where, bad_line(where, "not a JSON object"));
  }
  std::optional<std::string> source, model, ratio, id;
  for (auto field : object) {
    const std::string_view key = field.key;
    if (key == "id") {
      id = simdjson::minify(field.value);
      continue;
    }
    std::optional<std::string>* target = key == "source" ? &source
                                         : key == "model" ? &model
                                         : key == "ratio" ? &ratio
                                                          : nullptr;
    if (target == nullptr) {
      return CheckInput::from_failure(where, bad_line(where, std::string("unknown key ").append(key).append(
                                                                 " (source, id, model, ratio)")));
    }
    std::string_view text;
    if (field.value.get_string().get(text) != simdjson::SUCCESS) {
      return CheckInput::from_failure(where, bad_line(where, std::string(key) + " is not a string"));
    }
    *target = std::string(text);
  }
  if (!source || source->empty()) {
    CheckInput failed = CheckInput::from_failure(where, bad_line(where, "no \"source\""));
    if (id) failed.id_json = *id;
    return failed;
  }
  CheckInput input = CheckInput::from_text(std::move(*source));
  if (id) input.id_json = std::move(*id);
  if (model) input.model = std::move(*model);
  if (ratio) input.parameters = std::vector<Parameter>{Parameter{"ratio", std::move(*ratio)}};
  return input;
}

}  // namespace facegate::cli
