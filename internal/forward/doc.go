// Package forward owns the one request creditgate sends to a backend: the normalized
// credit JSON (docs/design.md §5), its Creditgate-Signature, and the delivery policy around it
// (per-attempt timeouts, retries with jittered backoff inside an overall budget, and the
// mapping of every backend answer to exactly one of the outcomes below).
//
// The outcomes, which the server maps to Stripe answers in one place:
//
//   - nil error: the backend answered 2xx (credited) or 409 (credited before;
//     Result.AlreadyCredited is set). Stripe gets 200.
//   - an error wrapping [ErrRejected]: the backend said the request itself is wrong
//     (400, 410, 413, 422: [Parks]), or a Request that fails [Request.Validate]. Retrying
//     will not fix it; park it in the dead-letter list.
//   - an error wrapping [ErrUnavailable]: a 5xx, 408, 429, timeout or connection error
//     that outlived the retry budget, or the caller's context ended. Stripe gets 503
//     and delivers again later.
//   - an error wrapping both [ErrUnavailable] and [ErrDeployment]: a 3xx (a redirect is
//     a configuration error, see [NewHTTPClient]), 401, 403, 404 or another 4xx not in
//     Parks — a fault of the deployment, which every purchase would hit alike. It is
//     not retried inside the budget; Stripe gets 503 and redelivers until it is fixed,
//     so a bad rollout parks nothing.
//
// Every request carries Idempotency-Key, so net/http itself may replay it once on a
// fresh connection when a kept-alive one turns out to be closed; that is harmless for the
// same reason Send's own retries are: the backend credits each key once.
//
// Security: error messages and debug logs carry the HTTP status, the transport error and
// at most a short, sanitized snippet of the backend's response, scrubbed of anything
// that looks like signature material (t=...,v1=..., long hex runs) and of the request
// body should the backend echo it. They never carry the request body, the signature
// header or a key.
package forward
