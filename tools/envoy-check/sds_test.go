package main

import (
	"strings"
	"testing"
)

// secret is the SDS file render/envoy.ts writes for one certificate (renderSdsSecret).
const secret = `# an SDS file
resources:
  - "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
    name: limen
    tls_certificate:
      certificate_chain:
        filename: /etc/limen/acme/limen/current/fullchain.pem
      private_key:
        filename: /etc/limen/acme/limen/current/privkey.pem
      watched_directory:
        path: /etc/limen/acme/limen
`

func editSecret(t *testing.T, from, to string) string {
	t.Helper()
	if !strings.Contains(secret, from) {
		t.Fatalf("the SDS file has no %q", from)
	}
	return strings.Replace(secret, from, to, 1)
}

func sdsProblems(input, name string) []string {
	var out []string
	for _, p := range CheckSDS([]byte(input), name) {
		out = append(out, p.String())
	}
	return out
}

func expectOneSDS(t *testing.T, input, name, path, want string) {
	t.Helper()
	got := CheckSDS([]byte(input), name)
	if len(got) != 1 || got[0].Path != path || !strings.Contains(got[0].Message, want) {
		t.Fatalf("want one problem at %s containing %q, got %q", path, want, sdsProblems(input, name))
	}
}

func TestSDSFileIsValid(t *testing.T) {
	for _, name := range []string{"", "limen"} {
		if got := sdsProblems(secret, name); len(got) != 0 {
			t.Fatalf("name %q: want no problem, got %q", name, got)
		}
	}
	if got := sdsProblems("version_info: \"7\"\n"+secret, ""); len(got) != 0 {
		t.Fatalf("a version_info is refused: %q", got)
	}
}

func TestSDSFileProblems(t *testing.T) {
	for _, tc := range []struct{ what, input, name, path, want string }{
		{"an unknown field in the Secret", editSecret(t, "path: /etc", "pathh: /etc"), "",
			"resources[0].tls_certificate.watched_directory.pathh", `unknown field "pathh"`},
		{"an unknown field in the envelope", "resource_names: [limen]\n" + secret, "", "resource_names", `unknown field "resource_names"`},
		{"a management server's field", "nonce: \"1\"\n" + secret, "", "nonce", "only a management server sends"},
		{"a Secret without a certificate", editSecret(t, "    tls_certificate:", "    generic_secret: { secret: { filename: /x } }\n    unused:"), "",
			"resources[0].unused", `unknown field "unused"`},
		{"a Secret of another kind", secret[:strings.Index(secret, "    tls_certificate:")] + "    generic_secret: { secret: { filename: /etc/x } }\n", "",
			"resources[0]", "holds generic_secret, not a tls_certificate"},
		{"a Secret with a name only", secret[:strings.Index(secret, "    tls_certificate:")], "", "resources[0]", "holds nothing, not a tls_certificate"},
		{"a certificate without its key", editSecret(t, "      private_key:\n        filename: /etc/limen/acme/limen/current/privkey.pem\n", ""), "",
			"resources[0].tls_certificate.private_key", "incomplete certificate"},
		{"an inline key", editSecret(t, "filename: /etc/limen/acme/limen/current/privkey.pem", `inline_string: "-----BEGIN PRIVATE KEY-----"`), "",
			"resources[0].tls_certificate.private_key", "not a filename"},
		{"a Secret named otherwise than its SdsSecretConfig", secret, "darc", "resources[0].name", `Unexpected SDS secret (expecting "darc"): "limen"`},
		{"a Secret without a name", editSecret(t, "    name: limen\n", ""), "", "resources[0].name", "the Secret has no name"},
		{"no resource", "resources: []\n", "", "resources", "Missing SDS resources"},
		{"an empty file's envelope", "version_info: \"1\"\n", "", "resources", "Missing SDS resources"},
		{"two resources", secret + strings.Replace(secret[strings.Index(secret, `  - "@type"`):], "name: limen", "name: limen2", 1), "",
			"resources[1]", "Unexpected SDS secrets length: 2"},
		{"a resource of another type", "resources:\n  - { \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig, name: limen }\n", "",
			"resources[0].@type", "an SDS resource must be type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"},
		{"an unresolvable type", editSecret(t, "tls.v3.Secret", "tls.v3.Secrets"), "", "resources[0].@type", "unable to resolve"},
		{"an empty filename (PGV)", editSecret(t, "filename: /etc/limen/acme/limen/current/fullchain.pem", `filename: ""`), "",
			"resources[0].tls_certificate.certificate_chain.filename", "value length must be at least 1"},
	} {
		t.Run(tc.what, func(t *testing.T) { expectOneSDS(t, tc.input, tc.name, tc.path, tc.want) })
	}
}

func TestSDSProblemsNameTheirLine(t *testing.T) {
	got := sdsProblems(editSecret(t, "path: /etc", "pathh: /etc"), "")
	if len(got) != 1 || !strings.HasSuffix(got[0], "(line 11)") {
		t.Fatalf("got %q", got)
	}
}

func TestRunSDS(t *testing.T) {
	var out, errs strings.Builder
	if code := run([]string{"--sds", "--name", "limen", "-"}, strings.NewReader(secret), &out, &errs); code != 0 || out.String() != "ok\n" {
		t.Fatalf("valid: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}
	out.Reset()
	if code := run([]string{"--sds"}, strings.NewReader(strings.Replace(secret, "path: /etc", "pathh: /etc", 1)), &out, &errs); code != 1 ||
		out.String() != "resources[0].tls_certificate.watched_directory.pathh: unknown field \"pathh\" (line 11)\n" {
		t.Fatalf("invalid: exit %d, stdout %q", code, out.String())
	}
	// A bootstrap is not an SDS file, nor the other way round.
	out.Reset()
	if code := run([]string{"--sds"}, strings.NewReader(minimal), &out, &errs); code != 1 || !strings.HasPrefix(out.String(), `static_resources: unknown field "static_resources"`) {
		t.Fatalf("a bootstrap as SDS: exit %d, stdout %q", code, out.String())
	}
	out.Reset()
	if code := run(nil, strings.NewReader(secret), &out, &errs); code != 1 || !strings.HasPrefix(out.String(), `resources: unknown field "resources"`) {
		t.Fatalf("an SDS file as bootstrap: exit %d, stdout %q", code, out.String())
	}
	for _, args := range [][]string{{"--sds", "--name"}, {"--sds", "--name", ""}, {"--sds", "--bogus"}, {"--sds", "a", "b"}, {"--name", "x"}} {
		if code := run(args, strings.NewReader(""), &out, &errs); code != 2 {
			t.Fatalf("usage %q: exit %d", args, code)
		}
	}
}
