// The corpus driver shared by fuzz_core and fuzz_c_api (docs/hardening.md):
// reads the JSON-lines corpus of tests/fuzz/make_corpus.py, runs every item
// of every surface under a watchdog, and judges it: an item passes when the
// call met its "expect" ("ok", "error", "either") and the surface's checks
// of the result held; a crash, a hang, an exception that is not a fassst
// error, or (in a sanitized build) any sanitizer finding fails the run.
//
// Items listed in tests/fuzz/known_failures.txt (known defects, each with
// its reason) run one by one in a child process instead, so that a crash or
// a sanitizer abort is contained; a listed item that now passes fails the
// run until its line is removed (the list can only shrink).
//
//   fuzz_core --corpus DIR --known FILE [--filter TEXT] [--item SURFACE/ID]
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/json.h"

namespace fuzz {

using fassst::json::Value;

// A check of the driver failed: the core returned something it must not (a
// wrong result, an unmet expectation). Deliberately not a fassst::Error.
class Violation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

enum class Expect { kOk, kError, kEither };

// Field access on a corpus item; a missing or mistyped field is a corpus
// bug and throws std::invalid_argument.
const Value& field(const Value& item, const char* key);
bool has(const Value& item, const char* key);  // present and not null
std::string text(const Value& item, const char* key);
int64_t integer(const Value& item, const char* key);
int64_t as_integer(const Value& v, const char* what);
// A float from a number or a string ("nan", "-inf", "1e-40"), parsed by
// strtof / strtod.
float as_float(const Value& v);
double as_double(const Value& v);
bool boolean(const Value& item, const char* key);
Expect expect_of(const Value& item, const char* key = "expect");
std::vector<uint8_t> from_hex(const std::string& hex);
// A seed derived from the item's id (deterministic across runs).
uint64_t seed_of(const std::string& id);

// Runs `call` and judges it against `expect`: returning normally and
// throwing a fassst::Error are the two outcomes; anything else propagates
// (and fails the item). Returns whether the call returned normally.
bool judge(Expect expect, const std::function<void()>& call);

// Removes a file or a directory tree (symbolic links are not followed).
void remove_tree(const std::string& path);

struct Surface {
  std::string name;  // the corpus file is DIR/<name>.jsonl
  std::function<void(const Value& item)> run;
};

// The driver's main: parses the arguments, runs the surfaces.
int main(int argc, char** argv, const std::vector<Surface>& surfaces);

}  // namespace fuzz
