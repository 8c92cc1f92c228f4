package s3guard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var blocked = []string{"/minio/admin", "/minio/v2/metrics", "/minio/metrics", "/minio/prometheus"}

func TestVerdict(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		target  string
		headers map[string]string
		select_ bool
		refused bool
	}{
		{"plain get", "GET", "/bucket/key", nil, false, false},
		{"signed put with trailer (boto3, aws-sdk-s3)", "PUT", "/bucket/key",
			map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "X-Amz-Trailer": "x-amz-checksum-crc32"}, false, false},
		{"user metadata", "PUT", "/bucket/key", map[string]string{"X-Amz-Meta-Original-Filename": "a b.pdf"}, false, false},
		{"signed copy", "PUT", "/bucket/dst", map[string]string{"X-Amz-Copy-Source": "/bucket/src"}, false, false},
		{"presigned get", "GET", "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00", nil, false, false},
		{"double slash key", "GET", "/bucket//a//b", nil, false, false},
		{"health", "GET", "/minio/health/live", nil, false, false},
		{"snowball", "PUT", "/bucket/a.tar", map[string]string{"X-Amz-Meta-Snowball-Auto-Extract": "true"}, false, true},
		{"snowball prefix", "PUT", "/bucket/a.tar", map[string]string{"X-Amz-Meta-Minio-Snowball-Prefix": "x"}, false, true},
		{"replication header", "PUT", "/bucket/k", map[string]string{"X-Minio-Replication-Server-Side-Encryption-Sealed-Key": "x"}, false, true},
		{"source replication", "PUT", "/bucket/k", map[string]string{"X-Minio-Source-Replication-Request": "true"}, false, true},
		{"internal query", "PUT", "/bucket/k?x-minio-force=1", nil, false, true},
		{"select", "POST", "/bucket/k.csv?select&select-type=2", nil, false, true},
		{"select allowed", "POST", "/bucket/k.csv?select&select-type=2", nil, true, false},
		{"presigned trailer", "PUT", "/bucket/k?X-Amz-Credential=a&X-Amz-Signature=0",
			map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}, false, true},
		{"presigned v2 copy", "PUT", "/bucket/k?AWSAccessKeyId=a&Signature=0",
			map[string]string{"X-Amz-Copy-Source": "/bucket/secret"}, false, true},
		{"presigned copy", "PUT", "/bucket/k?X-Amz-Credential=a&X-Amz-Signature=0",
			map[string]string{"X-Amz-Copy-Source": "/bucket/secret"}, false, true},
		{"admin", "GET", "/minio/admin/v3/info", nil, false, true},
		{"admin dodged", "GET", "//minio/./admin/v3/info", nil, false, true},
		{"admin upper", "GET", "/MINIO/ADMIN/v3/info", nil, false, true},
		{"metrics alias", "GET", "/minio/prometheus/metrics", nil, false, true},
		{"metrics v3", "GET", "/minio/metrics/v3/cluster", nil, false, true},
		{"kms", "GET", "/minio/kms/v1/key/list", nil, false, true},
		{"internode grid", "GET", "/minio/grid/v1", nil, false, true},
		{"reserved root", "GET", "/minio", nil, false, true},
		{"health ready", "GET", "/minio/health/ready", nil, false, false},
		{"bucket named like minio-docs", "GET", "/minio-docs/key", nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, nil)
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			got := Verdict(r, &Config{AllowSelect: c.select_, BlockedPathPrefixes: blocked, ReservedPathsAllowed: []string{"/minio/health/"}})
			if (got != "") != c.refused {
				t.Fatalf("Verdict = %q, refused want %v", got, c.refused)
			}
		})
	}
}

func TestServeHTTP(t *testing.T) {
	var upstreamAE []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamAE = r.Header.Values("Accept-Encoding")
		w.Header().Set("X-Amz-Meta-Original-Filename", "a")
		w.Header().Set("X-Amz-Version-Id", "v1")
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(200)
		_, _ = w.Write([]byte("body"))
	})
	h, err := New(context.Background(), next, &Config{
		ExactResponseHeaders:            []string{"x-amz-version-id", "ETag"},
		LowercaseResponseHeaderPrefixes: []string{"x-amz-meta-"},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ sent, want string }{{"", "identity"}, {"gzip", "gzip"}} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/b/k", nil)
		if tc.sent != "" {
			r.Header.Set("Accept-Encoding", tc.sent)
		}
		h.ServeHTTP(rec, r)
		if strings.Join(upstreamAE, ",") != tc.want {
			t.Fatalf("upstream Accept-Encoding %v, want %s", upstreamAE, tc.want)
		}
		names := []string{}
		for k := range rec.Result().Header {
			names = append(names, k)
		}
		joined := "," + strings.Join(names, ",") + ","
		for _, want := range []string{",x-amz-meta-original-filename,", ",x-amz-version-id,", ",ETag,"} {
			if !strings.Contains(joined, want) {
				t.Fatalf("header names %v lack %s", names, want)
			}
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/minio/health/live", nil))
	if rec.Code != http.StatusForbidden { // the reserved tree is closed unless a prefix is allowed
		t.Fatalf("code %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	r := httptest.NewRequest("PUT", "/b/k", nil)
	r.Header.Set("X-Minio-Source-Replication-Request", "true")
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "<Code>AccessDenied</Code>") {
		t.Fatalf("refusal: %d %s", rec.Code, rec.Body.String())
	}
}
