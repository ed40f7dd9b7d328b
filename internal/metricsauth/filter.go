// Package metricsauth guards the metrics endpoint when it is served over HTTPS: the caller's
// bearer token is checked with a TokenReview, and the caller must be allowed to GET the path by a
// SubjectAccessReview (the install's metrics-reader ClusterRole grants `get` on the non-resource
// URL /metrics). This is what controller-runtime's metrics filter does; it is written here on the
// two typed clients because that filter links the whole of k8s.io/apiserver (CEL, OpenAPI and
// admission included), which made the binary 33 MB larger and the manager's resident memory
// 20 MB larger for two API calls.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The cache lifetimes and the retry schedule are those of the API server's delegating
// authenticator and authorizer, which controller-runtime's filter configures: a token review is
// trusted for a minute, an allowed request for five, a denied one for thirty seconds.
const (
	tokenTTL    = time.Minute
	allowTTL    = 5 * time.Minute
	denyTTL     = 30 * time.Second
	callTimeout = 10 * time.Second
)

var retry = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// user is who a token review said the caller is.
type user struct {
	Name, UID string
	Groups    []string
	Extra     map[string]authnv1.ExtraValue
}

// reviewer asks the API server who the caller is and what it may do, and remembers the answers
// for a while, so that a scrape every few seconds costs no API call.
type reviewer struct {
	tokens    authenticationv1.TokenReviewInterface
	access    authorizationv1.SubjectAccessReviewInterface
	users     *ttlCache[*user] // by token hash; nil value: not authenticated
	decisions *ttlCache[bool]  // by user and request
}

// Filter is a metricsserver.FilterProvider: set it as Metrics.FilterProvider with SecureServing.
func Filter(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	r := &reviewer{
		tokens: authn.TokenReviews(), access: authz.SubjectAccessReviews(),
		users: newTTLCache[*user](), decisions: newTTLCache[bool](),
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.serve(log, next, w, req)
		}), nil
	}, nil
}

func (r *reviewer) serve(log logr.Logger, next http.Handler, w http.ResponseWriter, req *http.Request) {
	token, ok := bearerToken(req)
	if !ok {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	u, err := r.authenticate(req.Context(), token)
	if err != nil {
		log.Error(err, "Authentication failed")
		http.Error(w, "Authentication failed", http.StatusInternalServerError)
		return
	}
	if u == nil {
		log.V(4).Info("Authentication failed")
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	allowed, err := r.authorize(req.Context(), u, strings.ToLower(req.Method), req.URL.Path)
	if err != nil {
		msg := fmt.Sprintf("Authorization for user %s failed", u.Name)
		log.Error(err, msg)
		http.Error(w, msg, http.StatusInternalServerError)
		return
	}
	if !allowed {
		msg := fmt.Sprintf("Authorization denied for user %s", u.Name)
		log.V(4).Info(msg)
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	next.ServeHTTP(w, req)
}

// bearerToken reads "Authorization: Bearer <token>" (the scheme in any case, as the API server
// accepts it).
func bearerToken(req *http.Request) (string, bool) {
	parts := strings.Fields(req.Header.Get("Authorization"))
	if len(parts) != 2 || !strings.EqualFold(parts[0], "bearer") {
		return "", false
	}
	return parts[1], true
}

// authenticate returns the token's user, or nil when the API server does not accept the token.
func (r *reviewer) authenticate(ctx context.Context, token string) (*user, error) {
	sum := sha256.Sum256([]byte(token)) // the cache never holds the token itself
	key := string(sum[:])
	if u, ok := r.users.get(key); ok {
		return u, nil
	}
	var status authnv1.TokenReviewStatus
	err := withRetry(ctx, func(ctx context.Context) error {
		res, err := r.tokens.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		if err == nil {
			status = res.Status
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("token review: %w", err)
	}
	var u *user
	if status.Authenticated {
		u = &user{Name: status.User.Username, UID: status.User.UID, Groups: withAuthenticatedGroup(status.User.Groups), Extra: status.User.Extra}
	}
	r.users.put(key, u, tokenTTL)
	return u, nil
}

// withAuthenticatedGroup adds system:authenticated, as the API server's own authenticators do.
func withAuthenticatedGroup(groups []string) []string {
	for _, g := range groups {
		if g == "system:authenticated" {
			return groups
		}
	}
	return append(append([]string(nil), groups...), "system:authenticated")
}

// authorize asks whether u may use verb on the non-resource path.
func (r *reviewer) authorize(ctx context.Context, u *user, verb, path string) (bool, error) {
	spec := authzv1.SubjectAccessReviewSpec{
		User: u.Name, UID: u.UID, Groups: u.Groups,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb},
	}
	for k, v := range u.Extra {
		if spec.Extra == nil {
			spec.Extra = map[string]authzv1.ExtraValue{}
		}
		spec.Extra[k] = authzv1.ExtraValue(v)
	}
	key := fmt.Sprintf("%q %q %q %q %q %v", u.Name, u.UID, verb, path, u.Groups, u.Extra)
	if allowed, ok := r.decisions.get(key); ok {
		return allowed, nil
	}
	var allowed bool
	err := withRetry(ctx, func(ctx context.Context) error {
		res, err := r.access.Create(ctx, &authzv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
		if err == nil {
			allowed = res.Status.Allowed && !res.Status.Denied
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("subject access review: %w", err)
	}
	ttl := denyTTL
	if allowed {
		ttl = allowTTL
	}
	r.decisions.put(key, allowed, ttl)
	return allowed, nil
}

// withRetry calls f with a bounded timeout, retrying failures on the delegating authenticator's
// schedule (500 ms × 1.5, five tries) until the request's own context ends.
func withRetry(ctx context.Context, f func(context.Context) error) error {
	var last error
	err := wait.ExponentialBackoffWithContext(ctx, retry, func(ctx context.Context) (bool, error) {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		last = f(cctx)
		return last == nil, nil
	})
	if last != nil {
		return last
	}
	return err
}
