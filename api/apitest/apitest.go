// Package apitest checks HTTP answers against the API's OpenAPI document (api.OpenAPI, passed in, so
// package api's own tests can use it) with kin-openapi, for the tests of every package that calls the
// API. Nothing outside tests imports it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

func init() {
	openapi3filter.RegisterBodyDecoder("application/openmetrics-text", openapi3filter.PlainBodyDecoder)
}

// Validator checks answers of a server at one base URL.
type Validator struct {
	router routers.Router
	mu     sync.Mutex
	n      int
}

// New reads the document (failing t when it is not a valid OpenAPI 3 document) for a server at base.
func New(t testing.TB, document []byte, base string) *Validator {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(document)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &Validator{router: r}
}

// Count is how many answers were checked.
func (v *Validator) Count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.n
}

// Check fails t unless the answer (status, headers, body) to req is what the document says: a
// documented status of its route with a body matching the schema, or, for a path or method the
// document does not have, a 404 or 405 error object.
func (v *Validator) Check(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	t.Helper()
	probe := req.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.router.FindRoute(probe)
	if err != nil {
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed ||
			json.Unmarshal(body, &eb) != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Errorf("%s %s is not in openapi.json and its answer %d is not an error object: %s", req.Method, req.URL.Path, resp.StatusCode, body)
		}
	} else {
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
			Status:                 resp.StatusCode, Header: resp.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		in.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			if len(body) > 2000 {
				body = append(body[:2000:2000], "…"...)
			}
			t.Errorf("the answer to %s %s (%d) does not match openapi.json: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
		}
	}
	v.mu.Lock()
	v.n++
	v.mu.Unlock()
}

// Do sends req with client, reads the answer, checks it and returns it with its body.
func (v *Validator) Do(t testing.TB, client *http.Client, req *http.Request, reqBody []byte) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	v.Check(t, req, reqBody, resp, body)
	return resp, body, nil
}
