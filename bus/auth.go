package bus

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// Identity is a client the server admits over TCP: an agent, which may
// publish its own host's raw samples only, or a reader, which may subscribe
// to raw and aggregated samples and publish nothing. It proves itself with
// an nkey (the server keeps only the public key) or a user name and
// password (the server keeps only its bcrypt hash).
type Identity struct {
	// Host is an agent's host name (its subject token); empty for a reader.
	Host string
	// Reader names a reader; empty for an agent.
	Reader string
	// Site names a remote site's leaf node (a NATS server its agents
	// connect to), which may publish for Hosts only, over the leaf-node
	// port.
	Site  string
	Hosts []string
	// Nkey is the public user nkey (U...), or empty.
	Nkey string
	// User and PasswordHash (bcrypt) are the other way to prove it.
	User, PasswordHash string
}

// Name is how logs name the identity: "agent web-01" or "reader grafana".
func (id Identity) Name() string {
	switch {
	case id.Reader != "":
		return "reader " + id.Reader
	case id.Site != "":
		return "site " + id.Site
	}
	return "agent " + id.Host
}

// permissions are what the identity may do on the bus.
func (id Identity) permissions() *server.Permissions {
	none := &server.SubjectPermission{Deny: []string{">"}}
	if id.Site != "" { // a leaf node's, from its side: what it may send in and take out
		p := &server.Permissions{Publish: &server.SubjectPermission{}, Subscribe: &server.SubjectPermission{}}
		for _, h := range id.Hosts {
			p.Publish.Allow = append(p.Publish.Allow, RawPrefix+Token(h)+".>")
			p.Subscribe.Allow = append(p.Subscribe.Allow, AgentInbox(h)+".>")
		}
		return p
	}
	if id.Reader != "" {
		return &server.Permissions{
			Publish:   none,
			Subscribe: &server.SubjectPermission{Allow: []string{RawPrefix + ">", AggPrefix + ">"}},
		}
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{RawPrefix + Token(id.Host) + ".>"}},
		// Its own inbox only: where the replay stream acknowledges what it
		// stored (an acknowledged agent, see OutboxOptions.Acked).
		Subscribe: &server.SubjectPermission{Allow: []string{AgentInbox(id.Host) + ".>"}},
	}
}

// AgentInbox is the inbox prefix of host's agent: the only subjects it may
// subscribe to.
func AgentInbox(host string) string { return "_INBOX_" + Token(host) }

// ValidateIdentities checks a set of identities: each names an agent or a
// reader, proves itself one way, with a well-formed public nkey or bcrypt
// hash; no host, reader, nkey or user appears twice.
func ValidateIdentities(ids []Identity) error {
	seen := map[string]string{}
	once := func(what, v string, id Identity) error {
		if prev, ok := seen[what+"\x00"+v]; ok {
			return fmt.Errorf("%s: %s %q is already %s's", id.Name(), what, v, prev)
		}
		seen[what+"\x00"+v] = id.Name()
		return nil
	}
	for _, id := range ids {
		kinds := 0
		for _, set := range []bool{id.Host != "", id.Reader != "", id.Site != ""} {
			if set {
				kinds++
			}
		}
		switch {
		case kinds == 0:
			return errors.New("an agent needs a host (a reader or a site a name)")
		case kinds > 1:
			return fmt.Errorf("%q, %q, %q: an entry is an agent (host), a reader or a site (name), not several", id.Host, id.Reader, id.Site)
		case id.Site != "" && len(id.Hosts) == 0:
			return fmt.Errorf("%s: a site lists the hosts it publishes for (hosts:)", id.Name())
		case id.Site == "" && len(id.Hosts) > 0:
			return fmt.Errorf("%s: only a site lists hosts", id.Name())
		}
		switch {
		case id.Nkey != "" && (id.User != "" || id.PasswordHash != ""):
			return fmt.Errorf("%s: an nkey or a user and password hash, not both", id.Name())
		case id.Nkey != "":
			if !nkeys.IsValidPublicUserKey(id.Nkey) {
				return fmt.Errorf("%s: nkey %q is not a public user nkey (U..., 56 characters); `ringwatch agent-key` makes one", id.Name(), id.Nkey)
			}
			if err := once("nkey", id.Nkey, id); err != nil {
				return err
			}
		case id.User != "":
			if _, err := bcrypt.Cost([]byte(id.PasswordHash)); err != nil {
				return fmt.Errorf("%s: password_hash is not a bcrypt hash ($2a$...); `ringwatch hash-password` makes one", id.Name())
			}
			if err := once("user", id.User, id); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: no credential: give an nkey, or a user and password_hash", id.Name())
		}
		var err error
		switch {
		case id.Host != "":
			err = once("host", Token(id.Host), id)
		case id.Site != "":
			err = once("site", id.Site, id)
			for _, h := range id.Hosts {
				if err == nil {
					err = once("host", Token(h), id)
				}
			}
		default:
			err = once("reader", id.Reader, id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// applyAuth fills the server's users from ids, and the internal identity
// of the hub's own in-process connections (internal, a public nkey): every
// right, and only in-process, so that nobody can use it over TCP.
func applyAuth(o *server.Options, ids []Identity, internal string) {
	o.Nkeys = []*server.NkeyUser{{Nkey: internal, AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeInProcess: {}}}}
	o.Users = nil
	for _, id := range ids {
		conn := map[string]struct{}{jwt.ConnectionTypeStandard: {}}
		if id.Site != "" {
			conn = map[string]struct{}{jwt.ConnectionTypeLeafnode: {}}
		}
		if id.Nkey != "" {
			o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: id.Nkey, Permissions: id.permissions(), AllowedConnectionTypes: conn})
		} else {
			o.Users = append(o.Users, &server.User{Username: id.User, Password: id.PasswordHash, Permissions: id.permissions(), AllowedConnectionTypes: conn})
		}
	}
}

// NewUserKey makes a user nkey: its seed (secret, for the client) and its
// public key (for the server's configuration).
func NewUserKey() (seed, public string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", "", err
	}
	s, err := kp.Seed()
	if err != nil {
		return "", "", err
	}
	p, err := kp.PublicKey()
	return string(s), p, err
}

// HashPassword makes the bcrypt hash a user identity's password_hash holds.
func HashPassword(password string) (string, error) {
	if strings.TrimSpace(password) == "" {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}
