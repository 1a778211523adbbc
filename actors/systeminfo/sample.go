package systeminfo

// SystemInfo is one sample. The first seven fields are GoDoxy's, with its JSON
// names (camelCase inside disks_io included); the rest are ringwatch's
// additions, which leave that shape intact. Collections are never null: an
// empty map is {} and an empty list [].
type SystemInfo struct {
	Timestamp  int64                `json:"timestamp"`
	CPUAverage *float64             `json:"cpu_average"`
	Memory     Memory               `json:"memory"`
	Disks      map[string]DiskUsage `json:"disks"`
	DisksIO    map[string]DiskIO    `json:"disks_io"`
	Network    Network              `json:"network"`
	Sensors    []Sensor             `json:"sensors"`

	CPUPerCore []float64          `json:"cpu_per_core"`
	LoadAvg    LoadAvg            `json:"load_avg"`
	Swap       Swap               `json:"swap"`
	Interfaces map[string]Network `json:"interfaces"`
	Uptime     uint64             `json:"uptime"`    // seconds since boot
	BootTime   uint64             `json:"boot_time"` // Unix seconds
}

// Memory is RAM use in bytes; Total is Available+Used, as in GoDoxy.
type Memory struct {
	Available   uint64  `json:"available"`
	Used        uint64  `json:"used"`
	Total       uint64  `json:"total"`
	UsedPercent float64 `json:"used_percent"`
}

// DiskUsage is one mounted file system.
type DiskUsage struct {
	Path        string  `json:"path"`
	Fstype      string  `json:"fstype"`
	Total       uint64  `json:"total"`
	Free        uint64  `json:"free"`
	Used        uint64  `json:"used"`
	UsedPercent float64 `json:"used_percent"`
}

// DiskIO is one block device's counters and rates.
type DiskIO struct {
	ReadCount  uint64  `json:"readCount"`
	WriteCount uint64  `json:"writeCount"`
	ReadBytes  uint64  `json:"readBytes"`
	WriteBytes uint64  `json:"writeBytes"`
	Name       string  `json:"name"`
	IOPS       uint64  `json:"iops"`
	ReadSpeed  float32 `json:"readSpeed"`
	WriteSpeed float32 `json:"writeSpeed"`
}

// Network is byte counters (since boot) and speeds in bytes per second.
type Network struct {
	BytesSent     uint64  `json:"bytes_sent"`
	BytesRecv     uint64  `json:"bytes_recv"`
	UploadSpeed   float32 `json:"upload_speed"`
	DownloadSpeed float32 `json:"download_speed"`
}

// Sensor is one temperature in °C, with its thresholds (0 when the hardware
// gives none).
type Sensor struct {
	Name        string  `json:"name"`
	Temperature float32 `json:"temperature"`
	High        float64 `json:"high"`
	Critical    float64 `json:"critical"`
}

// LoadAvg is the 1, 5 and 15 minute load averages.
type LoadAvg struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// Swap is swap use in bytes.
type Swap struct {
	Total       uint64  `json:"total"`
	Used        uint64  `json:"used"`
	Free        uint64  `json:"free"`
	UsedPercent float64 `json:"used_percent"`
}

// Counters are the cumulative series: buckets keep their last value.
var Counters = []string{
	"network.bytes_sent", "network.bytes_recv",
	"interfaces.*.bytes_sent", "interfaces.*.bytes_recv",
	"disks_io.*.readCount", "disks_io.*.writeCount",
	"disks_io.*.readBytes", "disks_io.*.writeBytes",
	"uptime", "boot_time",
}
