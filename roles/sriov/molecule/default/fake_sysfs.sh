#!/bin/sh
# fake_sysfs.sh ROOT PF VF0 VF1 VF1-NETDEV: a fake sysfs tree under ROOT, laid out as the
# kernel's (and sriov-cni's test trees): one Intel-like PF (i40e, 8 VFs at most, 2 made,
# no netdev), VF 0 bound to vfio-pci, VF 1 to iavf with its netdev, each device in its own
# IOMMU group, the drivers' bind/unbind/new_id files and drivers_probe.
set -eu
root=$1 pf=$2 vf0=$3 vf1=$4 netdev=$5
pci=$root/bus/pci

for driver in i40e iavf vfio-pci; do
  mkdir -p "$pci/drivers/$driver"
  for f in bind unbind new_id; do : > "$pci/drivers/$driver/$f"; done
done
: > "$pci/drivers_probe"

device() {  # address device-id driver iommu-group
  d=$pci/devices/$1
  mkdir -p "$d" "$root/kernel/iommu_groups/$4"
  echo 0x8086 > "$d/vendor"
  echo "$2" > "$d/device"
  echo '(null)' > "$d/driver_override"
  echo 0 > "$d/numa_node"
  ln -s "../../drivers/$3" "$d/driver"
  ln -s "../../../../kernel/iommu_groups/$4" "$d/iommu_group"
}
device "$pf" 0x1572 i40e 40
device "$vf0" 0x154c vfio-pci 41
device "$vf1" 0x154c iavf 42

echo 8 > "$pci/devices/$pf/sriov_totalvfs"
echo 2 > "$pci/devices/$pf/sriov_numvfs"
virtfn() {  # index address
  ln -s "../$2" "$pci/devices/$pf/virtfn$1"
  ln -s "../$pf" "$pci/devices/$2/physfn"
}
virtfn 0 "$vf0"
virtfn 1 "$vf1"
mkdir -p "$pci/devices/$vf1/net/$netdev"
echo 9a:00:00:00:00:01 > "$pci/devices/$vf1/net/$netdev/address"
