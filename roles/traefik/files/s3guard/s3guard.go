// Package s3guard is a Traefik middleware (run by Traefik's Yaegi interpreter as a local plugin)
// that sits on the public S3 route in front of MinIO.
//
// It refuses the request shapes behind the advisories of the pinned community MinIO build (see the
// role README's security section) and undoes two things Go's reverse proxy changes on the way back,
// so the public route answers what MinIO answers:
//   - a client that sends no Accept-Encoding would get gzip-stored objects decompressed by the proxy's
//     transport (it adds "Accept-Encoding: gzip" upstream and unpacks the answer);
//   - HTTP/1.1 response header names are canonicalised by the proxy ("x-amz-meta-a" -> "X-Amz-Meta-A").
//
// Only the standard library is used: Yaegi interprets this file as it is.
package s3guard

import (
	"context"
	"net/http"
	"path"
	"strings"
)

// Config is the middleware's dynamic configuration (keys in camelCase in Traefik's files).
type Config struct {
	// AllowSelect lets S3 Select (POST ?select&select-type=2) through.
	AllowSelect bool `json:"allowSelect,omitempty"`
	// BlockedPathPrefixes are refused after the path is cleaned (MinIO's admin, metrics, ...).
	BlockedPathPrefixes []string `json:"blockedPathPrefixes,omitempty"`
	// ReservedPathsAllowed: MinIO's reserved "/minio/" tree (admin, metrics, KMS, internode
	// peer/storage/lock/grid) is refused except below these prefixes (e.g. "/minio/health/").
	ReservedPathsAllowed []string `json:"reservedPathsAllowed,omitempty"`
	// ExactResponseHeaders are header names MinIO sends in this exact spelling (not canonical).
	ExactResponseHeaders []string `json:"exactResponseHeaders,omitempty"`
	// LowercaseResponseHeaderPrefixes: MinIO sends every header with such a prefix in lower case.
	LowercaseResponseHeaderPrefixes []string `json:"lowercaseResponseHeaderPrefixes,omitempty"`
}

// CreateConfig returns the defaults.
func CreateConfig() *Config {
	return &Config{}
}

type guard struct {
	next     http.Handler
	name     string
	cfg      *Config
	exact    map[string]string
	prefixes []string
}

// New builds the middleware.
func New(_ context.Context, next http.Handler, cfg *Config, name string) (http.Handler, error) {
	g := &guard{next: next, name: name, cfg: cfg, exact: map[string]string{}}
	for _, h := range cfg.ExactResponseHeaders {
		g.exact[http.CanonicalHeaderKey(h)] = h
	}
	for _, p := range cfg.LowercaseResponseHeaderPrefixes {
		g.prefixes = append(g.prefixes, http.CanonicalHeaderKey(p))
	}
	return g, nil
}

// Verdict says why a request is refused ("" = let it through).
func Verdict(r *http.Request, cfg *Config) string {
	for name := range r.Header {
		lower := strings.ToLower(name)
		// MinIO trusts X-Minio-* request headers as internal (replication, peer, force-delete):
		// a client must never send them (GHSA-3rh2-v3gr-35p9 plants fake encryption metadata).
		if strings.HasPrefix(lower, "x-minio-") {
			return "internal MinIO header " + name
		}
		// Snowball auto-extract skips signature checks with unsigned trailers
		// (GHSA-9c4q-hq6p-c237, GHSA-hv4r-mvr4-25vw); KoproGo never uploads archives to extract.
		if strings.Contains(lower, "snowball") {
			return "Snowball auto-extract header " + name
		}
	}
	query := r.URL.Query()
	for key := range query {
		lower := strings.ToLower(key)
		if strings.HasPrefix(lower, "x-minio-") || strings.Contains(lower, "snowball") {
			return "internal MinIO parameter " + key
		}
	}
	if _, ok := query["select"]; ok && !cfg.AllowSelect {
		// S3 Select reads CSV lines without a bound (GHSA-h749-fxx7-pwpg).
		return "S3 Select is disabled"
	}
	if isPresigned(query) {
		sha := strings.ToUpper(r.Header.Get("X-Amz-Content-Sha256") + query.Get("X-Amz-Content-Sha256"))
		if strings.HasPrefix(sha, "STREAMING-") {
			return "presigned request with a streaming payload"
		}
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			// The copy source is not covered by a presigned URL's signature (SN-2026-011).
			return "presigned request with x-amz-copy-source"
		}
	}
	clean := cleanPath(r)
	for _, prefix := range cfg.BlockedPathPrefixes {
		if under(clean, prefix) {
			return "path not served on the S3 host"
		}
	}
	if under(clean, "/minio") {
		for _, prefix := range cfg.ReservedPathsAllowed {
			if under(clean, prefix) {
				return ""
			}
		}
		return "path not served on the S3 host"
	}
	return ""
}

// under tells whether the cleaned path is prefix itself or below it.
func under(clean, prefix string) bool {
	prefix = strings.TrimSuffix(strings.ToLower(prefix), "/")
	return clean == prefix || strings.HasPrefix(clean, prefix+"/")
}

func isPresigned(query map[string][]string) bool {
	for _, key := range []string{"X-Amz-Credential", "X-Amz-Signature", "AWSAccessKeyId", "Signature"} {
		for k := range query {
			if strings.EqualFold(k, key) {
				return true
			}
		}
	}
	return false
}

// cleanPath is the decoded path with dot segments and repeated slashes removed, lower-cased, so a
// blocked prefix cannot be dodged with "//minio/admin" or "/x/../minio/admin".
func cleanPath(r *http.Request) string {
	p := r.URL.Path
	if p == "" {
		p = "/"
	}
	return strings.ToLower(path.Clean("/" + p))
}

func (g *guard) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if reason := Verdict(req, g.cfg); reason != "" {
		rw.Header().Set("Content-Type", "application/xml")
		rw.WriteHeader(http.StatusForbidden)
		_, _ = rw.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
			`<Error><Code>AccessDenied</Code><Message>Refused by the edge: ` + xmlEscape(reason) +
			`</Message></Error>`))
		return
	}
	// No Accept-Encoding from the client: ask MinIO for identity so the proxy's transport does not
	// add gzip and unpack the answer (MinIO serves stored bytes either way).
	if len(req.Header.Values("Accept-Encoding")) == 0 {
		req.Header.Set("Accept-Encoding", "identity")
	}
	g.next.ServeHTTP(&spelling{ResponseWriter: rw, g: g}, req)
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	return r.Replace(s)
}

// spelling restores MinIO's header name spelling just before the header is written.
type spelling struct {
	http.ResponseWriter
	g    *guard
	done bool
}

func (s *spelling) fix() {
	if s.done {
		return
	}
	s.done = true
	h := s.ResponseWriter.Header()
	for name, values := range h {
		want := name
		if exact, ok := s.g.exact[name]; ok {
			want = exact
		} else {
			for _, prefix := range s.g.prefixes {
				if strings.HasPrefix(name, prefix) {
					want = strings.ToLower(name)
					break
				}
			}
		}
		if want != name {
			delete(h, name)
			h[want] = values
		}
	}
}

func (s *spelling) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		s.ResponseWriter.WriteHeader(code)
		return
	}
	s.fix()
	s.ResponseWriter.WriteHeader(code)
}

func (s *spelling) Write(b []byte) (int, error) {
	s.fix()
	return s.ResponseWriter.Write(b)
}

// Flush keeps streamed answers (large downloads) flowing.
func (s *spelling) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		s.fix()
		f.Flush()
	}
}
