#include "agent/daemon/sriov_setup.h"

#include "absl/strings/str_cat.h"
#include "sriov/driver_binding.h"
#include "sriov/num_vfs.h"
#include "sriov/pci_address.h"

namespace braid::agent {

absl::Status PrepareSriov(const AgentConfig& config, sriov::SysfsRoot& root,
                          std::vector<std::string>& log) {
  for (size_t i = 0; i < config.sriov.pfs.size(); ++i) {
    const SriovPfConfig& pf = config.sriov.pfs[i];
    if (absl::Status s = sriov::SetNumVfs(root, pf.netdev, pf.num_vfs); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("sriov.pfs[", i, "] (", pf.netdev, "): ", s.message()));
    }
    log.push_back(absl::StrCat("sriov: ", pf.netdev, " has ", pf.num_vfs, " VF(s)"));
  }
  if (!config.sriov.bind_vfio) return absl::OkStatus();
  for (size_t i = 0; i < config.paths.size(); ++i) {
    const PathConfig& p = config.paths[i];
    if (p.kind != PathKind::kVf) continue;
    const std::string where = absl::StrCat("paths[", i, "] (", p.name, ")");
    const std::optional<sriov::PciAddress> pci = sriov::PciAddress::Parse(p.pci);
    if (!pci) return absl::InvalidArgumentError(where + ": pci \"" + p.pci + "\"");
    if (absl::Status s = sriov::BindToDriver(root, *pci, sriov::kVfioPci); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(where, ": bind ", p.pci, " to vfio-pci: ", s.message()));
    }
    log.push_back(absl::StrCat("sriov: ", p.pci, " (", p.name, ") on vfio-pci"));
  }
  return absl::OkStatus();
}

}  // namespace braid::agent
