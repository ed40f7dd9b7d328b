package controllers

import (
	"fmt"
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/securesite-io/securesite/api/v1alpha1"
	"github.com/securesite-io/securesite/internal/cdn"
	"github.com/securesite-io/securesite/internal/certs"
	"github.com/securesite-io/securesite/internal/records"
)

// Each default has one definition in Go, read through one function; the CRD applies the same
// value at `kubectl apply`. This test keeps the two from drifting apart.
func TestCRDDefaultsAreTheGoDefaults(t *testing.T) {
	data, err := os.ReadFile("../config/crd/bases/securesite.io_securesites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema schema `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	tests := []struct {
		path []string
		want any
	}{
		{[]string{"backend", "ttl"}, records.DefaultTTL},
		{[]string{"staticSite", "indexDocument"}, cdn.DefaultRootObject},
		{[]string{"staticSite", "priceClass"}, v1alpha1.DefaultPriceClass},
		{[]string{"certificate", "issuer"}, v1alpha1.DefaultIssuer},
		{[]string{"certificate", "privateKey", "algorithm"}, certs.KeySpec{}.Normalized().Algorithm},
		{[]string{"deletionPolicy"}, v1alpha1.DeletionPolicyRetain},
	}
	for _, tt := range tests {
		s := spec
		for _, p := range tt.path {
			s = s.Properties[p]
		}
		if got, want := fmt.Sprint(s.Default), fmt.Sprint(tt.want); got != want {
			t.Errorf("CRD default of %v = %q, Go default %q", tt.path, got, want)
		}
	}
}

type schema struct {
	Default    any               `json:"default"`
	Properties map[string]schema `json:"properties"`
}
