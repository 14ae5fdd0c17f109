package main

// The name Envoy's container runs under: container-holder, container-claim (files/limen-host.sh's
// subcommands of the same names). The Docker provider finds its container by id. When a container
// started by hand holds the name (the stack's removed, and another image run in its place), the
// provider's create fails with Docker's "name already in use" and the hand-made one keeps the front
// door. The stack claims the name first: a holder whose image was not pulled from the planned image's
// repository is not the stack's, and goes.

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"limen-infra/tools/limen-host/limits"
)

func init() {
	register("container-holder", handle(runContainerHolder, true))
	register("container-claim", handle(runContainerClaim, true))
}

var (
	containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	// pinnedImage: REPOSITORY[:TAG]@sha256:DIGEST, as the plan pins images.
	pinnedImage = regexp.MustCompile(`^[a-z0-9._/:-]+@sha256:[0-9a-f]{64}$`)
)

// container-holder: what holds a container name, judged against the planned image.
type containerHolderRequest struct {
	common
	// Name: the container's name ("limen-envoy").
	Name string `json:"name" required:"true"`
	// Image: the planned image, pinned by digest.
	Image string `json:"image" required:"true"`
}

func (r *containerHolderRequest) validate() error {
	if !containerName.MatchString(r.Name) {
		return fmt.Errorf("%s: not a container name", r.Name)
	}
	if !pinnedImage.MatchString(r.Image) {
		return fmt.Errorf("%s: not an image pinned by digest", r.Image)
	}
	return nil
}

// containerClaimRequest: container-claim takes the same fields.
type containerClaimRequest containerHolderRequest

func (r *containerClaimRequest) validate() error { return (*containerHolderRequest)(r).validate() }

// containerHolder: what holds the name.
type containerHolder struct {
	// Holder: none (no container has the name), planned (the planned image, pulled as Image), stack
	// (another image of Image's repository: the stack's, from an earlier plan) or foreign (anything else).
	Holder string `json:"holder"`
	// ID and ImageID: the container and its image (not for none).
	ID      string `json:"id,omitempty"`
	ImageID string `json:"imageId,omitempty"`
}

func (h containerHolder) line() string {
	if h.Holder == "none" {
		return "none"
	}
	return fmt.Sprintf("%s %s %s", h.Holder, h.ID, h.ImageID)
}

func (h containerHolder) text(w io.Writer) error {
	_, err := fmt.Fprintln(w, h.line())
	return err
}

func runContainerHolder(c *call, req *containerHolderRequest) (containerHolder, error) {
	return holderOf(c, req.Name, req.Image)
}

// repositoryOf: the repository of a pinned reference, without its tag (a tag is after the last "/"; a
// registry's ":port" is before it) and without Docker Hub's "docker.io/", which Docker's lists leave out.
func repositoryOf(ref string) string {
	repository := ref[:strings.LastIndex(ref, "@")]
	if last := repository[strings.LastIndex(repository, "/")+1:]; strings.Contains(last, ":") {
		repository = repository[:strings.LastIndex(repository, ":")]
	}
	return strings.TrimPrefix(repository, "docker.io/")
}

// holderOf asks Docker what holds the name. `docker ps` fails when the daemon does not answer: an
// error, never a free name.
func holderOf(c *call, name, ref string) (containerHolder, error) {
	docker, err := c.program("docker", "docker is missing: cannot tell what holds container name "+name)
	if err != nil {
		return containerHolder{}, err
	}
	dockerCall := func(what string, quiet bool, args ...string) (string, error) {
		p := program{what: "docker " + what, argv: append([]string{docker}, args...), seconds: limits.DockerCallSeconds}
		if quiet {
			p.stderr = io.Discard
		}
		out, err := c.stdoutOf(p)
		return strings.TrimRight(string(out), "\n"), err
	}
	id, err := dockerCall("ps", false, "ps", "--all", "--no-trunc", "--quiet", "--filter", "name=^/"+name+"$")
	if err != nil {
		return containerHolder{}, errors.New("docker did not answer: cannot tell what holds container name " + name + becauseStopped(err))
	}
	if id == "" {
		return containerHolder{Holder: "none"}, nil
	}
	if strings.ContainsAny(id, "\n \t") {
		return containerHolder{}, fmt.Errorf("docker ps names more than one container %s: %q", name, id)
	}
	image, err := dockerCall("container inspect", false, "container", "inspect", "--format", "{{.Image}}", id)
	if err != nil {
		return containerHolder{}, fmt.Errorf("cannot inspect container %s (%s)%s", id, name, becauseStopped(err))
	}
	// An image committed by hand has no repository digest, and one removed since cannot be inspected:
	// neither is the stack's.
	digests, err := dockerCall("image inspect", true, "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", image)
	if interrupted(err) {
		return containerHolder{}, fmt.Errorf("cannot inspect image %s of container %s (%s)", image, name, err)
	}
	repository := repositoryOf(ref)
	digest := ref[strings.Index(ref, "@")+1:]
	stackDigest := regexp.MustCompile(`^` + regexp.QuoteMeta(repository) + `@sha256:[0-9a-f]{64}$`)
	lines := strings.Split(digests, "\n")
	holder := containerHolder{Holder: "foreign", ID: id, ImageID: image}
	switch {
	case err != nil:
	case slices.Contains(lines, repository+"@"+digest):
		holder.Holder = "planned"
	case slices.ContainsFunc(lines, stackDigest.MatchString):
		holder.Holder = "stack"
	}
	return holder, nil
}

// container-claim: a foreign holder of the name is removed, so the Docker provider can create the
// planned container; the stack's own (any image of the planned repository, running or not) stays for
// the provider to update or replace.
type containerClaim struct {
	containerHolder
	// Removed: the holder was foreign, and was removed.
	Removed bool `json:"removed"`
	name    string
	// planned: the planned image without its digest, as the text names it.
	planned string
}

func (r containerClaim) text(w io.Writer) error {
	if !r.Removed {
		return r.containerHolder.text(w)
	}
	_, err := fmt.Fprintf(w, "removed container %s (%s), which ran image %s, not one of %s\n", r.name, r.ID, r.ImageID, r.planned)
	return err
}

func runContainerClaim(c *call, req *containerClaimRequest) (containerClaim, error) {
	holder, err := holderOf(c, req.Name, req.Image)
	if err != nil {
		return containerClaim{}, err
	}
	claim := containerClaim{containerHolder: holder, name: req.Name, planned: req.Image[:strings.LastIndex(req.Image, "@")]}
	if holder.Holder != "foreign" {
		return claim, nil
	}
	docker, _ := c.program("docker", "")
	err = c.run(program{what: "docker rm", argv: []string{docker, "rm", "--force", holder.ID}, seconds: limits.DockerCallSeconds, stdout: io.Discard})
	if err != nil {
		return containerClaim{}, fmt.Errorf("cannot remove container %s (%s, image %s)%s", req.Name, holder.ID, holder.ImageID, becauseStopped(err))
	}
	claim.Removed = true
	return claim, nil
}

// becauseStopped: why a docker call that did not finish failed (its deadline, or the tool's own), to
// follow the bash tool's words; empty for a call that failed by itself, whose words docker printed.
func becauseStopped(err error) string {
	if interrupted(err) {
		return ": " + err.Error()
	}
	return ""
}
