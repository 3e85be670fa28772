package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestExamples: every manifest under examples/ passes `ward check`, as a
// user who copies a recipe runs it first.
func TestExamples(t *testing.T) {
	var manifests []string
	err := filepath.WalkDir("examples", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "ward.yaml" {
			manifests = append(manifests, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk must have found the recipes, or the test checks nothing.
	for _, want := range []string{"examples/docker/ward.yaml", "examples/gcp-cloud-run/ward.yaml", "examples/azure-aks/ward.yaml"} {
		found := false
		for _, m := range manifests {
			found = found || filepath.ToSlash(m) == want
		}
		if !found {
			t.Errorf("%s: not found under examples/", want)
		}
	}
	w := newWardEnv(t)
	for _, m := range manifests {
		t.Run(filepath.Dir(m), func(t *testing.T) {
			abs, err := filepath.Abs(m)
			if err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := w.run("check", "-m", abs)
			if code != 0 || !strings.HasPrefix(stdout, abs+": ok: ") {
				t.Errorf("ward check -m %s: got exit code %d and %q, want 0 and ok:\n%s", m, code, stdout, stderr)
			}
		})
	}
}

// TestExamplesAKSWorkloadIdentity: the AKS recipe's pod opts in to the
// workload identity webhook and runs as a service account that names the
// identity's client id, under ward.
func TestExamplesAKSWorkloadIdentity(t *testing.T) {
	b, err := os.ReadFile("examples/azure-aks/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Kind     string
		Metadata struct {
			Name        string
			Namespace   string
			Annotations map[string]string
		}
		Spec struct {
			Template struct {
				Metadata struct{ Labels map[string]string }
				Spec     struct {
					ServiceAccountName string `yaml:"serviceAccountName"`
					Containers         []struct{ Command []string }
				}
			}
		}
	}
	objects := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("deployment.yaml: %v", err)
		}
		objects[o.Kind] = o
	}
	sa, dep := objects["ServiceAccount"], objects["Deployment"]
	if sa.Metadata.Annotations["azure.workload.identity/client-id"] == "" {
		t.Errorf("the ServiceAccount has no azure.workload.identity/client-id annotation")
	}
	pod := dep.Spec.Template
	if pod.Metadata.Labels["azure.workload.identity/use"] != "true" {
		t.Errorf("the pod template has no azure.workload.identity/use: \"true\" label")
	}
	if pod.Spec.ServiceAccountName != sa.Metadata.Name || dep.Metadata.Namespace != sa.Metadata.Namespace {
		t.Errorf("the pod runs as %s/%s, want the ServiceAccount %s/%s", dep.Metadata.Namespace, pod.Spec.ServiceAccountName, sa.Metadata.Namespace, sa.Metadata.Name)
	}
	if len(pod.Spec.Containers) != 1 || strings.Join(pod.Spec.Containers[0].Command, " ") != "ward run --" {
		t.Errorf("the container does not start under `ward run --`")
	}
}
