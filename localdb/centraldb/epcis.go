package centraldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/dscsa"
)

// The EPCIS event repository of the DSCSA exchange: events with the
// columns the query engine filters on, every EPC they name with its role,
// which EPCs each partner may see, capture jobs and receipts.

// insertEvents stores events (deduplicated on their hash) and makes every
// EPC they name visible to a partner ("" for none). It returns how many
// were new.
func insertEvents(ctx context.Context, c conn, evs []dscsa.StoredEvent, visibleTo string) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	var epcRows, visRows, linkRows [][]any
	stored := 0
	for i := range evs {
		se := &evs[i]
		data, err := dscsa.EncodeEvent(se.Event)
		if err != nil {
			return stored, err
		}
		col := se.Columns()
		var id int64
		err = c.QueryRowContext(ctx, `INSERT INTO epcis_events (hash, event_id, type, event_time, record_time, action, biz_step, disposition,
			read_point, biz_location, source, origin, partner, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO NOTHING RETURNING id`,
			se.Hash, col.EventID, col.Type, col.EventTime, col.RecordTime, col.Action, col.BizStep, col.Disposition, col.ReadPoint, col.BizLocation,
			se.Source, se.Origin, se.Partner, string(data)).Scan(&id)
		switch {
		case err == nil:
			stored++
			se.ID = id
			for _, r := range dscsa.EPCs(se.Event) {
				epcRows = append(epcRows, []any{r.EPC, id, r.Role})
			}
			for _, bt := range se.Event.BizTransactionList {
				linkRows = append(linkRows, []any{id, "bt", string(bt.Type), bt.Value})
			}
			for _, sd := range se.Event.SourceList {
				linkRows = append(linkRows, []any{id, "source", string(sd.Type), sd.Value})
			}
			for _, sd := range se.Event.DestinationList {
				linkRows = append(linkRows, []any{id, "dest", string(sd.Type), sd.Value})
			}
		case errors.Is(err, sql.ErrNoRows):
			// A duplicate: the repository holds it already.
			if err := c.QueryRowContext(ctx, `SELECT id FROM epcis_events WHERE hash = ?`, se.Hash).Scan(&se.ID); err != nil {
				return stored, formatError(fmt.Errorf("read event %s: %w", se.Hash, err))
			}
		default:
			return stored, formatError(fmt.Errorf("store event %d (%s): %w", i, se.Hash, err))
		}
		if visibleTo != "" {
			for _, r := range dscsa.EPCs(se.Event) {
				visRows = append(visRows, []any{visibleTo, r.EPC})
			}
		}
	}
	if err := insertRows(ctx, c, `INSERT INTO epcis_event_epcs (epc, event, role) VALUES `, epcRows, ` ON CONFLICT DO NOTHING`); err != nil {
		return stored, fmt.Errorf("index event EPCs: %w", err)
	}
	if err := insertRows(ctx, c, `INSERT INTO epcis_event_links (event, kind, type, value) VALUES `, linkRows, ` ON CONFLICT DO NOTHING`); err != nil {
		return stored, fmt.Errorf("index event business transactions, sources and destinations: %w", err)
	}
	if err := insertRows(ctx, c, `INSERT INTO dscsa_partner_epcs (partner, epc) VALUES `, visRows, ` ON CONFLICT DO NOTHING`); err != nil {
		return stored, fmt.Errorf("record what partner %s may see: %w", visibleTo, err)
	}
	return stored, nil
}

// RecordEvents stores events and makes their EPCs visible to a partner.
func (db *DB) RecordEvents(ctx context.Context, evs []dscsa.StoredEvent, visibleTo string) (int, error) {
	var n int
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		var err error
		n, err = insertEvents(ctx, c, evs, visibleTo)
		return err
	})
	return n, err
}

const selectStored = `SELECT e.id, e.hash, e.source, e.origin, e.partner, e.record_time, e.data FROM epcis_events e`

func scanStored(rows *sql.Rows) (dscsa.StoredEvent, error) {
	var se dscsa.StoredEvent
	var rt, data string
	if err := rows.Scan(&se.ID, &se.Hash, &se.Source, &se.Origin, &se.Partner, &rt, &data); err != nil {
		return se, formatError(fmt.Errorf("read EPCIS event: %w", err))
	}
	var err error
	if se.RecordTime, err = parseTime(rt); err != nil {
		return se, fmt.Errorf("read EPCIS event %d: %w", se.ID, err)
	}
	if se.Event, err = dscsa.DecodeEvent([]byte(data)); err != nil {
		return se, fmt.Errorf("read EPCIS event %d: %w", se.ID, err)
	}
	if se.Event.RecordTime.IsZero() {
		se.Event.RecordTime = se.RecordTime
	}
	return se, nil
}

func collectStored(rows *sql.Rows, err error, what string) ([]dscsa.StoredEvent, error) {
	if err != nil {
		return nil, formatError(fmt.Errorf("read %s: %w", what, err))
	}
	defer rows.Close()
	out := []dscsa.StoredEvent{}
	for rows.Next() {
		se, err := scanStored(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read %s: %w", what, err))
	}
	return out, nil
}

// epcMatch returns an SQL condition (on x.epc) and its arguments for EPCs
// and EPC patterns (ending in ".*", matched by prefix).
func epcMatch(values []string) (string, []any) {
	var exact []any
	var conds []string
	var args []any
	for _, v := range values {
		if strings.HasSuffix(v, "*") {
			prefix := strings.TrimSuffix(v, "*")
			prefix = strings.Replace(prefix, "urn:epc:idpat:", "urn:epc:id:", 1)
			esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
			conds = append(conds, `x.epc LIKE ? ESCAPE '\'`)
			args = append(args, esc+"%")
			continue
		}
		exact = append(exact, v)
	}
	if len(exact) > 0 {
		conds = append(conds, `x.epc IN (`+placeholders(len(exact))+`)`)
		args = append(args, exact...)
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// queryWhere is the WHERE clause of q's filters (not its position) and
// its arguments.
func queryWhere(q *dscsa.Query) (string, []any) {
	where := []string{"1"}
	var args []any
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+placeholders(len(vals))+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("e.type", q.EventTypes)
	in("e.action", q.Actions)
	in("e.biz_step", q.BizSteps)
	in("e.disposition", q.Dispositions)
	in("e.biz_location", q.BizLocations)
	in("e.read_point", q.ReadPoints)
	// No location hierarchy is held: WD_ matches as EQ_ (see dscsa.Query).
	in("e.biz_location", q.WDBizLocations)
	in("e.read_point", q.WDReadPoints)
	if len(q.EventIDs) > 0 {
		where = append(where, "(e.event_id IN ("+placeholders(len(q.EventIDs))+") OR e.hash IN ("+placeholders(len(q.EventIDs))+"))")
		for range 2 {
			for _, v := range q.EventIDs {
				args = append(args, v)
			}
		}
	}
	bound := func(col, op string, t interface{ IsZero() bool }, v string) {
		if !t.IsZero() {
			where = append(where, col+" "+op+" ?")
			args = append(args, v)
		}
	}
	bound("e.event_time", ">=", q.GETime, station.FormatTime(q.GETime))
	bound("e.event_time", "<", q.LTTime, station.FormatTime(q.LTTime))
	bound("e.record_time", ">=", q.GERecordTime, station.FormatTime(q.GERecordTime))
	bound("e.record_time", "<", q.LTRecordTime, station.FormatTime(q.LTRecordTime))
	match := func(vals []string, roles string) {
		if len(vals) == 0 {
			return
		}
		cond, margs := epcMatch(vals)
		r := ""
		if roles != "" {
			r = " AND x.role IN (" + roles + ")"
		}
		where = append(where, "EXISTS (SELECT 1 FROM epcis_event_epcs x WHERE x.event = e.id"+r+" AND "+cond+")")
		args = append(args, margs...)
	}
	match(q.MatchEPC, `'epc', 'child'`)
	match(q.MatchParentID, `'parent'`)
	match(q.MatchAnyEPC, "")
	link := func(kind string, byType map[string][]string) {
		types := make([]string, 0, len(byType))
		for t := range byType {
			types = append(types, t)
		}
		slices.Sort(types) // one statement text per query
		for _, t := range types {
			vals := byType[t]
			where = append(where, "EXISTS (SELECT 1 FROM epcis_event_links l WHERE l.event = e.id AND l.kind = ? AND l.type = ? AND l.value IN ("+placeholders(len(vals))+"))")
			args = append(args, kind, t)
			for _, v := range vals {
				args = append(args, v)
			}
		}
	}
	link("bt", q.BizTransactions)
	link("source", q.Sources)
	link("dest", q.Destinations)
	if q.Partner != "" {
		where = append(where, `(e.partner = ? OR EXISTS (SELECT 1 FROM epcis_event_epcs x JOIN dscsa_partner_epcs p ON p.epc = x.epc
			WHERE x.event = e.id AND p.partner = ?))`)
		args = append(args, q.Partner, q.Partner)
	}
	return strings.Join(where, " AND "), args
}

// QueryEvents runs a query of the EPCIS query interface: a page of up to
// q.Limit events after q's position, in its order.
func (db *DB) QueryEvents(ctx context.Context, q *dscsa.Query) ([]dscsa.StoredEvent, error) {
	where, args := queryWhere(q)
	key := map[string]string{dscsa.OrderEventTime: "e.event_time", dscsa.OrderRecordTime: "e.record_time"}[q.OrderBy]
	var order string
	switch {
	case key == "":
		where += " AND e.id > ?"
		args = append(args, q.After)
		order = "e.id"
	case q.Descending:
		if q.AfterKey != "" {
			where += " AND (" + key + ", e.id) < (?, ?)"
			args = append(args, q.AfterKey, q.After)
		}
		order = key + " DESC, e.id DESC"
	default:
		if q.AfterKey != "" {
			where += " AND (" + key + ", e.id) > (?, ?)"
			args = append(args, q.AfterKey, q.After)
		}
		order = key + ", e.id"
	}
	limit := q.Limit
	if limit <= 0 {
		limit = dscsa.DefaultPerPage
	}
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, selectStored+` WHERE `+where+` ORDER BY `+order+` LIMIT ?`, args...)
	return collectStored(rows, err, "EPCIS events")
}

// CountEvents counts the events matching q's filters, up to max.
func (db *DB) CountEvents(ctx context.Context, q *dscsa.Query, max int) (int, error) {
	where, args := queryWhere(q)
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM epcis_events e WHERE `+where+` LIMIT ?)`, append(args, max)...).Scan(&n)
	if err != nil {
		return 0, formatError(fmt.Errorf("count EPCIS events: %w", err))
	}
	return n, nil
}

// EventsAbout returns every event naming one of the EPCs, in event time order.
func (db *DB) EventsAbout(ctx context.Context, epcs []string) ([]dscsa.StoredEvent, error) {
	if len(epcs) == 0 {
		return []dscsa.StoredEvent{}, nil
	}
	args := make([]any, len(epcs))
	for i, e := range epcs {
		args[i] = e
	}
	rows, err := db.r.QueryContext(ctx, selectStored+` WHERE e.id IN (SELECT event FROM epcis_event_epcs WHERE epc IN (`+placeholders(len(epcs))+`))
		ORDER BY e.event_time, e.id`, args...)
	return collectStored(rows, err, "EPCIS events")
}

// VisibleTo returns which of the EPCs a partner may see.
func (db *DB) VisibleTo(ctx context.Context, partner string, epcs []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := queryIn(ctx, db.r, `SELECT epc FROM dscsa_partner_epcs WHERE partner = ? AND epc IN `, []any{partner}, epcs, func(rows *sql.Rows) error {
		var e string
		if err := rows.Scan(&e); err != nil {
			return err
		}
		out[e] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read what partner %s may see: %w", partner, err)
	}
	return out, nil
}

// OriginEvents streams the events of one origin in id order.
func (db *DB) OriginEvents(ctx context.Context, source, origin string, fn func(*dscsa.StoredEvent) error) error {
	rows, err := db.r.QueryContext(ctx, selectStored+` WHERE e.source = ? AND e.origin = ? ORDER BY e.id`, source, origin)
	if err != nil {
		return formatError(fmt.Errorf("read the events of %s %s: %w", source, origin, err))
	}
	defer rows.Close()
	for rows.Next() {
		se, err := scanStored(rows)
		if err != nil {
			return err
		}
		if err := fn(&se); err != nil {
			return err
		}
	}
	return formatError(rows.Err())
}

// CreateCaptureJob records a new capture job.
func (db *DB) CreateCaptureJob(ctx context.Context, j *dscsa.CaptureJob) error {
	errs, err := json.Marshal(j.Errors)
	if err != nil {
		return fmt.Errorf("encode capture job %s: %w", j.ID, err)
	}
	return db.write(ctx, func(ctx context.Context, c conn) error {
		if _, err := c.ExecContext(ctx, `INSERT INTO epcis_capture_jobs (id, partner, created_at, running, success, behaviour, format, document_id,
			sender, errors, spool) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.ID, j.Partner, j.CreatedAt, j.Running, j.Success, j.Behaviour, j.Format,
			j.DocumentID, j.Sender, string(errs), j.Spool); err != nil {
			return formatError(fmt.Errorf("record capture job %s: %w", j.ID, err))
		}
		return nil
	})
}

// UpdateCaptureJob records a job's progress.
func (db *DB) UpdateCaptureJob(ctx context.Context, j *dscsa.CaptureJob) error {
	errs, err := json.Marshal(j.Errors)
	if err != nil {
		return fmt.Errorf("encode capture job %s: %w", j.ID, err)
	}
	spool := j.Spool
	if !j.Running {
		spool = ""
	}
	return db.write(ctx, func(ctx context.Context, c conn) error {
		if _, err := c.ExecContext(ctx, `UPDATE epcis_capture_jobs SET finished_at = ?, running = ?, success = ?, events = ?, captured = ?, duplicates = ?,
			error_count = ?, errors = ?, spool = ? WHERE id = ?`, j.FinishedAt, j.Running, j.Success, j.Events, j.Captured, j.Duplicates, j.ErrorCount,
			string(errs), spool, j.ID); err != nil {
			return formatError(fmt.Errorf("record capture job %s: %w", j.ID, err))
		}
		return nil
	})
}

const selectJob = `SELECT id, partner, created_at, finished_at, running, success, behaviour, format, document_id, sender, events, captured,
	duplicates, error_count, errors, spool FROM epcis_capture_jobs`

func scanJobs(rows *sql.Rows, err error) ([]dscsa.CaptureJob, error) {
	if err != nil {
		return nil, formatError(fmt.Errorf("read capture jobs: %w", err))
	}
	defer rows.Close()
	out := []dscsa.CaptureJob{}
	for rows.Next() {
		var j dscsa.CaptureJob
		var errs string
		if err := rows.Scan(&j.ID, &j.Partner, &j.CreatedAt, &j.FinishedAt, &j.Running, &j.Success, &j.Behaviour, &j.Format, &j.DocumentID,
			&j.Sender, &j.Events, &j.Captured, &j.Duplicates, &j.ErrorCount, &errs, &j.Spool); err != nil {
			return nil, formatError(fmt.Errorf("read capture jobs: %w", err))
		}
		if err := json.Unmarshal([]byte(errs), &j.Errors); err != nil {
			return nil, fmt.Errorf("decode capture job %s: %w", j.ID, err)
		}
		out = append(out, j)
	}
	return out, formatError(rows.Err())
}

// CaptureJob returns one capture job.
func (db *DB) CaptureJob(ctx context.Context, id string) (dscsa.CaptureJob, error) {
	jobs, err := scanJobs(db.r.QueryContext(ctx, selectJob+` WHERE id = ?`, id))
	if err != nil {
		return dscsa.CaptureJob{}, err
	}
	if len(jobs) == 0 {
		return dscsa.CaptureJob{}, station.Errorf(station.ENOTFOUND, "capture job %s does not exist", id)
	}
	return jobs[0], nil
}

// CaptureJobs lists a partner's capture jobs ("" for every partner's), newest first.
func (db *DB) CaptureJobs(ctx context.Context, partner string, limit int) ([]dscsa.CaptureJob, error) {
	if partner == "" {
		return scanJobs(db.r.QueryContext(ctx, selectJob+` ORDER BY created_at DESC, id LIMIT ?`, limit))
	}
	return scanJobs(db.r.QueryContext(ctx, selectJob+` WHERE partner = ? ORDER BY created_at DESC, id LIMIT ?`, partner, limit))
}

// CaptureEvents stores the events next yields in one transaction: all, or
// none when next or a write fails.
func (db *DB) CaptureEvents(ctx context.Context, next func() (*dscsa.StoredEvent, error), visibleTo string) (int, int, error) {
	var stored, dups int
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		stored, dups = 0, 0
		batch := make([]dscsa.StoredEvent, 0, 256)
		flush := func() error {
			n, err := insertEvents(ctx, c, batch, visibleTo)
			stored += n
			dups += len(batch) - n
			batch = batch[:0]
			return err
		}
		for {
			se, err := next()
			if err != nil {
				return err
			}
			if se == nil {
				return flush()
			}
			batch = append(batch, *se)
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return stored, dups, nil
}

// RecordReceipt stores a receipt with its receiving events, visible to the
// partner that sent the document. With prior 0 or more, the document must
// have exactly that many receipts, all partial (the parts the receipt was
// made on): otherwise it is refused (ECONFLICT) and nothing is stored. The
// check and the insert are one write transaction, so two stations cannot
// both receive it in full, nor count the same part twice.
func (db *DB) RecordReceipt(ctx context.Context, r *dscsa.Receipt, evs []dscsa.StoredEvent, prior int) error {
	return db.write(ctx, func(ctx context.Context, c conn) error {
		if prior >= 0 {
			var id int64
			var at string
			err := c.QueryRowContext(ctx, `SELECT id, received_at FROM dscsa_receipts WHERE capture = ? AND COALESCE(json_extract(data, '$.partial'), 0) = 0
				ORDER BY id LIMIT 1`, r.Capture).Scan(&id, &at)
			if err == nil {
				return station.Errorf(station.ECONFLICT, "document %s was already received (receipt %d at %s): it cannot be received again", r.DocumentID, id, at)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return formatError(fmt.Errorf("read receipts of capture job %s: %w", r.Capture, err))
			}
			var n int
			if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM dscsa_receipts WHERE capture = ?`, r.Capture).Scan(&n); err != nil {
				return formatError(fmt.Errorf("read receipts of capture job %s: %w", r.Capture, err))
			}
			if n != prior {
				return station.Errorf(station.ECONFLICT, "another part of document %s was received meanwhile: send this part again", r.DocumentID)
			}
		}
		res, err := c.ExecContext(ctx, `INSERT INTO dscsa_receipts (capture, received_at, data) VALUES (?, ?, '{}')`, r.Capture, station.FormatTime(r.ReceivedAt))
		if err != nil {
			return formatError(fmt.Errorf("record receipt: %w", err))
		}
		if r.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("record receipt: %w", err)
		}
		for i := range evs {
			evs[i].Origin = fmt.Sprintf("receipt:%d", r.ID)
		}
		data, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode receipt %d: %w", r.ID, err)
		}
		if _, err := c.ExecContext(ctx, `UPDATE dscsa_receipts SET data = ? WHERE id = ?`, string(data), r.ID); err != nil {
			return formatError(fmt.Errorf("record receipt %d: %w", r.ID, err))
		}
		_, err = insertEvents(ctx, c, evs, r.Partner)
		return err
	})
}

// Receipts returns the receipts against a capture job, oldest first.
func (db *DB) Receipts(ctx context.Context, capture string) ([]dscsa.Receipt, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, data FROM dscsa_receipts WHERE capture = ? ORDER BY id`, capture)
	if err != nil {
		return nil, formatError(fmt.Errorf("read receipts of capture job %s: %w", capture, err))
	}
	defer rows.Close()
	out := []dscsa.Receipt{}
	for rows.Next() {
		var id int64
		var data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, formatError(fmt.Errorf("read receipts of capture job %s: %w", capture, err))
		}
		var r dscsa.Receipt
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			return nil, fmt.Errorf("decode receipt %d: %w", id, err)
		}
		out = append(out, r)
	}
	return out, formatError(rows.Err())
}

// UnreceivedCaptureJobs returns the finished, successful capture jobs that
// stored events and are not received in full yet (no receipt, or partial
// ones only), newest first.
func (db *DB) UnreceivedCaptureJobs(ctx context.Context, limit int) ([]dscsa.CaptureJob, error) {
	return scanJobs(db.r.QueryContext(ctx, selectJob+` j WHERE j.running = 0 AND j.success = 1 AND j.captured + j.duplicates > 0
		AND NOT EXISTS (SELECT 1 FROM dscsa_receipts r WHERE r.capture = j.id AND COALESCE(json_extract(r.data, '$.partial'), 0) = 0)
		ORDER BY j.created_at DESC, j.id LIMIT ?`, limit))
}
