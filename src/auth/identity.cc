#include "auth/identity.h"

#include "common/status.h"

namespace squadron::auth {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
    case Role::kNone:
      break;
  }
  return "none";
}

arrow::Result<Role> ParseRole(const std::string& name) {
  if (name == "reader") return Role::kReader;
  if (name == "writer") return Role::kWriter;
  if (name == "admin") return Role::kAdmin;
  return InvalidArgument("Unknown role '", name, "': expected reader, writer or admin");
}

}  // namespace squadron::auth
