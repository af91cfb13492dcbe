package cli

import (
	"context"
	"fmt"

	"github.com/creditgate/creditgate/internal/deadletter"
	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// processParked runs a parked event (raw, perhaps with an operator's fix applied)
// through the pipeline as a replay: a snapshot event through Process, a thin event
// (parked when the object it points at could not be read) through ProcessThin.
func (a *app) processParked(ctx context.Context, rt *pipeline.Route, raw []byte, e deadletter.Entry) (pipeline.Outcome, error) {
	d := pipeline.Delivery{Raw: raw, Replay: true, Replays: e.Replays}
	if event.IsThin(raw) {
		th, err := event.DecodeThin(raw)
		if err != nil {
			return pipeline.Outcome{}, fmt.Errorf("stored thin event does not decode: %w", err)
		}
		return a.pipeline.ProcessThin(ctx, rt, d, th), nil
	}
	ev, err := event.Decode(raw)
	if err != nil {
		return pipeline.Outcome{}, fmt.Errorf("stored payload does not decode: %w", err)
	}
	d.Event = ev
	return a.pipeline.Process(ctx, rt, d), nil
}
