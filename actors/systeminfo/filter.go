package systeminfo

import (
	"regexp"
	"strings"
)

// wholeDisk accepts block devices that carry their own I/O: sd/hd/vd/xvd disks,
// NVMe namespaces (nvme0n1), eMMC/SD cards (mmcblk0), md arrays and
// device-mapper volumes (LVM, dm-crypt). It rejects partitions (sda1,
// nvme0n1p1, mmcblk0p1, md0p1), NVMe controller paths (nvme0c0n1), loop, ram,
// zram, optical and floppy devices: their I/O is counted on their parent disk
// or is not disk I/O.
var wholeDisk = regexp.MustCompile(`^(?:(?:s|h|v|xv)d[a-z]+|nvme\d+n\d+|mmcblk\d+|md\d+|dm-\d+)$`)

// IsWholeDisk reports whether name gets an I/O series.
func IsWholeDisk(name string) bool { return wholeDisk.MatchString(name) }

// DefaultNetExclude matches virtual interfaces whose traffic is already counted
// on a physical one: container veths and bridges, libvirt bridges, ifb mirrors.
const DefaultNetExclude = `^(veth|docker|br-|virbr|vnet|cni|flannel|cali|lxc|ifb)`

// networkFS are file systems that can hang statfs when their server is gone;
// they are skipped unless asked for.
var networkFS = map[string]bool{
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true, "9p": true,
	"fuse.sshfs": true, "ceph": true, "glusterfs": true, "fuse.glusterfs": true,
	"afs": true, "ncpfs": true, "fuse.rclone": true, "davfs": true, "fuse.s3fs": true,
}

// IsNetworkFS reports whether fstype is a network file system.
func IsNetworkFS(fstype string) bool {
	return networkFS[fstype] || strings.HasPrefix(fstype, "nfs")
}
