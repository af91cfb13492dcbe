package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stripe/stripe-go/v76"
)

// objectPaths are the v1 resources a thin event may point at that creditgate reads,
// by related_object.type; each is read at /v1/<path>/<id>.
var objectPaths = map[string]string{
	"checkout.session": "checkout/sessions",
	"invoice":          "invoices",
	"charge":           "charges",
	"dispute":          "disputes",
}

// ObjectTypes reports whether Object can read objects of type typ.
func ObjectTypes(typ string) bool { _, ok := objectPaths[typ]; return ok }

// rawObject keeps the response body of a GET as it came.
type rawObject struct{ stripe.APIResource }

// Object reads one object by its type (a thin event's related_object.type, e.g.
// "checkout.session") and id, as the account's (Connect) or the platform's (account
// ""), and returns its JSON exactly as the API sent it, rendered in the pinned API
// version. The path is built from the type and the escaped id, never taken from the
// event. A type Object does not read is ErrInvalid.
func (c *Client) Object(ctx context.Context, account, typ, id string) (json.RawMessage, error) {
	p, ok := objectPaths[typ]
	if !ok {
		return nil, fmt.Errorf("%w: objects of type %q are not read (known: checkout.session, invoice, charge, dispute)", ErrInvalid, typ)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.Params{Context: ctx}
	setAccountParams(params, account)
	var obj rawObject
	if err := c.api.CheckoutSessions.B.Call(http.MethodGet, "/v1/"+p+"/"+url.PathEscape(id), c.api.CheckoutSessions.Key, params, &obj); err != nil {
		return nil, classify("get "+typ+" "+id, err)
	}
	if obj.LastResponse == nil || len(obj.LastResponse.RawJSON) == 0 {
		return nil, fmt.Errorf("%w: get %s %s: empty response", ErrUnavailable, typ, id)
	}
	return json.RawMessage(obj.LastResponse.RawJSON), nil
}
