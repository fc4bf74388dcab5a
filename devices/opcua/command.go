package opcua

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/gopcua/opcua/ua"

	"github.com/linestation/linestation/station"
)

// Command sends a PackML command: a method call or a write of the command
// tags, as configured.
func (l *Line) Command(ctx context.Context, cmd station.LineCommand) error {
	if !cmd.Valid() {
		return station.Errorf(station.EINVALID, "%s is not a PackML command", cmd)
	}
	s, err := l.current(cmd.String())
	if err != nil {
		return err
	}
	ctx, cancel := l.requestCtx(ctx)
	defer cancel()
	what := fmt.Sprintf("the %s command", cmd)

	if l.cfg.Commands == CommandsTag {
		writes := []*ua.WriteValue{writeValue(s.commandTag, ua.MustVariant(int32(cmd)))}
		if s.commandChangeTag != nil {
			writes = append(writes, writeValue(s.commandChangeTag, ua.MustVariant(true)))
		}
		return l.write(ctx, s, what, writes)
	}
	method := s.methods[cmd]
	if method == nil {
		e := station.Errorf(station.EDEVICE, "PLC %s has no %s method as configured: check its node ids", l.cfg.Name, cmd)
		if err := s.methodErrs[cmd]; err != nil {
			return fmt.Errorf("%w: %w", e, err)
		}
		return e
	}
	return l.call(ctx, s, what, method)
}

// Reject orders the reject gate to remove unit.
func (l *Line) Reject(ctx context.Context, unit string) error {
	if unit == "" {
		return station.Errorf(station.EINVALID, "reject: no unit id given")
	}
	arg, err := l.rejectArg(unit)
	if err != nil {
		return err
	}
	s, err := l.current("reject unit " + unit)
	if err != nil {
		return err
	}
	ctx, cancel := l.requestCtx(ctx)
	defer cancel()
	what := "the reject of unit " + unit
	if l.cfg.Commands == CommandsTag {
		return l.write(ctx, s, what, []*ua.WriteValue{writeValue(s.rejectTag, arg)})
	}
	return l.call(ctx, s, what, s.rejectMethod, arg)
}

// rejectArg converts the unit id to the configured reject type.
func (l *Line) rejectArg(unit string) (*ua.Variant, error) {
	switch l.cfg.RejectType {
	case "Int32":
		n, err := strconv.ParseInt(unit, 10, 32)
		if err != nil {
			return nil, station.Errorf(station.EINVALID, "reject: unit id %q is not a tracking slot number (Int32)", unit)
		}
		return ua.MustVariant(int32(n)), nil
	case "UInt32":
		n, err := strconv.ParseUint(unit, 10, 32)
		if err != nil {
			return nil, station.Errorf(station.EINVALID, "reject: unit id %q is not a tracking slot number (UInt32)", unit)
		}
		return ua.MustVariant(uint32(n)), nil
	}
	return ua.MustVariant(unit), nil
}

func (l *Line) call(ctx context.Context, s *session, what string, method *ua.NodeID, args ...*ua.Variant) error {
	res, err := s.c.Call(ctx, &ua.CallMethodRequest{ObjectID: s.object, MethodID: method, InputArguments: args})
	if err != nil {
		return l.transportError(what, err)
	}
	return l.statusError(what, res.StatusCode)
}

func (l *Line) write(ctx context.Context, s *session, what string, writes []*ua.WriteValue) error {
	res, err := s.c.Write(ctx, &ua.WriteRequest{NodesToWrite: writes})
	if err != nil {
		return l.transportError(what, err)
	}
	if len(res.Results) != len(writes) {
		return l.statusError(what, ua.StatusBadUnknownResponse)
	}
	for _, code := range res.Results {
		if code != ua.StatusOK {
			return l.statusError(what, code)
		}
	}
	return nil
}

func writeValue(nid *ua.NodeID, v *ua.Variant) *ua.WriteValue {
	return &ua.WriteValue{
		NodeID:      nid,
		AttributeID: ua.AttributeIDValue,
		Value:       &ua.DataValue{EncodingMask: ua.DataValueValue, Value: v},
	}
}

// transportError is a request that got no answer: the PLC is unreachable.
func (l *Line) transportError(what string, err error) error {
	var code ua.StatusCode
	if errors.As(err, &code) {
		return l.statusError(what, code)
	}
	return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "PLC %s did not answer %s", l.cfg.Name, what), err)
}

// statusError maps the PLC's OPC UA status to a station error.
func (l *Line) statusError(what string, code ua.StatusCode) error {
	var e *station.Error
	switch code {
	case ua.StatusOK, ua.StatusGood:
		return nil
	case ua.StatusBadInvalidState, ua.StatusBadStateNotActive, ua.StatusBadRequestNotAllowed:
		e = station.Errorf(station.ECONFLICT, "PLC %s refuses %s in state %s", l.cfg.Name, what, l.Status().State)
	case ua.StatusBadTypeMismatch, ua.StatusBadInvalidArgument, ua.StatusBadArgumentsMissing,
		ua.StatusBadTooManyArguments, ua.StatusBadOutOfRange:
		e = station.Errorf(station.EINVALID, "PLC %s refuses the argument of %s", l.cfg.Name, what)
	case ua.StatusBadNodeIDUnknown, ua.StatusBadMethodInvalid, ua.StatusBadNotWritable, ua.StatusBadNotExecutable,
		ua.StatusBadServiceUnsupported, ua.StatusBadUserAccessDenied:
		e = station.Errorf(station.EDEVICE, "PLC %s does not take %s as configured: check its node ids", l.cfg.Name, what)
	default:
		e = station.Errorf(station.EDEVICE, "PLC %s failed %s", l.cfg.Name, what)
	}
	return fmt.Errorf("%w: %w", e, code)
}
