package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The dead-letter file is JSON Lines, one change per line:
//
//	{"op":"park","entry":{"id":"main:evt_1","route":"main",...,"payload":"{...}"}}
//	{"op":"drop","id":"main:evt_1"}
//
// Replaying the lines in order gives the list. Blank lines are ignored; a line that
// does not decode is skipped and reported (see Damage).
const (
	opPark = "park"
	opDrop = "drop"
)

// change is one decoded line: park Entry, or drop Entry.ID.
type change struct {
	Drop  bool
	Entry Entry
}

type record struct {
	Op    string     `json:"op"`
	Entry *wireEntry `json:"entry,omitempty"`
	ID    string     `json:"id,omitempty"`
}

// encodeRecord returns the line for c, without the newline. JSON never contains a raw
// newline, so a record is always exactly one line.
func encodeRecord(c change) ([]byte, error) {
	if c.Drop {
		return json.Marshal(record{Op: opDrop, ID: c.Entry.ID})
	}
	w := toWire(c.Entry)
	return json.Marshal(record{Op: opPark, Entry: &w})
}

// decodeRecord decodes one line (without its newline).
func decodeRecord(line []byte) (change, error) {
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return change{}, err
	}
	switch r.Op {
	case opPark:
		if r.Entry == nil || r.ID != "" {
			return change{}, errors.New(`a "park" record needs an entry and no id`)
		}
		e, err := r.Entry.entry()
		if err != nil {
			return change{}, err
		}
		return change{Entry: e}, nil
	case opDrop:
		if r.ID == "" || r.Entry != nil {
			return change{}, errors.New(`a "drop" record needs an id and no entry`)
		}
		return change{Drop: true, Entry: Entry{ID: r.ID}}, nil
	}
	return change{}, fmt.Errorf("unknown op %q", r.Op)
}

// Damage describes the lines of a dead-letter file that could not be decoded. They are
// skipped, never fatal: the file always opens with every line that does decode. The
// zero value means an undamaged file.
type Damage struct {
	// Lines counts the skipped lines, the torn tail included.
	Lines int
	// TornTail reports that the last line has no newline and does not decode: a write
	// cut short by a crash (or one still in progress in another process).
	TornTail bool
	// Err describes the first few skipped lines, with their line numbers; nil when
	// Lines is 0.
	Err error
}

// maxDamageErrs bounds Damage.Err.
const maxDamageErrs = 5

// replay decodes a whole file and applies its changes in order.
func replay(data []byte) (map[string]Entry, Damage) {
	m := make(map[string]Entry)
	var (
		d    Damage
		errs []error
	)
	lines := bytes.Split(data, []byte{'\n'})
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		c, err := decodeRecord(line)
		if err != nil {
			d.Lines++
			torn := i == len(lines)-1 // the part after the last newline
			d.TornTail = d.TornTail || torn
			if len(errs) < maxDamageErrs {
				what := "line"
				if torn {
					what = "torn last line"
				}
				errs = append(errs, fmt.Errorf("%s %d: %w", what, i+1, err))
			}
			continue
		}
		if c.Drop {
			delete(m, c.Entry.ID)
		} else {
			m[c.Entry.ID] = c.Entry
		}
	}
	d.Err = errors.Join(errs...)
	return m, d
}

// frame returns line ready to append to a file: newline-terminated, and preceded by a
// newline when the file ends in the middle of a line (a torn write, or the zero bytes a
// crash can leave), so that the damage can never swallow the new record.
func frame(midLine bool, line []byte) []byte {
	b := make([]byte, 0, len(line)+2)
	if midLine {
		b = append(b, '\n')
	}
	b = append(b, line...)
	return append(b, '\n')
}
