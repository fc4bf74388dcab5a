package opcua

import (
	"strings"
	"time"

	"github.com/linestation/linestation/station"
)

// Namespace is the PackML companion specification's namespace URI, the
// namespace of the default node ids.
const Namespace = "http://opcfoundation.org/UA/PackML/"

// DefaultUnit is the PackML unit's name in the default node ids.
const DefaultUnit = "Line1"

// NotExposed, as a node id in Nodes, says the PLC has no such node; only the
// optional ones may be NotExposed (see Nodes).
const NotExposed = "-"

// Command modes (Config.Commands).
const (
	CommandsMethod = "method" // call OPC UA methods (OPC 30050 Start, Stop, ...)
	CommandsTag    = "tag"    // write PackTags command tags (Command.CntrlCmd, Command.CmdChangeRequest)
)

// Config configures the PLC driver. Zero fields take the defaults noted.
type Config struct {
	Name     string   // device name in Health and logs; default "plc"
	Endpoint string   // "opc.tcp://host:port"; required
	Security Security // default: no security (policy None)

	// Unit names the PackML unit in the default node ids; default DefaultUnit.
	Unit string
	// Nodes maps each datum and command to the PLC's node ids. Empty fields
	// take the defaults of DefaultNodes(Unit), so a PLC with its own ids sets
	// only the ones that differ.
	Nodes Nodes
	// Commands is CommandsMethod (default) or CommandsTag.
	Commands string
	// RejectType is the OPC UA type the reject order carries the unit id in:
	// "String" (default, e.g. a serial), "Int32" or "UInt32" (a tracking slot).
	RejectType string

	PublishInterval time.Duration // subscription publishing interval; default 100ms
	PollInterval    time.Duration // read period when the server has no subscriptions; default 500ms
	KeepAlive       time.Duration // period of the liveness read of the server state; default 2s
	RequestTimeout  time.Duration // limit of one request (and of connecting) when ctx has none; default 5s
	ReconnectMin    time.Duration // first wait before reconnecting; doubles up to ReconnectMax; default 250ms
	ReconnectMax    time.Duration // longest wait between reconnection attempts; default 10s
}

// Security selects the OPC UA channel security. Only None is tested against
// real servers so far (gopcua's server implements no other); Basic256Sha256
// with Sign or SignAndEncrypt is passed to the gopcua client as configured.
type Security struct {
	Policy         string // "None" (default) or "Basic256Sha256"
	Mode           string // "None" (default with policy None), "Sign" or "SignAndEncrypt"
	CertFile       string // client certificate (PEM or DER), required unless policy None
	KeyFile        string // client private key (PEM), required unless policy None
	ServerCertFile string // the PLC's certificate to trust, optional
}

// Nodes holds the node ids the driver uses, in OPC UA text form
// ("ns=3;s=Line1.Status.StateCurrent", "ns=2;i=1042", or with the namespace
// URI: "nsu=http://opcfoundation.org/UA/PackML/;s=..."), resolved against the
// server's namespace array at every connection.
type Nodes struct {
	State             string // PackML state: an integer state number, or a state name (String, LocalizedText)
	Mode              string // unit mode, integer; optional
	Processed         string // ProdProcessedCount, integer
	Defective         string // ProdDefectiveCount, integer; optional
	StopReasonID      string // StopReason ID, integer; optional
	StopReasonMessage string // StopReason Message, String or LocalizedText; optional

	// Command methods (Commands = CommandsMethod): Object owns the methods.
	Object       string
	Methods      map[station.LineCommand]string // method per command; commands left out take the default
	RejectMethod string                         // method with one input argument: the unit

	// Command tags (Commands = CommandsTag).
	CommandTag       string // PackTags Command.CntrlCmd, Int32: the command number
	CommandChangeTag string // Command.CmdChangeRequest, Boolean, written true after CommandTag; optional
	RejectTag        string // written with the unit to reject
}

// DefaultNodes returns the node ids of a PackML unit as the project's
// simulator (devices/sim/packml) and the test server expose it: string ids in
// the PackML namespace made of the unit's name and PackML browse names.
func DefaultNodes(unit string) Nodes {
	p := "nsu=" + Namespace + ";s=" + unit + "."
	methods := map[station.LineCommand]string{}
	for _, c := range station.LineCommands() {
		methods[c] = p + c.String()
	}
	return Nodes{
		State:             p + "Status.StateCurrent",
		Mode:              p + "Status.UnitModeCurrent",
		Processed:         p + "Admin.ProdProcessedCount",
		Defective:         p + "Admin.ProdDefectiveCount",
		StopReasonID:      p + "Admin.StopReason.ID",
		StopReasonMessage: p + "Admin.StopReason.Message",
		Object:            "nsu=" + Namespace + ";s=" + unit,
		Methods:           methods,
		RejectMethod:      p + "RejectUnit",
		CommandTag:        p + "Command.CntrlCmd",
		CommandChangeTag:  p + "Command.CmdChangeRequest",
		RejectTag:         p + "Command.RejectUnit",
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	str(&c.Name, "plc")
	str(&c.Unit, DefaultUnit)
	str(&c.Commands, CommandsMethod)
	str(&c.RejectType, "String")
	str(&c.Security.Policy, "None")
	if c.Security.Policy == "None" {
		str(&c.Security.Mode, "None")
	}
	def(&c.PublishInterval, 100*time.Millisecond)
	def(&c.PollInterval, 500*time.Millisecond)
	def(&c.KeepAlive, 2*time.Second)
	def(&c.RequestTimeout, 5*time.Second)
	def(&c.ReconnectMin, 250*time.Millisecond)
	def(&c.ReconnectMax, 10*time.Second)

	d, n := DefaultNodes(c.Unit), c.Nodes
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&n.State, d.State}, {&n.Mode, d.Mode}, {&n.Processed, d.Processed}, {&n.Defective, d.Defective},
		{&n.StopReasonID, d.StopReasonID}, {&n.StopReasonMessage, d.StopReasonMessage},
		{&n.Object, d.Object}, {&n.RejectMethod, d.RejectMethod},
		{&n.CommandTag, d.CommandTag}, {&n.CommandChangeTag, d.CommandChangeTag}, {&n.RejectTag, d.RejectTag},
	} {
		str(f.dst, f.v)
	}
	methods := map[station.LineCommand]string{}
	for cmd, id := range d.Methods {
		methods[cmd] = id
	}
	for cmd, id := range n.Methods {
		if id != "" {
			methods[cmd] = id
		}
	}
	n.Methods = methods
	c.Nodes = n
	return c
}

// Validate reports the first configuration error, naming the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	if !strings.HasPrefix(c.Endpoint, "opc.tcp://") {
		return station.Errorf(station.EINVALID, "PLC %s: endpoint %q must be an opc.tcp:// URL", c.Name, c.Endpoint)
	}
	switch c.Security.Policy {
	case "None":
		if c.Security.Mode != "None" {
			return station.Errorf(station.EINVALID, "PLC %s: security mode %q needs a security policy other than None", c.Name, c.Security.Mode)
		}
	case "Basic256Sha256":
		if c.Security.Mode != "Sign" && c.Security.Mode != "SignAndEncrypt" {
			return station.Errorf(station.EINVALID, "PLC %s: security policy Basic256Sha256 needs mode Sign or SignAndEncrypt, not %q", c.Name, c.Security.Mode)
		}
		if c.Security.CertFile == "" || c.Security.KeyFile == "" {
			return station.Errorf(station.EINVALID, "PLC %s: security policy Basic256Sha256 needs a client certificate and key file", c.Name)
		}
	default:
		return station.Errorf(station.EINVALID, "PLC %s: security policy %q is not supported (None or Basic256Sha256)", c.Name, c.Security.Policy)
	}
	switch c.Commands {
	case CommandsMethod, CommandsTag:
	default:
		return station.Errorf(station.EINVALID, "PLC %s: commands %q must be %q or %q", c.Name, c.Commands, CommandsMethod, CommandsTag)
	}
	switch c.RejectType {
	case "String", "Int32", "UInt32":
	default:
		return station.Errorf(station.EINVALID, "PLC %s: reject type %q must be String, Int32 or UInt32", c.Name, c.RejectType)
	}
	for _, f := range []struct {
		name, id string
	}{
		{"state", c.Nodes.State}, {"processed", c.Nodes.Processed},
		{"object", c.Nodes.Object}, {"reject method", c.Nodes.RejectMethod},
		{"command tag", c.Nodes.CommandTag}, {"reject tag", c.Nodes.RejectTag},
	} {
		if f.id == NotExposed {
			return station.Errorf(station.EINVALID, "PLC %s: the %s node is required", c.Name, f.name)
		}
	}
	for cmd := range c.Nodes.Methods {
		if !cmd.Valid() {
			return station.Errorf(station.EINVALID, "PLC %s: methods: %s is not a PackML command", c.Name, cmd)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		return station.Errorf(station.EINVALID, "PLC %s: reconnect max %s is below reconnect min %s", c.Name, c.ReconnectMax, c.ReconnectMin)
	}
	return nil
}
