package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

const commandToken = "command:remote:Command"

//go:embed schema.json
var schemaJSON string

func newProvider() p.Provider {
	return p.Provider{
		GetSchema: func(context.Context, p.GetSchemaRequest) (p.GetSchemaResponse, error) {
			return p.GetSchemaResponse{Schema: schemaJSON}, nil
		},
		// The package has no provider configuration (as upstream).
		CheckConfig: func(_ context.Context, req p.CheckRequest) (p.CheckResponse, error) {
			return p.CheckResponse{Inputs: req.Inputs}, nil
		},
		DiffConfig: func(context.Context, p.DiffRequest) (p.DiffResponse, error) {
			return p.DiffResponse{}, nil
		},
		Configure: func(context.Context, p.ConfigureRequest) error { return nil },
		Check:     check,
		Diff:      diff,
		Create:    create,
		Read:      read,
		Update:    update,
		Delete:    del,
	}
}

func checkToken(urnType string) error {
	if urnType != commandToken {
		return fmt.Errorf("the lab stand-in pulumi-resource-command implements only %s, not %s",
			commandToken, urnType)
	}
	return nil
}

// check validates the inputs and returns them unchanged (defaults are applied
// where they are used, so the recorded inputs keep the program's representation;
// the Node SDK fills in the connection defaults itself).
func check(_ context.Context, req p.CheckRequest) (p.CheckResponse, error) {
	if err := checkToken(req.Urn.Type().String()); err != nil {
		return p.CheckResponse{}, err
	}
	_, d := decodeInputs(req.Inputs, true)
	return p.CheckResponse{Inputs: req.Inputs, Failures: d.failures}, nil
}

func diff(_ context.Context, req p.DiffRequest) (p.DiffResponse, error) {
	olds := req.OldInputs
	if olds.Len() == 0 {
		// Engines that do not send old inputs: the state holds the inputs too.
		olds = req.State
	}
	return computeDiff(olds, req.Inputs, req.IgnoreChanges, triggersMode()), nil
}

func newID(name string) (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return name + hex.EncodeToString(b), nil
}

func create(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
	if err := checkToken(req.Urn.Type().String()); err != nil {
		return p.CreateResponse{}, err
	}
	in, d := decodeInputs(req.Properties, req.DryRun)
	if err := d.err(); err != nil {
		return p.CreateResponse{}, err
	}
	id, err := newID(req.Urn.Name())
	if err != nil {
		return p.CreateResponse{}, err
	}
	if req.DryRun {
		unknown := property.New(property.Computed)
		return p.CreateResponse{ID: id, Properties: outputsFromInputs(req.Properties, unknown, unknown)}, nil
	}
	var stdout, stderr string
	if in.Create != nil {
		stdout, stderr, err = runRemote(ctx, in, *in.Create, "", "")
		if err != nil {
			return p.CreateResponse{}, err
		}
	}
	return p.CreateResponse{
		ID:         id,
		Properties: outputsFromInputs(req.Properties, property.New(stdout), property.New(stderr)),
	}, nil
}

func update(ctx context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
	in, d := decodeInputs(req.Inputs, req.DryRun)
	if err := d.err(); err != nil {
		return p.UpdateResponse{}, err
	}
	oldStdout, oldStderr := outputString(req.State, "stdout"), outputString(req.State, "stderr")
	cmd := in.Update
	if cmd == nil {
		cmd = in.Create
	}
	if cmd == nil {
		// Nothing to run: the previous outputs stay.
		return p.UpdateResponse{Properties: outputsFromInputs(req.Inputs,
			property.New(oldStdout), property.New(oldStderr))}, nil
	}
	if req.DryRun {
		unknown := property.New(property.Computed)
		return p.UpdateResponse{Properties: outputsFromInputs(req.Inputs, unknown, unknown)}, nil
	}
	stdout, stderr, err := runRemote(ctx, in, *cmd, oldStdout, oldStderr)
	if err != nil {
		return p.UpdateResponse{}, err
	}
	return p.UpdateResponse{
		Properties: outputsFromInputs(req.Inputs, property.New(stdout), property.New(stderr)),
	}, nil
}

func del(ctx context.Context, req p.DeleteRequest) error {
	// The state holds the inputs of the last create/update plus stdout/stderr.
	in, d := decodeInputs(req.Properties, false)
	if in.Delete == nil {
		return nil
	}
	if err := d.err(); err != nil {
		return err
	}
	_, _, err := runRemote(ctx, in, *in.Delete,
		outputString(req.Properties, "stdout"), outputString(req.Properties, "stderr"))
	return err
}

// read (refresh) reports the recorded state unchanged, as upstream does: a
// command has nothing to read back.
func read(_ context.Context, req p.ReadRequest) (p.ReadResponse, error) {
	return p.ReadResponse{ID: req.ID, Properties: req.Properties, Inputs: req.Inputs}, nil
}
