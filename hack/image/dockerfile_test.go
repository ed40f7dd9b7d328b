package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerStage is what a Dockerfile stage says about its image.
type dockerStage struct {
	entrypoint []string
	user       string
	labels     []string
	copies     map[string]string // destination -> source
	builds     []string          // RUN go build commands, continuation lines joined
}

func parseDockerfile(t *testing.T) map[string]*dockerStage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(raw), " ")
	stages := map[string]*dockerStage{}
	var cur *dockerStage
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			cur = &dockerStage{copies: map[string]string{}}
			stages[f[len(f)-1]] = cur
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &cur.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s is not the exec (JSON) form: %v", rest, err)
			}
		case "USER":
			cur.user = rest
		case "LABEL":
			for _, m := range regexp.MustCompile(`([a-z.]+)=`).FindAllStringSubmatch(rest, -1) {
				cur.labels = append(cur.labels, m[1])
			}
		case "COPY":
			f := strings.Fields(rest)
			cur.copies[f[len(f)-1]] = f[len(f)-2]
		case "RUN":
			for _, cmd := range strings.Split(rest, "&&") {
				if strings.Contains(cmd, "go build") {
					cur.builds = append(cur.builds, strings.TrimSpace(cmd))
				}
			}
		}
	}
	return stages
}

// TestDockerfileAgrees: the Dockerfile (for people with Docker) and hack/image (make image) build
// the same images: each image's stage has the same entrypoint and user and the OCI labels, and
// its binary is built from the same package with the same go build flags and CGO off.
func TestDockerfileAgrees(t *testing.T) {
	stages := parseDockerfile(t)
	builder := stages["builder"]
	if builder == nil {
		t.Fatal("no builder stage in the Dockerfile")
	}
	for _, img := range Images {
		name := strings.TrimPrefix(img.Name, "securesite-")
		st := stages[name]
		if st == nil {
			t.Errorf("no Dockerfile stage %q (docker build --target %s) for %s", name, name, img.Name)
			continue
		}
		checkStageRunsLikeImage(t, name, st, img)
		checkStageBuildsLikeImage(t, name, st, builder, img)
	}
}

// checkStageRunsLikeImage: the stage's entrypoint, user and OCI labels are make image's.
func checkStageRunsLikeImage(t *testing.T, name string, st *dockerStage, img Image) {
	t.Helper()
	if !slices.Equal(st.entrypoint, []string{img.Binary}) {
		t.Errorf("%s: Dockerfile ENTRYPOINT %v, make image %v", name, st.entrypoint, []string{img.Binary})
	}
	if st.user != User {
		t.Errorf("%s: Dockerfile USER %q, make image %q", name, st.user, User)
	}
	for _, l := range []string{"org.opencontainers.image.source", "org.opencontainers.image.version", "org.opencontainers.image.revision"} {
		if !slices.Contains(st.labels, l) {
			t.Errorf("%s: Dockerfile lacks LABEL %s", name, l)
		}
	}
}

// checkStageBuildsLikeImage: the binary the stage copies is built in the builder stage from the
// same package with make image's go build arguments and CGO off.
func checkStageBuildsLikeImage(t *testing.T, name string, st, builder *dockerStage, img Image) {
	t.Helper()
	wantFlags := GoBuildArgs("${VERSION}", "${REVISION}")
	src, ok := st.copies[img.Binary]
	if !ok {
		t.Errorf("%s: the Dockerfile copies nothing to %s", name, img.Binary)
		return
	}
	var build string
	for _, b := range builder.builds {
		if strings.Contains(b, "-o "+src+" ") {
			build = b
		}
	}
	if build == "" {
		t.Errorf("%s: no go build writes %s", name, src)
		return
	}
	if !strings.Contains(build, "CGO_ENABLED=0") {
		t.Errorf("%s: the Dockerfile builds with cgo: %s", name, build)
	}
	if got := dockerBuildArgs(build); !slices.Equal(got, append(append([]string{}, wantFlags...), "-o", src, img.Package)) {
		t.Errorf("%s: Dockerfile go build arguments\n %q\nmake image's\n %q", name, got, append(wantFlags, "-o", src, img.Package))
	}
}

// dockerBuildArgs splits the arguments after `go build` the way the shell does for these
// commands (double quotes around -ldflags' value, no escapes).
func dockerBuildArgs(cmd string) []string {
	_, after, _ := strings.Cut(cmd, "go build ")
	var args []string
	for _, m := range regexp.MustCompile(`(-ldflags)="([^"]*)"|(\S+)`).FindAllStringSubmatch(after, -1) {
		if m[1] != "" {
			args = append(args, m[1], m[2])
		} else {
			args = append(args, m[3])
		}
	}
	return args
}
