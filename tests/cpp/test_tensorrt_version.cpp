// The TensorRT backend's version check (csrc/api/tensorrt_version.h), without
// TensorRT: getInferLibVersion()'s two encodings, from the values each
// release's headers document, and the comparison with a sidecar's version.
#include "api/tensorrt_version.h"
#include "check.h"

using namespace fassst::trt_version;

TEST_CASE(decodes_the_8x_encoding) {
  CHECK_EQ(to_string(decode(8503)), std::string("8.5.3"));
  CHECK_EQ(to_string(decode(8601)), std::string("8.6.1"));
  CHECK_EQ(to_string(decode(8510)), std::string("8.5.10"));
}

TEST_CASE(decodes_the_encoding_from_9_on) {
  CHECK_EQ(to_string(decode(101300)), std::string("10.13.0"));
  CHECK_EQ(to_string(decode(110100)), std::string("11.1.0"));
  CHECK_EQ(to_string(decode(100003)), std::string("10.0.3"));
  CHECK_EQ(to_string(decode(90201)), std::string("9.2.1"));
}

TEST_CASE(same_release_compares_major_minor_patch_only) {
  CHECK(same_release("8.6.1.6", decode(8601)));
  CHECK(same_release("10.13.0.35", decode(101300)));
  CHECK(same_release("11.1.0", decode(110100)));
  CHECK(!same_release("8.5.20.1", decode(8502)));  // 8.5.2 is not 8.5.20
  CHECK(!same_release("8.6.1.6", decode(8503)));
  CHECK(!same_release("10.13.0.35", decode(101301)));
  CHECK(!same_release("", decode(8601)));
}

CHECK_MAIN()
