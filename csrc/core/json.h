// A minimal JSON reader for the model metadata document (docs/model_files.md).
// Only reading, only what RFC 8259 defines; no dependency. The document is
// small (a few kB) and read once per model, so clarity beats speed here.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fassst {
namespace json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Value() = default;
  static Value boolean(bool b);
  static Value number(double d, bool integral);
  static Value string(std::string s);
  static Value array(std::vector<Value> items);
  static Value object(std::map<std::string, Value> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  // A number written without fraction or exponent (Python's json gives int).
  bool is_integer() const { return type_ == Type::kNumber && integral_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  const std::string& as_string() const { return string_; }
  const std::vector<Value>& as_array() const { return array_; }
  const std::map<std::string, Value>& as_object() const { return object_; }

  // Object member or nullptr (also when this is not an object).
  const Value* find(const std::string& key) const;

  // A short JSON-like rendering for error messages ("[1, 2]", "\"rgb\"").
  std::string repr() const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool integral_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<Value> array_;
  std::map<std::string, Value> object_;
};

// Parses a whole document. Throws MetadataError naming `source` and the byte
// offset of the problem.
Value parse(const std::string& text, const std::string& source);

}  // namespace json
}  // namespace fassst
