// mctsr_native._llama_log: a native sink for llama.cpp's (and ggml's) log, given to llama_log_set by
// generation/llama/runtime.py. It keeps the last lines for error messages and, when verbose, writes them to
// standard error; it never runs Python. A Python sink (a ctypes callback) did: while llama.cpp loads a model,
// the only Python that runs is that callback, so Python ran a Ctrl-C's or SIGTERM's handler inside it, and
// ctypes swallows what a callback raises ("Exception ignored on calling ctypes callback function"): the
// interrupt was lost and the command went on. A native sink leaves the signal pending until the native call
// returns to Python, where its handler raises as it should. It also spares ggml's threads the GIL.
//
// Knows nothing of llama.cpp's headers: the sink has the C signature of ggml_log_callback,
// void (*)(enum ggml_log_level level, const char * text, void * user_data), and Python passes its address.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

constexpr int kLevelCont = 5;          // GGML_LOG_LEVEL_CONT: the text continues the previous line
constexpr std::size_t kKeptLines = 64;  // the lines kept for error messages

struct LogState {
  std::mutex mutex;
  std::deque<std::string> lines;
  std::atomic<bool> verbose{false};
};

// Never destroyed: ggml may log from its own threads while the process exits, after static destructors ran.
LogState& state() {
  static LogState* s = new LogState();
  return *s;
}

}  // namespace

extern "C" void mctsr_llama_log_sink(int level, const char* text, void* /*user_data*/) {
  if (text == nullptr || *text == '\0') {
    return;
  }
  LogState& s = state();
  try {  // nothing may cross back into llama.cpp's C code
    std::lock_guard<std::mutex> lock(s.mutex);
    if (level == kLevelCont && !s.lines.empty()) {
      s.lines.back() += text;
    } else {
      s.lines.emplace_back(text);
      if (s.lines.size() > kKeptLines) {
        s.lines.pop_front();
      }
    }
  } catch (...) {  // out of memory: the line is dropped, the log goes on
  }
  if (s.verbose.load(std::memory_order_relaxed)) {
    std::fputs(text, stderr);
    std::fflush(stderr);
  }
}

PYBIND11_MODULE(_llama_log, m) {
  m.doc() = "A native sink for llama.cpp's log: no Python runs inside llama.cpp's calls.";
  m.def("sink_address", [] { return reinterpret_cast<std::uintptr_t>(&mctsr_llama_log_sink); },
        "The address of the sink, a C function with ggml_log_callback's signature, for llama_log_set.");
  m.def("lines", [] {
        LogState& s = state();
        std::vector<py::bytes> out;
        std::lock_guard<std::mutex> lock(s.mutex);
        for (const std::string& line : s.lines) {
          out.emplace_back(line);  // bytes: a line may end inside a UTF-8 character; Python decodes it
        }
        return out;
      },
      "The kept lines, oldest first, as bytes.");
  m.def("clear", [] {
        LogState& s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        s.lines.clear();
      },
      "Forget the kept lines (before a call whose failure the next lines explain).");
  m.def("set_verbose", [](bool on) { state().verbose.store(on); }, py::arg("on"),
        "Also write every line to standard error (MCTSR_LLAMA_VERBOSE=1).");
}
