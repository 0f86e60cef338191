"""The labels and annotations Hummer reads and writes: the one set of these names."""
from __future__ import annotations

APP_LABEL = "hummer.io/app"                  # on every object of an app, and the cache's selector
PROJECT_LABEL = "hummer.io/project"          # on a project's Namespace
VOLUME_LABEL = "hummer.io/volume"            # on a volume's PersistentVolume and claim: the claim's name
BUILD_LABEL = "hummer.io/build"              # on an in-cluster build's Job and pod: the build's id
MANAGED = {"app.kubernetes.io/managed-by": "hummer"}
NAME_LABEL = "app.kubernetes.io/name"
POD_TEMPLATE_HASH = "pod-template-hash"      # set by the Deployment controller
STOP_ANNOTATION = "hummer.io/replicas-before-stop"
PLAN_ANNOTATION = "hummer.io/plan"
METRICS_SINCE_ANNOTATION = "hummer.io/metrics-since"  # RFC 3339: the app's charts start here (default: its creation)
RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
PULL_SECRET_ANNOTATION = "hummer.io/credentials-digest"  # on the pull Secret: a keyed digest, never the password
HPA_CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"  # where autoscaling/v1 keeps them
FIELD_MANAGER = "hummer"   # server-side apply: the fields the portal's forms own
