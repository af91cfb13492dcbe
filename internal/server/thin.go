package server

import (
	"net/http"

	"github.com/creditgate/creditgate/internal/event"
	"github.com/creditgate/creditgate/internal/outcome"
	"github.com/creditgate/creditgate/internal/pipeline"
)

// processThin decodes and processes a thin event (object "v2.core.event"): see
// pipeline.ProcessThin. Only a thin event that is itself broken is malformed.
func processThin(d Deps, rt *Route, r *http.Request, body []byte) (pipeline.Outcome, string) {
	th, err := event.DecodeThin(body)
	if err != nil {
		return pipeline.Outcome{Result: outcome.MalformedEvent, Reason: outcome.ReasonDecode, Detail: err.Error()}, ""
	}
	return d.Pipeline.ProcessThin(r.Context(), rt.Pipeline, pipeline.Delivery{Raw: body, AnswerFirst: true}, th), ""
}
