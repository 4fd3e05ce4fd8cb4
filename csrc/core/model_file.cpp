#include "core/model_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/errors.h"

namespace fassst {
namespace {

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void read_model_file(const std::string& path, const char* what,
                     const std::function<void(const char* data, size_t size)>& consume) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked next.
  Fd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (f.fd < 0 && errno == ENOENT) throw ModelError(message(path, ": the model's ", what, " does not exist"));
  if (f.fd < 0)
    throw ModelError(message(path, ": the model's ", what, " cannot be opened (", std::strerror(errno), ")"));
  struct stat st;
  if (::fstat(f.fd, &st) != 0)
    throw ModelError(message(path, ": the model's ", what, " cannot be examined (", std::strerror(errno), ")"));
  if (!S_ISREG(st.st_mode))
    throw ModelError(message(path, ": the model's ", what, " must be a regular file, not a device, FIFO or ",
                             "directory"));
  if (st.st_size > kMaxModelFileBytes)
    throw ModelError(message(path, ": the model's ", what, " is ", st.st_size, " bytes, more than the ",
                             kMaxModelFileBytes, " a model file may have"));
  std::vector<char> buf(1 << 20);
  int64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ModelError(message(path, ": read error in the model's ", what, " (", std::strerror(errno), ")"));
    if (n == 0) break;
    total += n;
    if (total > kMaxModelFileBytes)  // grew while being read
      throw ModelError(message(path, ": the model's ", what, " grew past ", kMaxModelFileBytes, " bytes"));
    consume(buf.data(), static_cast<size_t>(n));
  }
}

std::string read_model_file(const std::string& path, const char* what) {
  std::string out;
  read_model_file(path, what, [&out](const char* data, size_t size) { out.append(data, size); });
  return out;
}

}  // namespace fassst
