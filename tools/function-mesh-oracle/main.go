// Command function-mesh-oracle prints the Kubernetes objects Function Mesh's own controller
// builds for a CR, without a cluster: the CR goes through Function Mesh's mutating webhook
// (Default), then through the controllers/spec builders the reconcilers call. fmesh's
// operator tests compare their output with it.
//
// Usage: function-mesh-oracle [FILE]   (stdin when FILE is absent or "-")
// Input: one or more YAML/JSON documents (Function, Source, Sink, FunctionMesh).
// Output: one line per input document: a JSON array of the objects built, or
// {"rejected": "<message>"} when Function Mesh's validating webhook refuses the CR.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	admissionv1 "k8s.io/api/admission/v1"
	autov2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/streamnative/function-mesh/api/compute/v1alpha1"
	"github.com/streamnative/function-mesh/controllers/spec"
	"github.com/streamnative/function-mesh/pkg/webhook"
)

const apiVersion = "compute.functionmesh.io/v1alpha1"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "function-mesh-oracle:", err)
		os.Exit(1)
	}
}

func run() error {
	var in io.Reader = os.Stdin
	if len(os.Args) > 1 && os.Args[1] != "-" {
		f, err := os.Open(os.Args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	// No BackendConfig exists: PatchStatefulSet's lookups find nothing, as on a cluster
	// without one.
	cli := fake.NewClientBuilder().WithScheme(scheme).Build()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var result any
		objects, err := build(cli, doc)
		var no rejected
		switch {
		case errors.As(err, &no):
			result = map[string]string{"rejected": no.Error()}
		case err != nil:
			return err
		default:
			result = objects
		}
		line, err := json.Marshal(result)
		if err != nil {
			return err
		}
		out.Write(line)
		out.WriteString("\n")
	}
}

func build(cli client.Client, doc []byte) ([]any, error) {
	js, err := utilyaml.ToJSON(doc)
	if err != nil {
		return nil, err
	}
	var meta metav1.TypeMeta
	if err := json.Unmarshal(js, &meta); err != nil {
		return nil, err
	}
	switch meta.Kind {
	case "Function":
		f := &v1alpha1.Function{}
		if err := json.Unmarshal(js, f); err != nil {
			return nil, err
		}
		return function(cli, f)
	case "Source":
		s := &v1alpha1.Source{}
		if err := json.Unmarshal(js, s); err != nil {
			return nil, err
		}
		return source(cli, s)
	case "Sink":
		s := &v1alpha1.Sink{}
		if err := json.Unmarshal(js, s); err != nil {
			return nil, err
		}
		return sink(cli, s)
	case "FunctionMesh":
		m := &v1alpha1.FunctionMesh{}
		if err := json.Unmarshal(js, m); err != nil {
			return nil, err
		}
		return mesh(cli, m)
	default:
		return []any{}, nil
	}
}

// rejected is Function Mesh's validating webhook refusing a CR: printed as
// {"rejected": "<message>"} instead of the objects.
type rejected struct{ err error }

func (r rejected) Error() string { return r.err.Error() }

type webhookFor interface {
	admission.CustomDefaulter
	admission.CustomValidator
}

// admitted runs Function Mesh's mutating then validating webhook on obj, as the API server
// does on create.
func admitted(kind string, w webhookFor, obj runtime.Object) error {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Kind:      metav1.GroupVersionKind{Group: "compute.functionmesh.io", Version: "v1alpha1", Kind: kind},
		Operation: admissionv1.Create,
	}}
	ctx := admission.NewContextWithRequest(context.Background(), req)
	if err := w.Default(ctx, obj); err != nil {
		return err
	}
	if _, err := w.ValidateCreate(ctx, obj); err != nil {
		return rejected{err}
	}
	return nil
}

func typed(apiVersion, kind string, obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["apiVersion"] = apiVersion
	m["kind"] = kind
	delete(m, "status")
	return m, nil
}

// children renders what a reconciler creates: the StatefulSet, the Service, the HPA when
// maxReplicas is set, the VPA when pod.vpa is set.
func children(sts, svc any, hpa func() any, vpa any) ([]any, error) {
	var objs []any
	add := func(apiVersion, kind string, o any) error {
		m, err := typed(apiVersion, kind, o)
		if err == nil {
			objs = append(objs, m)
		}
		return err
	}
	if err := add("apps/v1", "StatefulSet", sts); err != nil {
		return nil, err
	}
	if err := add("v1", "Service", svc); err != nil {
		return nil, err
	}
	if hpa != nil {
		if err := add("autoscaling/v2", "HorizontalPodAutoscaler", hpa()); err != nil {
			return nil, err
		}
	}
	if vpa != nil {
		if err := add("autoscaling.k8s.io/v1", "VerticalPodAutoscaler", vpa); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

func targetRef(kind, name string) *autov2.CrossVersionObjectReference {
	return &autov2.CrossVersionObjectReference{Kind: kind, Name: name, APIVersion: apiVersion}
}

func function(cli client.Client, f *v1alpha1.Function) ([]any, error) {
	f.APIVersion, f.Kind = apiVersion, "Function"
	if err := admitted("Function", &webhook.FunctionWebhook{}, f); err != nil {
		return nil, err
	}
	sts, err := spec.MakeFunctionStatefulSet(context.Background(), cli, f)
	if err != nil {
		return nil, err
	}
	var vpa any
	if f.Spec.Pod.VPA != nil {
		vpa = spec.MakeVPA(spec.MakeFunctionObjectMeta(f), targetRef("Function", f.Name), f.Spec.Pod.VPA)
	}
	var hpa func() any
	// Function Mesh builds an HPA only when maxReplicas is set (MakeHPA dereferences it).
	if f.Spec.MaxReplicas != nil {
		hpa = func() any { return spec.MakeFunctionHPA(f) }
	}
	return children(sts, spec.MakeFunctionService(f), hpa, vpa)
}

func source(cli client.Client, s *v1alpha1.Source) ([]any, error) {
	s.APIVersion, s.Kind = apiVersion, "Source"
	if err := admitted("Source", &webhook.SourceWebhook{}, s); err != nil {
		return nil, err
	}
	sts, err := spec.MakeSourceStatefulSet(context.Background(), cli, s)
	if err != nil {
		return nil, err
	}
	var vpa any
	if s.Spec.Pod.VPA != nil {
		vpa = spec.MakeVPA(spec.MakeSourceObjectMeta(s), targetRef("Source", s.Name), s.Spec.Pod.VPA)
	}
	var hpa func() any
	// Function Mesh builds an HPA only when maxReplicas is set (MakeHPA dereferences it).
	if s.Spec.MaxReplicas != nil {
		hpa = func() any { return spec.MakeSourceHPA(s) }
	}
	return children(sts, spec.MakeSourceService(s), hpa, vpa)
}

func sink(cli client.Client, s *v1alpha1.Sink) ([]any, error) {
	s.APIVersion, s.Kind = apiVersion, "Sink"
	if err := admitted("Sink", &webhook.SinkWebhook{}, s); err != nil {
		return nil, err
	}
	sts, err := spec.MakeSinkStatefulSet(context.Background(), cli, s)
	if err != nil {
		return nil, err
	}
	var vpa any
	if s.Spec.Pod.VPA != nil {
		vpa = spec.MakeVPA(spec.MakeSinkObjectMeta(s), targetRef("Sink", s.Name), s.Spec.Pod.VPA)
	}
	var hpa func() any
	// Function Mesh builds an HPA only when maxReplicas is set (MakeHPA dereferences it).
	if s.Spec.MaxReplicas != nil {
		hpa = func() any { return spec.MakeSinkHPA(s) }
	}
	return children(sts, spec.MakeSinkService(s), hpa, vpa)
}

// mesh renders each member as the FunctionMesh reconciler creates it: a Function, Source or
// Sink CR named <mesh>-<member>, admitted by the webhook, then built like a standalone CR.
func mesh(cli client.Client, m *v1alpha1.FunctionMesh) ([]any, error) {
	m.APIVersion, m.Kind = apiVersion, "FunctionMesh"
	var objs []any
	for i := range m.Spec.Functions {
		s := &m.Spec.Functions[i]
		o, err := function(cli, spec.MakeFunctionComponent(m.Name+"-"+s.Name, m, s))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	for i := range m.Spec.Sources {
		s := &m.Spec.Sources[i]
		o, err := source(cli, spec.MakeSourceComponent(m.Name+"-"+s.Name, m, s))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	for i := range m.Spec.Sinks {
		s := &m.Spec.Sinks[i]
		o, err := sink(cli, spec.MakeSinkComponent(m.Name+"-"+s.Name, m, s))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}
