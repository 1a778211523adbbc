package bus

import (
	"github.com/nats-io/nats.go"
)

// Header names and values every ringwatch message carries.
const (
	SchemaHeader  = "Ringwatch-Schema"
	SchemaVersion = "1"
)

// Conn is one client connection to the bus.
type Conn struct {
	NC *nats.Conn
}

// Publish sends data on subject with the schema header.
func (c *Conn) Publish(subject string, data []byte) error {
	return c.NC.PublishMsg(&nats.Msg{
		Subject: subject,
		Data:    data,
		Header:  nats.Header{SchemaHeader: []string{SchemaVersion}},
	})
}

// Flush waits until the server has received everything published so far.
func (c *Conn) Flush() error { return c.NC.Flush() }

// Close drains nothing and closes the connection.
func (c *Conn) Close() { c.NC.Close() }

// SchemaOK reports whether msg is of a schema this build understands. A message
// without the header is taken to be schema 1, so hand-published test messages work.
func SchemaOK(msg *nats.Msg) bool {
	if msg.Header == nil {
		return true
	}
	v := msg.Header.Get(SchemaHeader)
	return v == "" || v == SchemaVersion
}
