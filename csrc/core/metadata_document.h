// ModelMetadata from an already parsed JSON document: for files that embed the
// metadata inside a larger document (the TensorRT sidecar NAME.plan.json keeps
// it under the key "fassst").
#pragma once

#include <string>

#include "core/json.h"
#include "fassst/metadata.h"

namespace fassst {

// Validates exactly as ModelMetadata::from_json does; `source` names the file
// (and key) in error messages.
ModelMetadata metadata_from_document(const json::Value& doc, const std::string& source);

}  // namespace fassst
