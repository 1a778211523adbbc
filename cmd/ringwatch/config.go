package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ringwatch/ringwatch/actors/uptime"
	"github.com/ringwatch/ringwatch/bus"
)

// Settings is the resolved configuration. Each setting comes from, in order
// of precedence: its flag, the environment (RINGWATCH_<FLAG>), the --config
// YAML file (same key as the flag), its default.
type Settings struct {
	ConfigFile       string
	DataDir          string
	HTTPAddr         string
	NATSAddr         string
	Host             string
	HostName         string // --host as given, before it became a subject token
	GoDoxyNames      bool
	PollInterval     time.Duration
	SnapshotInterval time.Duration
	ShutdownTimeout  time.Duration
	Bus              string
	LogLevel         string
	LogFormat        string
	NetExclude       string
	IncludeNetworkFS bool
	AllowedOrigins   []string
	AllowedHosts     []string
	APIToken         string
	MaxHosts         int
	HostRetention    time.Duration
	MaxSampleBytes   int
	LoadHoldBytes    int
	PprofAddr        string
	// Routes are the uptime checks from the config file's routes: key.
	Routes []uptime.Route
	// Identities are the agents and readers the config file declares
	// (agents: and readers:), admitted on --nats-addr.
	Identities []bus.Identity
	// NATSInsecure opens --nats-addr to anyone when nobody is declared.
	NATSInsecure bool
	NATSTLS      bus.TLSFiles
	// A NATS cluster: this node's route address, the other nodes', the
	// cluster's name and the file holding the routes' shared secret.
	NATSClusterAddr, NATSClusterName, NATSClusterSecretFile string
	// NATSLeafAddr is where remote sites' leaf nodes connect.
	NATSLeafAddr string
	NATSRoutes   []string
	// ReplayWindow is how long the replay stream keeps raw samples (0: no
	// stream); ReplayMaxBytes bounds it.
	ReplayWindow   time.Duration
	ReplayMaxBytes int
	// The agent's credentials, TLS files and outage buffer.
	Creds  bus.Credentials
	Buffer time.Duration
	// Acks has the agent wait for the replay stream to acknowledge each
	// sample, sending again what it does not.
	Acks bool

	// collectorFailFor is how long a collector must fail every poll before
	// /healthz reports it (0: the API's default, a minute). Not a flag:
	// tests shorten it.
	collectorFailFor time.Duration
}

type option struct {
	name, def, usage string
	set              func(s *Settings, v string) error
}

func str(p func(*Settings) *string) func(*Settings, string) error {
	return func(s *Settings, v string) error { *p(s) = v; return nil }
}

func dur(min time.Duration, p func(*Settings) *time.Duration) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration (like 1s or 5m): %q", v)
		}
		if d < min {
			return fmt.Errorf("%s is below the minimum of %s", d, min)
		}
		*p(s) = d
		return nil
	}
}

func count(min int, p func(*Settings) *int) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", v)
		}
		if n < min {
			return fmt.Errorf("%d is below the minimum of %d", n, min)
		}
		*p(s) = n
		return nil
	}
}

// size parses a byte count: 262144, 256KiB, 1MiB, 1GiB (KB, MB and GB are
// read as KiB, MiB and GiB).
func size(min, max int, p func(*Settings) *int) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		mult := 1
		num := v
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
			if n, ok := strings.CutSuffix(v, u.suffix); ok {
				num, mult = strings.TrimSpace(n), u.mult
				break
			}
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 {
			return fmt.Errorf("not a size (like 262144, 256KiB or 1GiB): %q", v)
		}
		if n > math.MaxInt/mult {
			return fmt.Errorf("%s: too large", v)
		}
		n *= mult
		if n < min || n > max {
			return fmt.Errorf("%d bytes is outside %d to %d", n, min, max)
		}
		*p(s) = n
		return nil
	}
}

// list parses a comma-separated list, leaving out empty items.
func list(p func(*Settings) *[]string) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		*p(s) = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*p(s) = append(*p(s), item)
			}
		}
		return nil
	}
}

func boolean(p func(*Settings) *bool) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not true or false: %q", v)
		}
		*p(s) = b
		return nil
	}
}

func oneOf(choices ...string) func(p func(*Settings) *string) func(*Settings, string) error {
	return func(p func(*Settings) *string) func(*Settings, string) error {
		return func(s *Settings, v string) error {
			for _, c := range choices {
				if v == c {
					*p(s) = v
					return nil
				}
			}
			return fmt.Errorf("%q is not one of %s", v, strings.Join(choices, ", "))
		}
	}
}

func defaultHost() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

func options() []option {
	return []option{
		{"config", "", "YAML file with the same keys as these flags", str(func(s *Settings) *string { return &s.ConfigFile })},
		{"data-dir", "./data", "snapshots go under <data-dir>/metrics/", str(func(s *Settings) *string { return &s.DataDir })},
		{"http-addr", "127.0.0.1:8080", "the API's listen address", str(func(s *Settings) *string { return &s.HTTPAddr })},
		{"nats-addr", "", "also serve NATS on this TCP address (empty: in-process only)", str(func(s *Settings) *string { return &s.NATSAddr })},
		{"host", defaultHost(), "this host's name on the bus", str(func(s *Settings) *string { return &s.Host })},
		{"poll-interval", "1s", "how often the pollers sample", dur(100*time.Millisecond, func(s *Settings) *time.Duration { return &s.PollInterval })},
		{"snapshot-interval", "5m", "how often state is written to disk (and always on shutdown)", dur(time.Second, func(s *Settings) *time.Duration { return &s.SnapshotInterval })},
		{"shutdown-timeout", "9s", "how long the ordered shutdown may take (Docker waits 10 s before SIGKILL)", dur(100*time.Millisecond, func(s *Settings) *time.Duration { return &s.ShutdownTimeout })},
		{"bus", "", "NATS URL(s) of the hub, comma-separated (agent)", str(func(s *Settings) *string { return &s.Bus })},
		{"log-level", "info", "debug, info, warn or error", oneOf("debug", "info", "warn", "error")(func(s *Settings) *string { return &s.LogLevel })},
		{"log-format", "text", "text or json", oneOf("text", "json")(func(s *Settings) *string { return &s.LogFormat })},
		{"net-exclude", "", "regexp of interfaces left out of network totals besides lo (empty: veth, docker, bridges...; '-': none)", str(func(s *Settings) *string { return &s.NetExclude })},
		{"allowed-origins", "", "comma-separated Origins allowed to open WebSockets besides the API's own host ('*': any)", list(func(s *Settings) *[]string { return &s.AllowedOrigins })},
		{"godoxy-names", "false", "GoDoxy's web UI: key the hub's own host \"GoDoxy\" in all_system_info, as GoDoxy keys its main server", boolean(func(s *Settings) *bool { return &s.GoDoxyNames })},
		{"allowed-hosts", "", "comma-separated Host names the API answers besides loopback ones (on a loopback --http-addr only loopback names are answered otherwise: a guard against DNS rebinding)", list(func(s *Settings) *[]string { return &s.AllowedHosts })},
		{"api-token", "", "require Authorization: Bearer <token> (or ?token= on WebSockets) on every route but /healthz", str(func(s *Settings) *string { return &s.APIToken })},
		{"include-network-fs", "false", "report NFS, CIFS and other network mounts", boolean(func(s *Settings) *bool { return &s.IncludeNetworkFS })},
		{"max-hosts", "10000", "the most hosts the hub keeps besides its own; samples of further hosts are dropped and counted", count(1, func(s *Settings) *int { return &s.MaxHosts })},
		{"host-retention", "720h", "a host silent this long is forgotten, in memory and on disk", dur(time.Minute, func(s *Settings) *time.Duration { return &s.HostRetention })},
		{"pprof-addr", "", "serve Go's profiles (/debug/pprof/) on this address (empty: off; no token, so keep it on loopback)", str(func(s *Settings) *string { return &s.PprofAddr })},
		{"nats-insecure", "false", "serve --nats-addr without authentication when no agent or reader is declared (anyone who reaches it can publish as any host)", boolean(func(s *Settings) *bool { return &s.NATSInsecure })},
		{"nats-tls-cert", "", "PEM certificate: --nats-addr accepts TLS connections only", str(func(s *Settings) *string { return &s.NATSTLS.Cert })},
		{"nats-tls-key", "", "PEM key of --nats-tls-cert", str(func(s *Settings) *string { return &s.NATSTLS.Key })},
		{"nats-tls-ca", "", "PEM CA: clients of --nats-addr must present a certificate it signed", str(func(s *Settings) *string { return &s.NATSTLS.CA })},
		{"nats-cluster-addr", "", "join a NATS cluster: accept the other nodes' routes on this address (needs --nats-addr)", str(func(s *Settings) *string { return &s.NATSClusterAddr })},
		{"nats-routes", "", "comma-separated route addresses (host:port) of the cluster's other nodes", list(func(s *Settings) *[]string { return &s.NATSRoutes })},
		{"nats-leaf-addr", "", "accept remote sites' NATS leaf nodes on this address (declared under sites:; TLS as --nats-addr's)", str(func(s *Settings) *string { return &s.NATSLeafAddr })},
		{"nats-cluster-name", "ringwatch", "the cluster's name, the same on every node", str(func(s *Settings) *string { return &s.NATSClusterName })},
		{"nats-cluster-secret-file", "", "file holding the secret the cluster's routes authenticate with, the same on every node", str(func(s *Settings) *string { return &s.NATSClusterSecretFile })},
		{"replay-window", "auto", "how long the replay stream (JetStream) keeps raw samples for a hub that was down to catch up ('auto': 15m in a cluster, off on a single hub; 0: off)", func(s *Settings, v string) error {
			if v == "auto" {
				s.ReplayWindow = -1 // resolved once the cluster flags are known
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || (d > 0 && d < time.Minute) {
				return fmt.Errorf("not auto, 0 or a duration of at least 1m: %q", v)
			}
			s.ReplayWindow = d
			return nil
		}},
		{"replay-max-bytes", "1GiB", "the most the replay stream keeps on disk, oldest samples dropped first", size(1<<20, min(1<<40, math.MaxInt), func(s *Settings) *int { return &s.ReplayMaxBytes })},
		{"nkey-seed", "", "agent: file holding the agent's nkey seed (from ringwatch agent-key)", str(func(s *Settings) *string { return &s.Creds.NkeySeed })},
		{"user", "", "agent: user name on the hub's bus (with --password-file)", str(func(s *Settings) *string { return &s.Creds.User })},
		{"password-file", "", "agent: file holding --user's password", str(func(s *Settings) *string { return &s.Creds.PasswordFile })},
		{"creds", "", "agent: NATS credentials file (JWT and seed, from nsc)", str(func(s *Settings) *string { return &s.Creds.CredsFile })},
		{"tls-ca", "", "agent: PEM CA that signed the hub's certificate (tls:// URLs)", str(func(s *Settings) *string { return &s.Creds.TLSCA })},
		{"tls-cert", "", "agent: PEM client certificate, for a hub that requires one", str(func(s *Settings) *string { return &s.Creds.TLSCert })},
		{"tls-key", "", "agent: PEM key of --tls-cert", str(func(s *Settings) *string { return &s.Creds.TLSKey })},
		{"acks", "auto", "agent: have the hubs' replay stream acknowledge each sample, and send again what it does not (auto: when --bus lists more than one hub, a cluster)", func(s *Settings, v string) error {
			if v == "auto" {
				s.Acks = strings.Contains(s.Bus, ",") // --bus is set before: options run in order
				return nil
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("not auto, true or false: %q", v)
			}
			s.Acks = b
			return nil
		}},
		{"buffer", "10m", "agent: how much of its samples it keeps while the hub is unreachable (older ones are dropped and counted)", dur(0, func(s *Settings) *time.Duration { return &s.Buffer })},
		{"max-sample-bytes", "256KiB", "larger raw samples are dropped and counted (bytes, or with KiB/MiB)", size(1024, 64<<20, func(s *Settings) *int { return &s.MaxSampleBytes })},
		{"load-hold", "512MiB", "samples of hosts whose saved state is still loading wait for it, up to this much in all; past it they are dropped and counted (state_loading)", size(1<<20, min(64<<30, math.MaxInt), func(s *Settings) *int { return &s.LoadHoldBytes })},
	}
}

func envName(flag string) string {
	return "RINGWATCH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// reservedConfigKeys are config-file keys that are not flags.
var reservedConfigKeys = map[string]bool{"routes": true, "agents": true, "readers": true, "sites": true}

// parseSettings resolves the settings of a subcommand from its arguments, the
// environment and the config file.
func parseSettings(cmd string, args []string, getenv func(string) string, stderr io.Writer) (Settings, error) {
	opts := options()
	fs := flag.NewFlagSet("ringwatch "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	for _, o := range opts {
		v := new(string)
		vals[o.name] = v
		*v = o.def
		if o.def == "false" { // a switch: --flag alone means true
			fs.Var(boolFlag{v}, o.name, o.usage+" (env "+envName(o.name)+")")
		} else {
			fs.StringVar(v, o.name, o.def, o.usage+" (env "+envName(o.name)+")")
		}
	}
	if err := fs.Parse(args); err != nil {
		return Settings{}, err
	}
	if fs.NArg() > 0 {
		return Settings{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	final := map[string]string{}
	source := map[string]string{}
	for _, o := range opts {
		final[o.name], source[o.name] = o.def, "default"
	}
	configPath := *vals["config"]
	if !explicit["config"] && getenv(envName("config")) != "" {
		configPath = getenv(envName("config"))
	}
	var configData []byte // read and checked once: its values, routes and identities
	if configPath != "" {
		var err error
		if configData, err = readConfigFile(configPath); err != nil {
			return Settings{}, err
		}
		fromFile, err := configValues(configPath, configData, opts)
		if err != nil {
			return Settings{}, err
		}
		for k, v := range fromFile {
			final[k], source[k] = v, "config file "+configPath
		}
	}
	for _, o := range opts {
		if v, ok := lookupEnv(getenv, envName(o.name)); ok {
			final[o.name], source[o.name] = v, "environment "+envName(o.name)
		}
		if explicit[o.name] {
			final[o.name], source[o.name] = *vals[o.name], "flag --"+o.name
		}
	}
	final["config"] = configPath
	var s Settings
	for _, o := range opts {
		if err := o.set(&s, final[o.name]); err != nil {
			return Settings{}, fmt.Errorf("%s (from %s): %w", o.name, source[o.name], err)
		}
	}
	s.HostName = strings.TrimSpace(s.Host)
	s.Host = bus.Token(s.Host)
	if s.ReplayWindow < 0 {
		s.ReplayWindow = 0
		if s.NATSClusterAddr != "" {
			s.ReplayWindow = 15 * time.Minute
		}
	}
	if configPath != "" {
		var err error
		if s.Routes, err = routesFrom(configPath, configData); err != nil {
			return Settings{}, err
		}
		if s.Identities, err = identitiesFrom(configPath, configData); err != nil {
			return Settings{}, err
		}
	}
	return s, nil
}

// identityEntry is one entry of the config file's agents: or readers:.
type identityEntry struct {
	Host         string   `yaml:"host"`
	Name         string   `yaml:"name"`
	Hosts        []string `yaml:"hosts"`
	Nkey         string   `yaml:"nkey"`
	User         string   `yaml:"user"`
	PasswordHash string   `yaml:"password_hash"`
}

// readIdentities reads the agents: and readers: of a config file: who may
// speak on --nats-addr. An entry with an unknown key, or one that does not
// hold together, is an error that names it.
func readIdentities(path string) ([]bus.Identity, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return identitiesFrom(path, data)
}

// identitiesFrom parses the agents:, readers: and sites: of a config file's
// data (read from path).
func identitiesFrom(path string, data []byte) ([]bus.Identity, error) {
	var doc struct {
		Agents  []identityEntry `yaml:"agents"`
		Readers []identityEntry `yaml:"readers"`
		Sites   []identityEntry `yaml:"sites"`
		Rest    map[string]any  `yaml:",inline"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: agents/readers: %w", path, err)
	}
	var ids []bus.Identity
	for i, a := range doc.Agents {
		if a.Name != "" {
			return nil, fmt.Errorf("config %s: agents[%d]: an agent has a host, not a name", path, i)
		}
		ids = append(ids, bus.Identity{Host: a.Host, Nkey: a.Nkey, User: a.User, PasswordHash: a.PasswordHash, Hosts: a.Hosts})
	}
	for i, r := range doc.Readers {
		if r.Host != "" {
			return nil, fmt.Errorf("config %s: readers[%d]: a reader has a name, not a host", path, i)
		}
		if r.Name == "" {
			return nil, fmt.Errorf("config %s: readers[%d]: a reader needs a name", path, i)
		}
		ids = append(ids, bus.Identity{Reader: r.Name, Nkey: r.Nkey, User: r.User, PasswordHash: r.PasswordHash, Hosts: r.Hosts})
	}
	for i, st := range doc.Sites {
		if st.Host != "" || st.Name == "" {
			return nil, fmt.Errorf("config %s: sites[%d]: a site has a name and a list of hosts", path, i)
		}
		ids = append(ids, bus.Identity{Site: st.Name, Hosts: st.Hosts, Nkey: st.Nkey, User: st.User, PasswordHash: st.PasswordHash})
	}
	if err := bus.ValidateIdentities(ids); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return ids, nil
}

// readRoutes reads and validates the routes: of a config file. An invalid
// route is an error that names the route and the field.
func readRoutes(path string) ([]uptime.Route, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return routesFrom(path, data)
}

// routesFrom parses and validates the routes: of a config file's data.
func routesFrom(path string, data []byte) ([]uptime.Route, error) {
	var doc struct {
		Routes []uptime.Route `yaml:"routes"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: routes: %w", path, err)
	}
	routes, err := uptime.Validate(doc.Routes)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return routes, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// configValues are the flag keys of a config file's data.
func configValues(path string, data []byte, opts []option) (map[string]string, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, o := range opts {
		known[o.name] = true
	}
	out := map[string]string{}
	for k, v := range raw {
		if reservedConfigKeys[k] {
			continue
		}
		if !known[k] || k == "config" {
			return nil, fmt.Errorf("config %s: unknown key %q", path, k)
		}
		switch v := v.(type) {
		case string, bool, int, float64:
			out[k] = fmt.Sprint(v)
		case nil:
		default:
			return nil, fmt.Errorf("config %s: %s: want a single value", path, k)
		}
	}
	return out, nil
}

// boolFlag is a switch's flag: --name alone sets "true", --name=false
// "false"; the value is checked with the rest.
type boolFlag struct{ v *string }

func (b boolFlag) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}
func (b boolFlag) Set(s string) error { *b.v = s; return nil }
func (b boolFlag) IsBoolFlag() bool   { return true }

// readConfigFile reads a config file and checks its keys (strictConfig).
func readConfigFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := strictConfig(path, data); err != nil {
		return nil, err
	}
	return data, nil
}
