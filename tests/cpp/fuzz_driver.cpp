#include "fuzz_driver.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <sstream>
#include <thread>
#include <typeinfo>

#include "fassst/errors.h"

extern char** environ;

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_SANITIZED 1
#include <sanitizer/common_interface_defs.h>
// A default that ASAN_OPTIONS may override: an allocation above 2 GiB is
// reported at once (allocation-size-too-big) instead of reaching for the
// machine's memory. No corpus item needs as much.
extern "C" const char* __asan_default_options() { return "max_allocation_size_mb=2048"; }
#else
#define FUZZ_SANITIZED 0
#endif

namespace fuzz {

// ------------------------------------------------------------ item fields

const Value& field(const Value& item, const char* key) {
  const Value* v = item.find(key);
  if (!v) throw std::invalid_argument(std::string("corpus item lacks the field '") + key + "'");
  return *v;
}

bool has(const Value& item, const char* key) {
  const Value* v = item.find(key);
  return v && !v->is_null();
}

std::string text(const Value& item, const char* key) {
  const Value& v = field(item, key);
  if (!v.is_string()) throw std::invalid_argument(std::string("corpus field '") + key + "' must be a string");
  return v.as_string();
}

int64_t as_integer(const Value& v, const char* what) {
  // Exact up to 2^53; the corpus writes larger integers only where any
  // value that large will do.
  if (!v.is_integer()) throw std::invalid_argument(std::string("corpus field '") + what + "' must be an integer");
  const double d = v.as_number();
  if (d >= 9.2e18) return INT64_MAX;
  if (d <= -9.2e18) return INT64_MIN;
  return static_cast<int64_t>(d);
}

int64_t integer(const Value& item, const char* key) { return as_integer(field(item, key), key); }

double as_double(const Value& v) {
  if (v.is_number()) return v.as_number();
  if (v.is_string()) {
    const std::string& s = v.as_string();
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || s.empty()) throw std::invalid_argument("corpus float '" + s + "' does not parse");
    return d;
  }
  throw std::invalid_argument("corpus float must be a number or a string");
}

float as_float(const Value& v) {
  if (v.is_string()) {
    const std::string& s = v.as_string();
    char* end = nullptr;
    const float f = std::strtof(s.c_str(), &end);
    if (end != s.c_str() + s.size() || s.empty()) throw std::invalid_argument("corpus float '" + s + "' does not parse");
    return f;
  }
  const double d = as_double(v);
  // beyond float32's range: the infinity strtof would give (no UB cast)
  if (d > 3.4028234663852886e38) return INFINITY;
  if (d < -3.4028234663852886e38) return -INFINITY;
  return static_cast<float>(d);
}

bool boolean(const Value& item, const char* key) {
  const Value& v = field(item, key);
  if (!v.is_bool()) throw std::invalid_argument(std::string("corpus field '") + key + "' must be true or false");
  return v.as_bool();
}

Expect expect_of(const Value& item, const char* key) {
  const std::string e = text(item, key);
  if (e == "ok") return Expect::kOk;
  if (e == "error") return Expect::kError;
  if (e == "either") return Expect::kEither;
  throw std::invalid_argument("corpus 'expect' must be ok, error or either, got '" + e + "'");
}

std::vector<uint8_t> from_hex(const std::string& hex) {
  if (hex.size() % 2) throw std::invalid_argument("corpus hex field of odd length");
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

uint64_t seed_of(const std::string& id) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return h;
}

void remove_tree(const std::string& path) {
  nftw(path.c_str(), [](const char* p, const struct stat*, int, FTW*) { return ::remove(p); }, 16,
       FTW_DEPTH | FTW_PHYS);
}

bool judge(Expect expect, const std::function<void()>& call) {
  try {
    call();
  } catch (const fassst::Error& e) {
    if (expect == Expect::kOk) throw Violation(std::string("threw, expected success: ") + e.what());
    return false;
  }
  if (expect == Expect::kError) throw Violation("returned normally, expected a fassst error");
  return true;
}

// ------------------------------------------------------------ running

namespace {

constexpr int kItemTimeoutS = 60;   // in-process items (ASan on a loaded 2-core machine)
constexpr int kChildTimeoutS = 10;  // known failures: a hang costs this much
constexpr double kSlowItemS = 3.0;  // items slower than this are named in the summary

char g_current[512];  // the item in progress, for the watchdog

// Says which item a sanitizer report or a crash belongs to.
void say_current_item(const char* what) {
  const char head[] = "\nfuzz: ";
  const char mid[] = " in corpus item ";
  ssize_t ignored = write(2, head, sizeof head - 1);
  ignored = write(2, what, strlen(what));
  ignored = write(2, mid, sizeof mid - 1);
  ignored = write(2, g_current, strlen(g_current));
  ignored = write(2, "\n", 1);
  (void)ignored;
}

#if FUZZ_SANITIZED
void on_sanitizer_death() { say_current_item("the sanitizer report above is"); }
#endif

// UBSan (a runtime of its own in GCC) calls no death callback; with
// UBSAN_OPTIONS=abort_on_error=1 (as .ci/run sets) it aborts, which lands here.
void on_crash(int sig) {
  say_current_item(sig == SIGABRT ? "abort (a sanitizer report above, or a failed assertion)" : "CRASH (a signal)");
  signal(sig, SIG_DFL);
  raise(sig);
}

void on_alarm(int) {
  const char head[] = "\nfuzz: TIMEOUT: item ";
  const char tail[] = " ran past the watchdog (a hang)\n";
  ssize_t ignored = write(2, head, sizeof head - 1);
  ignored = write(2, g_current, strlen(g_current));
  ignored = write(2, tail, sizeof tail - 1);
  (void)ignored;
  _exit(3);
}

struct Args {
  std::string corpus, known, filter, item, self;
};

struct Known {
  bool sanitize_only = false;  // fails only under the sanitizers
  std::string reason;
  bool seen = false;
};

// "surface/id  all|sanitize  reason..." lines; '#' comments.
std::map<std::string, Known> read_known(const std::string& path) {
  std::map<std::string, Known> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the known-failures list " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream words(line);
    std::string id, builds, reason;
    words >> id >> builds;
    std::getline(words, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    if ((builds != "all" && builds != "sanitize") || reason.empty())
      throw std::runtime_error(path + ":" + std::to_string(n) +
                               ": expected 'surface/id all|sanitize reason', got: " + line);
    if (out.count(id)) throw std::runtime_error(path + ":" + std::to_string(n) + ": " + id + " listed twice");
    out[id] = Known{builds == "sanitize", reason, false};
  }
  return out;
}

std::string describe_exception() {
  try {
    throw;
  } catch (const Violation& v) {
    return v.what();
  } catch (const std::bad_alloc&) {
    return "std::bad_alloc escaped: an allocation was not bounded before it was made";
  } catch (const fassst::Error& e) {
    return std::string("a fassst error escaped the surface: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("not a fassst error: ") + typeid(e).name() + ": " + e.what();
  } catch (...) {
    return "an exception of unknown type";
  }
}

// "" when the item passed, else why not.
std::string run_item(const Surface& s, const std::string& id, const Value& item) {
  std::snprintf(g_current, sizeof g_current, "%s", id.c_str());
  const auto t0 = std::chrono::steady_clock::now();
  alarm(kItemTimeoutS);
  std::string failure;
  try {
    s.run(item);
  } catch (...) {
    failure = describe_exception();
  }
  alarm(0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (took > kSlowItemS) std::printf("slow %s: %.1f s\n", id.c_str(), took);
  return failure;
}

struct Item {
  const Surface* surface;
  std::string id;  // surface/id
  Value value;
};

std::vector<Item> read_corpus(const Args& args, const std::vector<Surface>& surfaces) {
  std::vector<Item> items;
  for (const Surface& s : surfaces) {
    const std::string path = args.corpus + "/" + s.name + ".jsonl";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path + " (run tests/fuzz/make_corpus.py first)");
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      Value v = fassst::json::parse(line, path + ":" + std::to_string(n));
      const std::string id = s.name + "/" + text(v, "id");
      items.push_back(Item{&s, id, std::move(v)});
    }
    if (n == 0) throw std::runtime_error(path + " is empty");
  }
  return items;
}

// Runs one item in a child process (this program with --item); returns its
// exit status (128 + signal when killed, -1 on timeout) and its output. The
// child gets a TMPDIR of its own, removed afterwards: a child killed in a
// hang leaves nothing behind.
int run_in_child(const Args& args, const std::string& id, std::string* output) {
  const char* base = std::getenv("TMPDIR");
  std::string dir = std::string(base && *base ? base : "/tmp") + "/fassst_fuzz_child_XXXXXX";
  if (!mkdtemp(&dir[0])) throw std::runtime_error("mkdtemp failed");
  const std::string log_path = dir + "/output";
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (log < 0) throw std::runtime_error("cannot create " + log_path);
  std::vector<std::string> env_strings = {"TMPDIR=" + dir};
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "TMPDIR=", 7) != 0) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(&e[0]);
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, log, 1);
  posix_spawn_file_actions_adddup2(&actions, log, 2);
  std::vector<std::string> words = {args.self, "--corpus", args.corpus, "--item", id};
  if (!args.known.empty()) words.insert(words.end(), {"--known", args.known});
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(&w[0]);
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args.self.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    close(log);
    remove_tree(dir);
    throw std::runtime_error("posix_spawn failed: " + std::string(std::strerror(rc)));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kChildTimeoutS);
  int status = 0, result = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(log_path);
  std::stringstream all;
  all << in.rdbuf();
  *output = all.str();
  close(log);
  remove_tree(dir);
  return result;
}

// The lines of a child's output that say what went wrong.
std::string diagnosis(const std::string& output) {
  std::istringstream lines(output);
  std::string line, out;
  while (std::getline(lines, line)) {
    if (line.find("runtime error") != std::string::npos || line.find("ERROR: AddressSanitizer") != std::string::npos ||
        line.find("ERROR: LeakSanitizer") != std::string::npos || line.find("FAIL") != std::string::npos ||
        line.find("SUMMARY") != std::string::npos)
      out += "      " + line + "\n";
  }
  return out;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value after " + k);
    const std::string v = argv[++i];
    if (k == "--corpus") a.corpus = v;
    else if (k == "--known") a.known = v;
    else if (k == "--filter") a.filter = v;
    else if (k == "--item") a.item = v;
    else throw std::runtime_error("unknown argument " + k);
  }
  if (a.corpus.empty()) throw std::runtime_error("usage: --corpus DIR [--known FILE] [--filter TEXT] [--item SURFACE/ID]");
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw std::runtime_error("cannot find this program's path (/proc/self/exe)");
  a.self.assign(self, static_cast<size_t>(n));
  return a;
}

int main_unguarded(int argc, char** argv, const std::vector<Surface>& surfaces) {
  const Args args = parse_args(argc, argv);
#if !FUZZ_SANITIZED
  // An unbounded allocation throws std::bad_alloc (reported against the
  // item) instead of taking the machine's memory. ASan builds get the same
  // from __asan_default_options (ASan reserves terabytes of address space).
  const rlimit cap{rlim_t{8} << 30, rlim_t{8} << 30};
  setrlimit(RLIMIT_AS, &cap);
#endif
  signal(SIGALRM, on_alarm);
#if FUZZ_SANITIZED
  __sanitizer_set_death_callback(on_sanitizer_death);
  signal(SIGABRT, on_crash);  // ASan handles the others and says where
#else
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, on_crash);
#endif
  std::map<std::string, Known> known = read_known(args.known);
  const std::vector<Item> items = read_corpus(args, surfaces);

  if (!args.item.empty()) {  // child mode: one item, in this process
    for (const Item& it : items)
      if (it.id == args.item) {
        const std::string failure = run_item(*it.surface, it.id, it.value);
        std::printf("%s %s%s%s\n", failure.empty() ? "PASS" : "FAIL", it.id.c_str(), failure.empty() ? "" : ": ",
                    failure.c_str());
        return failure.empty() ? 0 : 1;
      }
    std::fprintf(stderr, "no item %s in the corpus\n", args.item.c_str());
    return 2;
  }

  int ran = 0, failed = 0, known_ran = 0;
  std::vector<const Item*> deferred;
  const auto t0 = std::chrono::steady_clock::now();
  for (const Item& it : items) {
    if (!args.filter.empty() && it.id.find(args.filter) == std::string::npos) continue;
    auto k = known.find(it.id);
    if (k != known.end()) {
      k->second.seen = true;
      deferred.push_back(&it);
      continue;
    }
    ++ran;
    const std::string failure = run_item(*it.surface, it.id, it.value);
    if (!failure.empty()) {
      ++failed;
      std::printf("FAIL %s: %s\n     (%s)\n", it.id.c_str(), failure.c_str(), text(it.value, "why").c_str());
    }
  }
  std::fflush(stdout);
  for (const Item* it : deferred) {
    const Known& k = known[it->id];
    std::string output;
    const int status = run_in_child(args, it->id, &output);
    ++known_ran;
    if (status == 0) {
      if (k.sanitize_only && !FUZZ_SANITIZED) {
        std::printf("known %s: passes in this build (it fails only under the sanitizers): %s\n", it->id.c_str(),
                    k.reason.c_str());
        continue;
      }
      ++failed;
      std::printf("FAIL %s: listed in known_failures.txt but passes now: remove its line (%s)\n", it->id.c_str(),
                  k.reason.c_str());
    } else {
      const std::string how = status < 0 ? "hung (killed after " + std::to_string(kChildTimeoutS) + " s)"
                              : status > 128 ? "died of signal " + std::to_string(status - 128)
                                             : "failed (exit " + std::to_string(status) + ")";
      std::printf("known %s: %s: %s\n%s", it->id.c_str(), how.c_str(), k.reason.c_str(), diagnosis(output).c_str());
    }
  }
  if (args.filter.empty())
    for (const auto& kv : known)
      if (!kv.second.seen) {  // the list is shared: only this driver's surfaces count
        bool ours = false;
        for (const Surface& s : surfaces) ours = ours || kv.first.compare(0, s.name.size() + 1, s.name + "/") == 0;
        if (ours) {
          ++failed;
          std::printf("FAIL %s: listed in known_failures.txt but not in the corpus\n", kv.first.c_str());
        }
      }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz: %d items run, %d known failures run apart, %d failed (%.1f s, %s build)\n", ran, known_ran,
              failed, s, FUZZ_SANITIZED ? "sanitized" : "plain");
  return failed == 0 && ran > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv, const std::vector<Surface>& surfaces) {
  try {
    return main_unguarded(argc, argv, surfaces);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: %s\n", e.what());
    return 2;
  }
}

}  // namespace fuzz
