// A synthetic sysfs tree with the kernel's layout, in a temporary directory, for the SR-IOV tests
// (there is no SR-IOV NIC, VFIO or netdevsim on the test machines), and FakeKernel: a SysfsRoot
// that does what the kernel does after the writes the SR-IOV code makes (creating and removing
// VFs for sriov_numvfs, binding and unbinding drivers for driver_override, unbind and
// drivers_probe), following drivers/pci/iov.c, pci-sysfs.c and drivers/base/bus.c.
//
// Layout, as on a real machine (paths relative to the root):
//   sys/devices/pci0000:00/<pci>/{vendor,device,numa_node,driver_override}
//   sys/devices/pci0000:00/<pci>/driver -> ../../../bus/pci/drivers/<driver>
//   sys/devices/pci0000:00/<pci>/iommu_group -> ../../../kernel/iommu_groups/<group>
//   sys/devices/pci0000:00/<pf>/{sriov_totalvfs,sriov_numvfs}, virtfn<N> -> ../<vf>
//   sys/devices/pci0000:00/<vf>/physfn -> ../<pf>
//   sys/devices/pci0000:00/<pci>/net/<if>/{speed,operstate}, device -> ../../../<pci>
//   sys/class/net/<if> -> ../../devices/pci0000:00/<pci>/net/<if>
//   sys/bus/pci/devices/<pci> -> ../../../devices/pci0000:00/<pci>
//   sys/bus/pci/drivers/<driver>/{bind,unbind,new_id}, sys/bus/pci/drivers_probe
//   dev/vfio/<group>
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "sriov/errors.h"
#include "sriov/pci_address.h"
#include "sriov/sysfs.h"

namespace braid::sriov::testing {

namespace fs = std::filesystem;

inline std::string Hex16(uint16_t v) {
  char text[8];
  std::snprintf(text, sizeof(text), "0x%04x", v);
  return text;
}

struct PciSpec {
  std::string pci;
  uint16_t vendor = 0x8086;
  uint16_t device = 0x1572;
  std::string numa_node = "0";          // the file's text; "" leaves the file out
  std::optional<std::string> driver;    // bound driver (its directory is created)
  std::optional<uint32_t> iommu_group;  // with the group directory, not /dev/vfio
};

struct PfSpec {
  std::string ifname = "enp3s0f0";
  PciSpec pci{"0000:03:00.0", 0x8086, 0x1572, "0", "i40e", 1};
  std::string speed = "10000";
  std::string operstate = "up";
  uint32_t total_vfs = 8;
  uint32_t num_vfs = 0;
  std::string vf_driver = "iavf";  // the driver VFs get when created; "" leaves them unbound
  uint16_t vf_device = 0x154c;
};

class FakeSysfsTree {
 public:
  FakeSysfsTree() {
    std::string pattern = (fs::temp_directory_path() / "braid-sriov-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    root_ = pattern;
    MakeDir("sys/class/net");
    MakeDir("sys/bus/pci/devices");
    MakeDir("sys/bus/pci/drivers");
    MakeDir("sys/kernel/iommu_groups");
    MakeDir("dev/vfio");
    WriteFile("sys/bus/pci/drivers_probe", "");
  }
  FakeSysfsTree(const FakeSysfsTree&) = delete;
  FakeSysfsTree& operator=(const FakeSysfsTree&) = delete;
  ~FakeSysfsTree() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  const std::string& root() const { return root_; }
  std::string Path(std::string_view rel) const { return root_ + "/" + std::string(rel); }

  void MakeDir(std::string_view rel) { fs::create_directories(Path(rel)); }
  void WriteFile(std::string_view rel, std::string_view content) {
    fs::create_directories(fs::path(Path(rel)).parent_path());
    std::ofstream(Path(rel), std::ios::trunc) << content;
  }
  std::string ReadFile(std::string_view rel) const {
    std::ifstream in(Path(rel));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Makes `rel` a symbolic link to `target` (relative to rel's directory), replacing what is there.
  void Symlink(std::string_view rel, std::string_view target) {
    fs::create_directories(fs::path(Path(rel)).parent_path());
    std::error_code ignored;
    fs::remove(Path(rel), ignored);
    fs::create_symlink(std::string(target), Path(rel));
  }
  void Remove(std::string_view rel) {
    std::error_code ignored;
    fs::remove_all(Path(rel), ignored);
  }
  bool Exists(std::string_view rel) const { return fs::exists(fs::symlink_status(Path(rel))); }

  static std::string DeviceDir(std::string_view pci) {
    return "sys/devices/pci0000:00/" + std::string(pci);
  }

  void AddDriver(std::string_view name) {
    const std::string dir = "sys/bus/pci/drivers/" + std::string(name);
    WriteFile(dir + "/bind", "");
    WriteFile(dir + "/unbind", "");
    WriteFile(dir + "/new_id", "");
  }

  void AddPciFunction(const PciSpec& spec) {
    const std::string dir = DeviceDir(spec.pci);
    WriteFile(dir + "/vendor", Hex16(spec.vendor) + "\n");
    WriteFile(dir + "/device", Hex16(spec.device) + "\n");
    if (!spec.numa_node.empty()) WriteFile(dir + "/numa_node", spec.numa_node + "\n");
    WriteFile(dir + "/driver_override", "(null)\n");
    Symlink("sys/bus/pci/devices/" + spec.pci, "../../../devices/pci0000:00/" + spec.pci);
    if (spec.driver) Bind(spec.pci, *spec.driver);
    if (spec.iommu_group) {
      const std::string group = std::to_string(*spec.iommu_group);
      MakeDir("sys/kernel/iommu_groups/" + group + "/devices");
      Symlink(dir + "/iommu_group", "../../../kernel/iommu_groups/" + group);
    }
  }

  void Bind(std::string_view pci, std::string_view driver) {
    AddDriver(driver);
    Symlink(DeviceDir(pci) + "/driver", "../../../bus/pci/drivers/" + std::string(driver));
  }
  void UnbindDriver(std::string_view pci) { Remove(DeviceDir(pci) + "/driver"); }

  void AddNetdev(std::string_view ifname, std::string_view pci, std::string_view speed,
                 std::string_view operstate) {
    const std::string net = DeviceDir(pci) + "/net/" + std::string(ifname);
    WriteFile(net + "/speed", std::string(speed) + "\n");
    WriteFile(net + "/operstate", std::string(operstate) + "\n");
    Symlink(net + "/device", "../../../" + std::string(pci));
    Symlink("sys/class/net/" + std::string(ifname),
            "../../devices/pci0000:00/" + std::string(pci) + "/net/" + std::string(ifname));
  }

  // A virtual interface (lo, veth, bridge): no device link.
  void AddVirtualNetdev(std::string_view ifname) {
    const std::string net = "sys/devices/virtual/net/" + std::string(ifname);
    WriteFile(net + "/operstate", "unknown\n");
    WriteFile(net + "/speed", "");
    Symlink("sys/class/net/" + std::string(ifname),
            "../../devices/virtual/net/" + std::string(ifname));
  }

  // The address the fake gives VF `index` of `pf`: device 0x10 + index / 8, function index % 8.
  static std::string VfPci(std::string_view pf, uint32_t index) {
    PciAddress a = *PciAddress::Parse(pf);
    a.device = static_cast<uint8_t>(0x10 + index / 8);
    a.function = static_cast<uint8_t>(index % 8);
    return a.ToString();
  }

  void AddPf(const PfSpec& spec) {
    AddPciFunction(spec.pci);
    const std::string dir = DeviceDir(spec.pci.pci);
    WriteFile(dir + "/sriov_totalvfs", std::to_string(spec.total_vfs) + "\n");
    WriteFile(dir + "/sriov_numvfs", "0\n");
    AddNetdev(spec.ifname, spec.pci.pci, spec.speed, spec.operstate);
    pfs_[spec.pci.pci] = spec;
    CreateVfs(spec.pci.pci, spec.num_vfs);
  }

  // What the kernel does when sriov_numvfs goes from 0 to `count`: the VFs' PCI functions with
  // their virtfn/physfn links, bound to the PF's VF driver with a netdev each when it has one.
  void CreateVfs(std::string_view pf, uint32_t count) {
    const PfSpec& spec = pfs_.at(std::string(pf));
    const std::string dir = DeviceDir(pf);
    for (uint32_t i = 0; i < count; ++i) {
      const std::string vf = VfPci(pf, i);
      PciSpec vf_spec;
      vf_spec.pci = vf;
      vf_spec.vendor = spec.pci.vendor;
      vf_spec.device = spec.vf_device;
      vf_spec.numa_node = spec.pci.numa_node;
      vf_spec.iommu_group = 100 + i;
      if (!spec.vf_driver.empty()) vf_spec.driver = spec.vf_driver;
      AddPciFunction(vf_spec);
      Symlink(dir + "/virtfn" + std::to_string(i), "../" + vf);
      Symlink(DeviceDir(vf) + "/physfn", "../" + std::string(pf));
      default_driver_[vf] = spec.vf_driver;
      vf_netdev_[vf] = spec.ifname + "v" + std::to_string(i);
      if (!spec.vf_driver.empty()) AddVfNetdev(vf);
    }
    WriteFile(dir + "/sriov_numvfs", std::to_string(count) + "\n");
  }

  void RemoveVfs(std::string_view pf) {
    const std::string dir = DeviceDir(pf);
    for (uint32_t i = 0; Exists(dir + "/virtfn" + std::to_string(i)); ++i) {
      const std::string vf = VfPci(pf, i);
      for (const auto& entry : fs::directory_iterator(Path("sys/class/net"))) {
        const fs::path target = fs::read_symlink(entry.path());
        if (target.string().find("/" + vf + "/") != std::string::npos) fs::remove(entry.path());
      }
      Remove(DeviceDir(vf));
      Remove("sys/bus/pci/devices/" + vf);
      Remove(dir + "/virtfn" + std::to_string(i));
    }
    WriteFile(dir + "/sriov_numvfs", "0\n");
  }

  // A netdev driver holding the VF gives it an interface, listed in sys/class/net like any other;
  // systemd names it after the PF ("enp3s0f0v2").
  void AddVfNetdev(std::string_view vf) {
    AddNetdev(vf_netdev_.at(std::string(vf)), vf, "-1", "down");
  }
  void RemoveVfNetdev(std::string_view vf) {
    const std::string net = DeviceDir(vf) + "/net";
    if (!Exists(net)) return;
    for (const auto& entry : fs::directory_iterator(Path(net))) {
      Remove("sys/class/net/" + entry.path().filename().string());
    }
    Remove(net);
  }

  // The driver a probe without driver_override picks for `pci` ("" for none).
  std::string DefaultDriver(std::string_view pci) const {
    auto it = default_driver_.find(std::string(pci));
    return it == default_driver_.end() ? "" : it->second;
  }
  void SetDefaultDriver(std::string_view pci, std::string_view driver) {
    default_driver_[std::string(pci)] = std::string(driver);
  }

 private:
  std::string root_;
  std::map<std::string, PfSpec> pfs_;
  std::map<std::string, std::string> default_driver_;
  std::map<std::string, std::string> vf_netdev_;
};

// A SysfsRoot over a FakeSysfsTree that plays the kernel's part after each write, records every
// write, and can fail chosen writes with an errno.
class FakeKernel : public SysfsRoot {
 public:
  explicit FakeKernel(FakeSysfsTree& tree) : SysfsRoot(tree.root()), tree_(tree) {}

  struct Write {
    std::string rel;
    std::string value;
    friend bool operator==(const Write&, const Write&) = default;
  };
  const std::vector<Write>& writes() const { return writes_; }
  void ClearWrites() { writes_.clear(); }

  // Writes to a path ending in `suffix` fail with `error`, as the kernel's store function would.
  void FailWrites(std::string suffix, int error) { failures_[std::move(suffix)] = error; }
  // Drivers whose probe refuses every device (drivers_probe still succeeds, as in the kernel).
  void RefuseProbe(std::string driver) { refusing_.insert(std::move(driver)); }
  // PFs whose driver has no sriov_configure: sriov_numvfs writes fail with ENOENT.
  void NoSriovConfigure() { no_sriov_configure_ = true; }

  absl::Status WriteAttribute(std::string_view rel, std::string_view value) override {
    writes_.push_back({std::string(rel), std::string(value)});
    const std::string context = "writing '" + std::string(value) + "' to " + Path(rel);
    for (const auto& [suffix, error] : failures_) {
      if (rel.size() >= suffix.size() && rel.substr(rel.size() - suffix.size()) == suffix) {
        return ErrnoStatus(error, context);
      }
    }
    if (!Exists(rel)) return ErrnoStatus(ENOENT, context);  // sysfs never creates a file
    if (EndsWith(rel, "/sriov_numvfs")) return StoreNumVfs(rel, value, context);
    if (EndsWith(rel, "/driver_override")) return StoreOverride(rel, value);
    if (EndsWith(rel, "/unbind")) return StoreUnbind(rel, value, context);
    if (rel == "sys/bus/pci/drivers_probe") return StoreProbe(value, context);
    return SysfsRoot::WriteAttribute(rel, value);
  }

 private:
  static bool EndsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  }
  static std::string Trim(std::string_view value) {
    std::string v(value);
    if (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  }
  std::string Real(std::string_view rel) const {
    return fs::canonical(Path(rel)).lexically_relative(tree_.root()).string();
  }
  std::string DeviceName(std::string_view rel_dir) const {
    return fs::path(Real(rel_dir)).filename().string();
  }

  // drivers/pci/iov.c sriov_numvfs_store.
  absl::Status StoreNumVfs(std::string_view rel, std::string_view value,
                           const std::string& context) {
    const std::string dir = fs::path(std::string(rel)).parent_path().string();
    const std::string pf = DeviceName(dir);
    const std::string text = Trim(value);
    char* end = nullptr;
    const long wanted = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || wanted < 0 || wanted > 65535) {
      return ErrnoStatus(EINVAL, context);
    }
    const long total = std::stol(tree_.ReadFile(dir + "/sriov_totalvfs"));
    const long current = std::stol(tree_.ReadFile(dir + "/sriov_numvfs"));
    if (wanted == current) return absl::OkStatus();
    if (no_sriov_configure_) return ErrnoStatus(ENOENT, context);
    if (wanted > total) return ErrnoStatus(ERANGE, context);
    if (wanted != 0 && current != 0) return ErrnoStatus(EBUSY, context);
    if (wanted == 0) {
      tree_.RemoveVfs(pf);
    } else {
      tree_.CreateVfs(pf, static_cast<uint32_t>(wanted));
    }
    return absl::OkStatus();
  }

  // drivers/pci/pci-sysfs.c driver_override_store: a trailing newline is dropped; empty clears.
  absl::Status StoreOverride(std::string_view rel, std::string_view value) {
    const std::string v = Trim(value);
    tree_.WriteFile(rel, (v.empty() ? std::string("(null)") : v) + "\n");
    return absl::OkStatus();
  }

  // drivers/base/bus.c unbind_store: only a device bound to this driver; else ENODEV.
  absl::Status StoreUnbind(std::string_view rel, std::string_view value,
                           const std::string& context) {
    const std::string driver = DeviceName(fs::path(std::string(rel)).parent_path().string());
    const std::string pci = Trim(value);
    const std::string link = FakeSysfsTree::DeviceDir(pci) + "/driver";
    if (!tree_.Exists(link) || fs::read_symlink(tree_.Path(link)).filename().string() != driver) {
      return ErrnoStatus(ENODEV, context);
    }
    tree_.RemoveVfNetdev(pci);
    tree_.UnbindDriver(pci);
    return absl::OkStatus();
  }

  // drivers/base/bus.c drivers_probe_store: ENODEV without the device; success whether or not a
  // driver took it. With driver_override only that driver may (pci-driver.c pci_match_device).
  absl::Status StoreProbe(std::string_view value, const std::string& context) {
    const std::string pci = Trim(value);
    if (!tree_.Exists("sys/bus/pci/devices/" + pci)) return ErrnoStatus(ENODEV, context);
    const std::string dir = FakeSysfsTree::DeviceDir(pci);
    if (tree_.Exists(dir + "/driver")) return absl::OkStatus();
    std::string driver = Trim(tree_.ReadFile(dir + "/driver_override"));
    if (driver == "(null)") driver = tree_.DefaultDriver(pci);
    if (driver.empty() || refusing_.count(driver) != 0 ||
        !tree_.Exists("sys/bus/pci/drivers/" + driver)) {
      return absl::OkStatus();
    }
    tree_.Bind(pci, driver);
    if (driver == tree_.DefaultDriver(pci) && tree_.Exists(dir + "/physfn")) tree_.AddVfNetdev(pci);
    if (driver == "vfio-pci" && tree_.Exists(dir + "/iommu_group")) {
      const std::string group =
          fs::read_symlink(tree_.Path(dir + "/iommu_group")).filename().string();
      tree_.WriteFile("dev/vfio/" + group, "");
    }
    return absl::OkStatus();
  }

  FakeSysfsTree& tree_;
  std::vector<Write> writes_;
  std::map<std::string, int> failures_;
  std::set<std::string> refusing_;
  bool no_sriov_configure_ = false;
};

}  // namespace braid::sriov::testing
