// A tiny check helper for the C++ tests run by CTest: no framework to
// provision. CHECK* record a failure (file:line and the values) and go on;
// the test's exit status is the number of failures (capped at 1).
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace check {

inline int& failures() {
  static int n = 0;
  return n;
}

inline void fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
  ++failures();
}

template <typename A, typename B>
std::string pair_text(const char* ea, const char* eb, const A& a, const B& b) {
  std::ostringstream o;
  o << ea << " == " << eb << " (got " << a << " vs " << b << ")";
  return o.str();
}

struct Case {
  const char* name;
  std::function<void()> body;
};

inline std::vector<Case>& cases() {
  static std::vector<Case> c;
  return c;
}

struct Register {
  Register(const char* name, std::function<void()> body) { cases().push_back({name, std::move(body)}); }
};

// Runs every registered case (or those whose name contains argv[1]); an
// exception escaping a case is a failure.
inline int run_all(int argc, char** argv) {
  int ran = 0;
  for (const Case& c : cases()) {
    if (argc > 1 && std::string(c.name).find(argv[1]) == std::string::npos) continue;
    const int before = failures();
    try {
      c.body();
    } catch (const std::exception& e) {
      fail(c.name, 0, std::string("unexpected exception: ") + e.what());
    }
    std::fprintf(stderr, "[%s] %s\n", failures() == before ? "  OK  " : " FAIL ", c.name);
    ++ran;
  }
  std::fprintf(stderr, "%d cases, %d failed checks\n", ran, failures());
  return failures() == 0 && ran > 0 ? 0 : 1;
}

}  // namespace check

#define CHECK_CONCAT2(a, b) a##b
#define CHECK_CONCAT(a, b) CHECK_CONCAT2(a, b)
#define TEST_CASE(name)                                                           \
  static void CHECK_CONCAT(test_, name)();                                        \
  static check::Register CHECK_CONCAT(reg_, name)(#name, &CHECK_CONCAT(test_, name)); \
  static void CHECK_CONCAT(test_, name)()

#define CHECK(cond) \
  do { if (!(cond)) check::fail(__FILE__, __LINE__, #cond); } while (0)
#define CHECK_EQ(a, b)                                                                  \
  do {                                                                                  \
    const auto& va_ = (a);                                                              \
    const auto& vb_ = (b);                                                              \
    if (!(va_ == vb_)) check::fail(__FILE__, __LINE__, check::pair_text(#a, #b, va_, vb_)); \
  } while (0)
#define CHECK_NEAR(a, b, tol)                                                            \
  do {                                                                                   \
    const double va_ = (a), vb_ = (b);                                                   \
    if (!(std::fabs(va_ - vb_) <= (tol)))                                                \
      check::fail(__FILE__, __LINE__, check::pair_text(#a, #b, va_, vb_) + " tol " #tol); \
  } while (0)
// Expects `stmt` to throw `Exc` whose message contains `text`.
#define CHECK_THROWS(Exc, stmt, text)                                                         \
  do {                                                                                        \
    bool thrown_ = false;                                                                     \
    try {                                                                                     \
      stmt;                                                                                   \
    } catch (const Exc& e_) {                                                                 \
      thrown_ = true;                                                                         \
      if (std::string(e_.what()).find(text) == std::string::npos)                             \
        check::fail(__FILE__, __LINE__, std::string(#Exc " message lacks '") + (text) + "': " + e_.what()); \
    }                                                                                         \
    if (!thrown_) check::fail(__FILE__, __LINE__, #stmt " did not throw " #Exc);              \
  } while (0)

#define CHECK_MAIN() \
  int main(int argc, char** argv) { return check::run_all(argc, argv); }
