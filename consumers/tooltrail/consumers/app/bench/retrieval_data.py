"""A retrieval evaluation set: memory documents that should find each other, and others.

Each group is one incident (or one recurring error) seen through several tool calls: the
same pod crash-looping in ``get_pods``, its logs and its events; the same error worded by
two different clients; a deployment scaled and then failing. Mates must be in each other's
top 3. The distractors share vocabulary with the groups (the same namespace healthy, the
same error on another object, another node, another image) but are other incidents.

The calls are written here as a tool would make them; ``documents()`` turns each into its
memory document with the production path (``build_event`` redacts and bounds it, ``to_memory``
summarises it), with fixed timestamps, so the texts are exactly what the memory group
embeds and are the same on every run.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tooltrail.consumers.memory.records import embedding_text, to_memory
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.events import Outcome, ToolExecutionEvent


class Call(NamedTuple):
    """One tool call: what was asked, how it ended, when (``MM-DDTHH:MM:SS`` in 2026)."""

    tool: str
    args: dict[str, Any]
    at: str
    result: str | None = None
    error: str | None = None
    session: str = "sess-ops-1"
    ms: float = 15.0


class EvalDoc(NamedTuple):
    """A memory document of the set; ``group`` is None for a distractor."""

    id: str
    group: str | None
    text: str
    view: str  # what the memory and enrich groups embed (``embedding_text``)


def _c(
    tool: str,
    at: str,
    *,
    result: str | None = None,
    error: str | None = None,
    session: str = "sess-ops-1",
    ms: float = 15.0,
    **args: Any,
) -> Call:
    return Call(tool, args, at, result, error, session, ms)


_PODS_HEAD = "NAME                          READY   STATUS             RESTARTS   AGE\n"
_MONITORING_PODS = """\
alertmanager-main-0             6/6     Running            0          4d
alertmanager-main-1             6/6     Running            0          4d
cluster-monitoring-operator-7f9   1/1     Running            0          4d
grafana-6f7c9b-9qq2w            1/1     Running            0          4d
kube-state-metrics-5d8c7-jq2xw   3/3     Running            0          4d
node-exporter-2kqfx             2/2     Running            0          4d
node-exporter-8b7sd             2/2     Running            0          4d
node-exporter-fw2lm             2/2     Running            0          4d
node-exporter-m4x9t             2/2     Running            0          4d
node-exporter-z7c1k             2/2     Running            0          4d
openshift-state-metrics-6c5-p8  3/3     Running            0          4d
prometheus-adapter-5b9-7wq4m    1/1     Running            0          4d
prometheus-k8s-0                6/6     Running            0          4d
prometheus-k8s-1                6/6     Running            0          4d
prometheus-operator-6fd-2zz8k   2/2     Running            0          4d
thanos-querier-79c-5jr6d        6/6     Running            0          4d"""
_KSM_RESOURCES = (
    "pods, nodes, deployments",
    "services, endpoints, secrets",
    "configmaps, jobs, cronjobs",
    "persistentvolumeclaims, leases",
)
_SLOW_QUERIES = tuple(
    f"SELECT * FROM orders_search WHERE note ILIKE '%{word}%'"  # noqa: S608 - log text
    for word in ("gift", "refund", "priority", "fragile", "express")
)

# fmt: off
GROUPS: dict[str, tuple[Call, ...]] = {
    "crashloop-payments-web": (
        _c("oc_read_get_pods", "11-23T10:14:03", namespace="payments", session="sess-pay-1",
           result=_PODS_HEAD
           + "web-7d9f4c-x2lqp              0/1     CrashLoopBackOff   14         2h\n"
           "web-7d9f4c-8kd2n              1/1     Running            0          2h\n"
           "ledger-6b9c7d-tt4wz           1/1     Running            0          6d\n"
           "payments-worker-5f6d8-qq9zr   1/1     Running            1          6d"),
        _c("oc_read_logs", "11-23T10:15:40", namespace="payments", pod="web-7d9f4c-x2lqp",
           tail=6, session="sess-pay-1",
           result="2026-11-23T10:13:51Z INFO starting web 3.14.2\n"
           "2026-11-23T10:13:51Z INFO connecting to postgres payments-db:5432\n"
           "2026-11-23T10:13:52Z ERROR dial tcp 172.30.12.40:5432: connect: connection refused\n"
           "2026-11-23T10:13:52Z FATAL cannot reach database after 3 attempts, exiting\n"
           "panic: database unavailable\n"
           "goroutine 1 [running]:"),
        _c("oc_read_get_events", "11-23T10:16:12", namespace="payments", session="sess-pay-1",
           result="Warning BackOff pod/web-7d9f4c-x2lqp Back-off restarting failed container "
           "web in pod web-7d9f4c-x2lqp\nNormal Pulled pod/web-7d9f4c-x2lqp Container image "
           "already present on machine"),
        _c("oc_read_describe_pod", "11-23T10:17:30", namespace="payments", pod="web-7d9f4c-x2lqp",
           session="sess-pay-1",
           result="Name: web-7d9f4c-x2lqp\nNamespace: payments\nStatus: CrashLoopBackOff\n"
           "Restart Count: 15\nLast State: Terminated, reason Error (exit code 2)\n"
           "Events: Back-off restarting failed container"),
    ),
    "oom-checkout-api": (
        _c("oc_read_describe_pod", "11-23T11:02:10", namespace="checkout", pod="api-5c8b7-hx7fm",
           session="sess-chk-2",
           result="Name: api-5c8b7-hx7fm\nNamespace: checkout\nStatus: Running\n"
           "Restart Count: 6\nLast State: Terminated, reason OOMKilled (exit code 137)\n"
           "Limits: cpu 500m, memory 512Mi\nRequests: cpu 250m, memory 384Mi"),
        _c("oc_read_get_events", "11-23T11:03:05", namespace="checkout", session="sess-chk-2",
           result="Warning OOMKilling node/worker-2 Memory cgroup out of memory: Killed process "
           "40121 (java) total-vm:2841212kB, anon-rss:524112kB\nWarning BackOff "
           "pod/api-5c8b7-hx7fm Back-off restarting failed container api"),
        _c("oc_read_get_pods", "11-23T11:05:44", namespace="checkout", session="sess-chk-2",
           result=_PODS_HEAD
           + "api-5c8b7-hx7fm               1/1     Running            7 (40s ago)   1d\n"
           "api-5c8b7-r2w9d               1/1     Running            0          1d\n"
           "cart-84f5b-mm2tq              1/1     Running            0          3d\n"
           "redis-0                       1/1     Running            0          9d\n"
           "note: api-5c8b7-hx7fm last terminated OOMKilled"),
    ),
    "imagepull-monitoring-grafana": (
        _c("oc_read_get_pods", "11-23T09:21:00", namespace="monitoring", session="sess-mon-1",
           result=_PODS_HEAD
           + "grafana-6f7c9b-4pz8k          0/1     ImagePullBackOff   0          12m\n"
           "prometheus-k8s-0              2/2     Running            0          4d\n"
           "alertmanager-main-0           2/2     Running            0          4d"),
        _c("oc_read_get_events", "11-23T09:21:31", namespace="monitoring", session="sess-mon-1",
           result='Warning Failed pod/grafana-6f7c9b-4pz8k Failed to pull image '
           '"quay.io/grafana/grafana:10.4.99": reading manifest 10.4.99 in '
           "quay.io/grafana/grafana: manifest unknown\nWarning Failed pod/grafana-6f7c9b-4pz8k "
           "Error: ErrImagePull\nNormal BackOff pod/grafana-6f7c9b-4pz8k Back-off pulling image"),
        _c("oc_read_describe_pod", "11-23T09:22:15", namespace="monitoring",
           pod="grafana-6f7c9b-4pz8k", session="sess-mon-1",
           result="Name: grafana-6f7c9b-4pz8k\nNamespace: monitoring\nStatus: Pending\n"
           "Image: quay.io/grafana/grafana:10.4.99\nState: Waiting, reason ImagePullBackOff\n"
           "Events: manifest unknown for tag 10.4.99"),
    ),
    "node-notready-worker-3": (
        _c("oc_read_get_nodes", "11-23T09:45:10", session="sess-infra-1",
           result="NAME       STATUS     ROLES    AGE   VERSION\n"
           "master-0   Ready      master   90d   v1.29.6\nmaster-1   Ready      master   90d   "
           "v1.29.6\nworker-1   Ready      worker   90d   v1.29.6\nworker-2   Ready      worker   "
           "90d   v1.29.6\nworker-3   NotReady   worker   90d   v1.29.6"),
        _c("oc_read_describe_node", "11-23T09:46:02", node="worker-3", session="sess-infra-1",
           result="Name: worker-3\nConditions: Ready False, reason KubeletNotReady: container "
           "runtime is down, PLEG is not healthy: pleg was last seen active 4m12s ago\n"
           "Taints: node.kubernetes.io/unreachable:NoExecute"),
        _c("oc_diagnostic_cluster_health", "11-23T09:48:40", session="sess-infra-2",
           result="etcd: healthy (3/3)\napiserver: healthy\nnodes: 4/5 Ready (worker-3 NotReady "
           "since 09:41, kubelet stopped posting node status)"),
    ),
    "pvc-pending-prometheus": (
        _c("oc_read_get_pvc", "11-24T08:10:00", namespace="monitoring", session="sess-mon-4",
           result="NAME                                  STATUS    VOLUME   CAPACITY   "
           "STORAGECLASS\nprometheus-data-prometheus-k8s-1     Pending                       "
           "gp3-csi\nalertmanager-data-alertmanager-main-0 Bound     pvc-1e2f 10Gi       gp3-csi"),
        _c("oc_read_get_events", "11-24T08:10:30", namespace="monitoring", session="sess-mon-4",
           result="Warning ProvisioningFailed persistentvolumeclaim/prometheus-data-prometheus-"
           'k8s-1 failed to provision volume with StorageClass "gp3-csi": rpc error: code = '
           "Internal desc = Could not create volume: UnauthorizedOperation"),
        _c("oc_read_describe_pod", "11-24T08:11:12", namespace="monitoring", pod="prometheus-k8s-1",
           session="sess-mon-4",
           result="Name: prometheus-k8s-1\nNamespace: monitoring\nStatus: Pending\n"
           "Events: FailedScheduling 0/5 nodes are available: pod has unbound immediate "
           "PersistentVolumeClaims"),
    ),
    "cert-expired-payments-gateway": (
        _c("oc_diagnostic_http_check", "11-24T00:20:11", session="sess-pay-7",
           url="https://gateway-payments.apps.ocp.example.com/healthz",
           error="Get https://gateway-payments.apps.ocp.example.com/healthz: x509: certificate "
           "has expired or is not yet valid: current time 2026-11-24T00:20:11Z is after "
           "2026-11-24T00:00:00Z"),
        _c("oc_read_get_certificates", "11-24T00:22:40", namespace="payments", session="sess-pay-7",
           result="NAME          READY   SECRET        NOT AFTER              RENEWAL\n"
           "gateway-tls   False   gateway-tls   2026-11-24T00:00:00Z   failed: ACME order "
           "pending (HTTP-01 challenge unreachable)"),
        _c("oc_read_logs", "11-24T00:25:02", namespace="payments", pod="checkout-client-7b5-kk2",
           tail=3, session="sess-pay-8",
           result="2026-11-24T00:24:58Z ERROR call to gateway-payments failed: tls: failed to "
           "verify certificate: x509: certificate has expired\n2026-11-24T00:24:59Z WARN "
           "retrying payment capture in 5s\n2026-11-24T00:25:01Z ERROR giving up after 3 tries"),
    ),
    "dns-timeouts-checkout": (
        _c("oc_read_logs", "11-24T13:02:09", namespace="checkout", pod="cart-84f5b-mm2tq", tail=4,
           session="sess-chk-9",
           result="2026-11-24T13:01:55Z ERROR redis: dial tcp: lookup "
           "redis.checkout.svc.cluster.local on 172.30.0.10:53: read udp "
           "10.128.3.7:49811->172.30.0.10:53: i/o timeout\n2026-11-24T13:02:01Z WARN session "
           "cache unavailable, falling back to database"),
        _c("oc_diagnostic_dns_lookup", "11-24T13:03:30", name="redis.checkout.svc.cluster.local",
           session="sess-chk-9",
           error=";; connection timed out; no servers could be reached (resolver 172.30.0.10)"),
        _c("oc_read_get_pods", "11-24T13:04:12", namespace="openshift-dns", session="sess-chk-9",
           result=_PODS_HEAD
           + "dns-default-4kq2p             1/2     Running            9          21d\n"
           "dns-default-9xw7c             1/2     Running            11         21d\n"
           "node-resolver-5ztl8           1/1     Running            0          21d"),
    ),
    "quota-exceeded-checkout": (
        _c("oc_write_scale_deployment", "11-24T15:30:00", namespace="checkout", deployment="api",
           replicas=12, session="sess-chk-12",
           error='pods "api-5c8b7-zz81q" is forbidden: exceeded quota: compute-resources, '
           "requested: limits.cpu=500m, used: limits.cpu=8, limited: limits.cpu=8"),
        _c("oc_read_get_quota", "11-24T15:31:10", namespace="checkout", session="sess-chk-12",
           result="NAME                AGE   REQUEST                      LIMIT\n"
           "compute-resources   40d   pods: 18/20, requests.cpu: 4/4   limits.cpu: 8/8, "
           "limits.memory: 14Gi/16Gi"),
        _c("oc_read_get_events", "11-24T15:31:45", namespace="checkout", session="sess-chk-13",
           result="Warning FailedCreate replicaset/api-5c8b7 Error creating: pods "
           '"api-5c8b7-w2x4c" is forbidden: exceeded quota: compute-resources, requested: '
           "limits.cpu=500m, used: limits.cpu=8, limited: limits.cpu=8"),
    ),
    "scaled-then-pending-cart": (
        _c("oc_write_scale_deployment", "11-25T09:00:05", namespace="checkout", deployment="cart",
           replicas=8, session="sess-chk-20",
           result="deployment.apps/cart scaled to 8 in checkout"),
        _c("oc_read_rollout_status", "11-25T09:06:40", namespace="checkout", deployment="cart",
           session="sess-chk-20",
           error='Waiting for deployment "cart" rollout to finish: 3 of 8 updated replicas are '
           "available... (timed out after 5m)"),
        _c("oc_read_get_events", "11-25T09:07:02", namespace="checkout", session="sess-chk-20",
           result="Warning FailedScheduling pod/cart-84f5b-q8vvn 0/5 nodes are available: "
           "2 Insufficient cpu, 3 node(s) had untolerated taint\nWarning FailedScheduling "
           "pod/cart-84f5b-l5s2x 0/5 nodes are available: 2 Insufficient cpu"),
    ),
    "etcd-member-unhealthy": (
        _c("oc_diagnostic_cluster_health", "11-23T10:30:00", session="sess-infra-3",
           error="etcd member etcd-2 unhealthy: context deadline exceeded"),
        _c("oc_diagnostic_etcd_status", "11-23T10:31:20", session="sess-infra-3",
           error="etcd cluster degraded: member etcd-2 (10.0.1.12:2379) failed its health probe "
           "(timeout after 5s); 2 of 3 members healthy"),
        _c("oc_read_logs", "11-23T10:33:05", namespace="openshift-etcd", pod="etcd-master-2",
           tail=3, session="sess-infra-3",
           result="2026-11-23T10:32:51Z W | etcdserver: slow fdatasync took 2.31s\n"
           "2026-11-23T10:32:58Z W | etcdserver: apply request took too long (1.9s) "
           "expected-duration 100ms\n2026-11-23T10:33:02Z W | rafthttp: health check for "
           "peer 6e3bd23ae5f1eae0 could not connect: i/o timeout"),
    ),
    "postgres-refused-orders": (
        _c("oc_read_logs", "11-25T14:12:00", namespace="orders", pod="orders-api-77d6-pq2", tail=2,
           session="sess-ord-1",
           result='psycopg2.OperationalError: could not connect to server: Connection refused\n'
           '\tIs the server running on host "orders-db" (172.30.44.2) and accepting TCP/IP '
           "connections on port 5432?"),
        _c("oc_read_logs", "11-25T14:13:30", namespace="orders", pod="orders-worker-5bd-xk1",
           tail=2, session="sess-ord-2",
           result='sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to '
           'server at "orders-db" (172.30.44.2), port 5432 failed: Connection refused'),
        _c("oc_read_get_pods", "11-25T14:14:10", namespace="orders", session="sess-ord-1",
           result=_PODS_HEAD
           + "orders-api-77d6-pq2           1/1     Running            3          5d\n"
           "orders-worker-5bd-xk1         1/1     Running            2          5d\n"
           "orders-db-0                   0/1     CrashLoopBackOff   8          30d"),
    ),
    "rbac-forbidden-ci-secret": (
        _c("oc_read_get_secret", "11-24T16:40:00", namespace="ci", name="deploy-key",
           session="sess-ci-3",
           error='secrets "deploy-key" is forbidden: User "system:serviceaccount:ci:bot" cannot '
           'get resource "secrets" in API group "" in the namespace "ci"'),
        _c("oc_read_list_secrets", "11-24T16:41:12", namespace="ci", session="sess-ci-3",
           error='Error from server (Forbidden): secrets is forbidden: User '
           '"system:serviceaccount:ci:bot" cannot list resource "secrets" in API group "" in '
           'the namespace "ci"'),
    ),
    "liveness-503-search": (
        _c("oc_read_get_events", "11-25T07:50:00", namespace="search", session="sess-srch-1",
           result="Warning Unhealthy pod/indexer-0 Liveness probe failed: HTTP probe failed "
           "with statuscode: 503\nNormal Killing pod/indexer-0 Container indexer failed "
           "liveness probe, will be restarted"),
        _c("oc_read_logs", "11-25T07:51:15", namespace="search", pod="indexer-0", tail=3,
           session="sess-srch-1",
           result="2026-11-25T07:49:58Z WARN /healthz returning 503: elasticsearch cluster "
           "health is red\n2026-11-25T07:49:59Z ERROR shard [products][2] unassigned: "
           "NODE_LEFT\n2026-11-25T07:50:01Z INFO received SIGTERM, shutting down"),
        _c("oc_read_describe_pod", "11-25T07:52:00", namespace="search", pod="indexer-0",
           session="sess-srch-1",
           result="Name: indexer-0\nNamespace: search\nStatus: Running\nRestart Count: 4\n"
           "Last State: Terminated, reason Error (exit code 143)\nLiveness: http-get "
           ":8080/healthz delay=30s timeout=1s period=10s #failure=3"),
    ),
    "router-pending-ingress": (
        _c("oc_diagnostic_cluster_health", "11-23T12:00:00", session="sess-infra-5",
           result="etcd: healthy (3/3)\napiserver: healthy\ningress: degraded (1 router pod "
           "pending)"),
        _c("oc_read_get_pods", "11-23T12:01:10", namespace="openshift-ingress",
           session="sess-infra-5",
           result=_PODS_HEAD
           + "router-default-6cf9d-2hqzt    1/1     Running            0          12d\n"
           "router-default-6cf9d-n7ltb    0/1     Pending            0          47m"),
        _c("oc_read_get_events", "11-23T12:02:00", namespace="openshift-ingress",
           session="sess-infra-5",
           result="Warning FailedScheduling pod/router-default-6cf9d-n7ltb 0/5 nodes are "
           "available: 2 node(s) didn't match pod anti-affinity rules, 3 node(s) didn't match "
           "Pod's node affinity/selector"),
    ),
    "namespace-typo-payment": (
        _c("oc_read_get_pods", "11-25T10:00:00", namespace="payment", session="sess-new-1",
           error='namespaces "payment" not found'),
        _c("oc_read_get_events", "11-25T10:00:20", namespace="payment", session="sess-new-1",
           error='Error from server (NotFound): namespaces "payment" not found'),
    ),
    "pod-gone-checkout-api-1": (
        _c("oc_read_describe_pod", "11-23T08:37:35", namespace="checkout", pod="api-1",
           session="sess-1", error='pods "api-1" not found in namespace checkout'),
        _c("oc_read_logs", "11-23T08:38:02", namespace="checkout", pod="api-1", tail=20,
           session="sess-1", error='Error from server (NotFound): pods "api-1" not found'),
    ),
    "scale-out-of-range": (
        _c("oc_write_scale_deployment", "11-23T08:40:10", namespace="checkout", deployment="api",
           replicas=55, session="sess-2", error="replicas must be between 0 and 50, got 55"),
        _c("oc_write_scale_deployment", "11-23T09:40:10", namespace="checkout", deployment="api",
           replicas=58, session="sess-5", error="replicas must be between 0 and 50, got 58"),
        _c("oc_write_scale_deployment", "11-24T09:12:44", namespace="checkout", deployment="api",
           replicas=100, session="sess-9",
           error="invalid replica count 100: the maximum for this deployment is 50"),
    ),
    "hpa-maxed-web": (
        _c("oc_read_get_hpa", "11-25T18:00:00", namespace="storefront", session="sess-sf-1",
           result="NAME   REFERENCE        TARGETS     MINPODS   MAXPODS   REPLICAS\n"
           "web    Deployment/web   cpu: 245%/70%   2         10        10"),
        _c("oc_read_top_pods", "11-25T18:01:00", namespace="storefront", session="sess-sf-1",
           result="NAME                  CPU(cores)   MEMORY(bytes)\nweb-59d8f-2kq7v       "
           "498m         310Mi\nweb-59d8f-4ntpx       497m         305Mi\nweb-59d8f-9bb2l       "
           "499m         298Mi\n(10 pods, all at their 500m cpu limit)"),
        _c("oc_read_get_events", "11-25T18:02:30", namespace="storefront", session="sess-sf-2",
           result="Normal SuccessfulRescale horizontalpodautoscaler/web New size: 10; reason: "
           "cpu resource utilization (percentage of request) above target\nWarning "
           "ScalingLimited horizontalpodautoscaler/web the desired replica count is more than "
           "the maximum replica count"),
    ),
    "diskpressure-worker-1": (
        _c("oc_read_describe_node", "11-24T03:15:00", node="worker-1", session="sess-infra-8",
           result="Name: worker-1\nConditions: DiskPressure True, reason KubeletHasDiskPressure: "
           "kubelet has disk pressure\nTaints: node.kubernetes.io/disk-pressure:NoSchedule\n"
           "Allocatable ephemeral-storage: 114Gi (imagefs 96% used)"),
        _c("oc_read_get_events", "11-24T03:15:40", namespace="default", session="sess-infra-8",
           result="Warning EvictionThresholdMet node/worker-1 Attempting to reclaim "
           "ephemeral-storage\nNormal NodeHasDiskPressure node/worker-1 Node worker-1 status "
           "is now: NodeHasDiskPressure"),
        _c("oc_read_get_pods", "11-24T03:17:00", namespace="logging", session="sess-infra-8",
           result=_PODS_HEAD
           + "collector-8x2vq               0/1     Evicted            0          3d\n"
           "collector-tk7wz               1/1     Running            0          3d\n"
           "note: collector-8x2vq evicted from worker-1: The node was low on resource: "
           "ephemeral-storage"),
    ),
    "route-503-no-endpoints": (
        _c("oc_diagnostic_http_check", "11-25T11:20:00", session="sess-shop-1",
           url="https://shop.apps.ocp.example.com/",
           error="HTTP 503 from https://shop.apps.ocp.example.com/: Application is not "
           "available (the router found no endpoints for route shop)"),
        _c("oc_read_get_endpoints", "11-25T11:21:00", namespace="storefront", name="shop",
           session="sess-shop-1",
           result="NAME   ENDPOINTS   AGE\nshop   <none>      120d\nnote: service selector "
           "app=shop-frontend matches no ready pods"),
        _c("oc_read_get_pods", "11-25T11:21:30", namespace="storefront", selector="app=shop",
           session="sess-shop-1",
           result=_PODS_HEAD
           + "shop-frontend-7c4d-2pl9x      0/1     Running            0          9m\n"
           "shop-frontend-7c4d-v8sxm      0/1     Running            0          9m\n"
           "note: readiness probe failing on both pods since the 11:10 rollout"),
    ),
    "build-npm-eresolve": (
        _c("oc_read_get_builds", "11-24T12:00:00", namespace="ci", session="sess-ci-7",
           result="NAME          TYPE     FROM          STATUS                       STARTED\n"
           "frontend-41   Docker   Git@3f9a1c2   Complete                     2 days ago\n"
           "frontend-42   Docker   Git@8b21d0e   Failed (GenericBuildFailed)  10 minutes ago"),
        _c("oc_read_build_logs", "11-24T12:01:30", namespace="ci", build="frontend-42",
           session="sess-ci-7",
           result="STEP 5/9: RUN npm ci\nnpm ERR! code ERESOLVE\nnpm ERR! ERESOLVE unable to "
           "resolve dependency tree\nnpm ERR! peer react@\"^17.0.0\" from react-table@7.8.0\n"
           "error: build error: building at STEP \"RUN npm ci\": exit status 1"),
    ),
    "cronjob-backup-auth": (
        _c("oc_read_get_jobs", "11-25T02:10:00", namespace="database", session="sess-db-1",
           result="NAME              COMPLETIONS   DURATION   AGE\npg-backup-29401   0/1   "
           "        9m         9m    (Failed: BackoffLimitExceeded)\npg-backup-29400   1/1   "
           "        2m         24h"),
        _c("oc_read_logs", "11-25T02:11:00", namespace="database", pod="pg-backup-29401-7qkcd",
           tail=2, session="sess-db-1",
           result='pg_dump: error: connection to server at "pg-primary" (172.30.9.9), port 5432 '
           'failed: FATAL:  password authentication failed for user "backup"'),
    ),
    "token-expired-unauthorized": (
        _c("oc_read_get_pods", "11-25T16:00:00", namespace="payments", session="sess-late-1",
           error="error: You must be logged in to the server (Unauthorized)"),
        _c("oc_read_get_events", "11-25T16:00:10", namespace="checkout", session="sess-late-1",
           error="Unauthorized: the bearer token of this session has expired; log in again"),
    ),
    "gatekeeper-webhook-timeout": (
        _c("oc_write_scale_deployment", "11-24T19:00:00", namespace="storefront",
           deployment="web", replicas=6, session="sess-sf-5",
           error='Internal error occurred: failed calling webhook "validation.gatekeeper.sh": '
           'Post "https://gatekeeper-webhook-service.gatekeeper-system.svc:443/v1/admit?timeout=3s"'
           ": context deadline exceeded"),
        _c("oc_write_rollout_restart", "11-24T19:02:00", namespace="storefront",
           deployment="search-ui", session="sess-sf-5",
           error='admission webhook "validation.gatekeeper.sh" could not be reached: timeout '
           "after 3s calling gatekeeper-webhook-service.gatekeeper-system.svc"),
        _c("oc_read_get_pods", "11-24T19:03:00", namespace="gatekeeper-system",
           session="sess-sf-5",
           result=_PODS_HEAD
           + "gatekeeper-controller-manager-6d9-x1   0/1   CrashLoopBackOff   5     40d\n"
           "gatekeeper-audit-7c8f-5mm2              1/1   Running            0     40d"),
    ),
    "mcp-degraded-worker-4": (
        _c("oc_read_get_machineconfigpools", "11-25T05:00:00", session="sess-infra-11",
           result="NAME     CONFIG                 UPDATED   UPDATING   DEGRADED   MACHINECOUNT\n"
           "master   rendered-master-1a2b   True      False      False      3\n"
           "worker   rendered-worker-7e6d   False     True       True       5"),
        _c("oc_read_describe_node", "11-25T05:02:00", node="worker-4", session="sess-infra-11",
           result="Name: worker-4\nAnnotations: machineconfiguration.openshift.io/state: "
           "Degraded\nmachineconfiguration.openshift.io/reason: unexpected on-disk state "
           "validating against rendered-worker-8f1c: content mismatch for file "
           "/etc/chrony.conf"),
    ),
    "java-heap-ledger": (
        _c("oc_read_top_pods", "11-25T20:00:00", namespace="payments", session="sess-pay-30",
           result="NAME                  CPU(cores)   MEMORY(bytes)\nledger-6b9c7d-tt4wz   "
           "310m         1890Mi\nweb-7d9f4c-8kd2n      40m          120Mi\n(ledger memory "
           "limit 2Gi; was 900Mi yesterday)"),
        _c("oc_read_logs", "11-25T20:40:00", namespace="payments", pod="ledger-6b9c7d-tt4wz",
           tail=3, session="sess-pay-31",
           result="2026-11-25T20:39:12Z WARN GC overhead: 96% of time in the last minute\n"
           "Exception in thread \"ledger-batch\" java.lang.OutOfMemoryError: Java heap space\n"
           "\tat com.example.ledger.Reconciler.loadAll(Reconciler.java:212)"),
    ),
    "auth-operator-degraded": (
        _c("oc_read_get_clusteroperators", "11-24T07:00:00", session="sess-infra-12",
           result="NAME             VERSION   AVAILABLE   PROGRESSING   DEGRADED   SINCE\n"
           "authentication   4.16.9    True        False         True       14m\n"
           "ingress          4.16.9    True        False         False      30d\n"
           "authentication degraded: OAuthServerRouteEndpointAccessibleControllerDegraded"),
        _c("oc_diagnostic_cluster_health", "11-24T07:01:00", session="sess-infra-12",
           result="etcd: healthy (3/3)\napiserver: healthy\nauthentication operator: degraded "
           "(oauth route https://oauth-openshift.apps.ocp.example.com/healthz unreachable: EOF)"),
    ),
    "crashloop-monitoring-ksm": (
        _c("oc_read_get_pods", "11-26T06:30:00", namespace="monitoring", session="sess-mon-20",
           result=_PODS_HEAD + _MONITORING_PODS.replace(
               "kube-state-metrics-5d8c7-jq2xw   3/3     Running            0          4d",
               "kube-state-metrics-5d8c7-jq2xw   2/3     CrashLoopBackOff   23         4d")),
        _c("oc_read_logs", "11-26T06:31:30", namespace="monitoring",
           pod="kube-state-metrics-5d8c7-jq2xw", tail=14, session="sess-mon-20",
           result="\n".join(
               f"I1126 06:2{i % 10}:{i * 4 % 60:02d}.{i * 37 % 1000:03d} 1 builder.go:{200 + i}] "
               f"Active resources: {_KSM_RESOURCES[i % 4]}" for i in range(10))
           + "\nE1126 06:29:58.101 1 reflector.go:147] failed to list *v1.Lease: leases."
           'coordination.k8s.io is forbidden: User "system:serviceaccount:monitoring:'
           'kube-state-metrics" cannot list resource "leases"\nF1126 06:29:58.204 1 main.go:'
           "81] failed to run kube-state-metrics: RBAC denied, exiting"),
        _c("oc_read_get_events", "11-26T06:32:10", namespace="monitoring", session="sess-mon-20",
           result="Warning BackOff pod/kube-state-metrics-5d8c7-jq2xw Back-off restarting failed "
           "container kube-state-metrics\nWarning FailedToList clusterrole/kube-state-metrics "
           "missing verbs [list watch] on leases.coordination.k8s.io after the 4.16.9 update"),
    ),
    "slow-queries-orders-long-logs": (
        _c("oc_read_logs", "11-26T12:00:00", namespace="orders", pod="orders-api-77d6-pq2",
           tail=16, session="sess-ord-9",
           result="\n".join(
               f"2026-11-26T11:59:{i * 3:02d}Z INFO GET /orders/{5100 + i} 200 {40 + i * 7} ms"
               for i in range(14))
           + "\n2026-11-26T11:59:45Z WARN GET /orders/search 504 after 30000 ms: "
           "canceling statement due to statement timeout\n2026-11-26T11:59:47Z WARN pool "
           "exhausted: 20/20 connections busy waiting on orders-db"),
        _c("oc_read_top_pods", "11-26T12:02:00", namespace="orders", session="sess-ord-9",
           result="NAME                  CPU(cores)   MEMORY(bytes)\norders-db-0           "
           "3980m        6100Mi\norders-api-77d6-pq2   120m         410Mi\nnote: orders-db-0 "
           "pinned at its 4 cpu limit; pg_stat_activity shows 20 active sequential scans on "
           "orders_search"),
        _c("oc_read_logs", "11-26T12:03:00", namespace="orders", pod="orders-db-0", tail=12,
           session="sess-ord-9",
           result="\n".join(
               f"2026-11-26T12:02:{i * 4:02d}Z LOG:  duration: {9000 + i * 611} ms  statement: "
               f"{_SLOW_QUERIES[i % 5]}"
               for i in range(8))
           + "\n2026-11-26T12:02:50Z ERROR:  canceling statement due to statement timeout"),
    ),
    "progress-deadline-ledger": (
        _c("oc_read_rollout_status", "11-26T09:15:00", namespace="payments", deployment="ledger",
           session="sess-pay-40",
           error='error: deployment "ledger" exceeded its progress deadline'),
        _c("oc_read_describe_deployment", "11-26T09:16:00", namespace="payments",
           deployment="ledger", session="sess-pay-40",
           result="Name: ledger\nNamespace: payments\nReplicas: 3 desired | 1 updated | 3 total "
           "| 2 available | 1 unavailable\nConditions: Progressing False "
           "ProgressDeadlineExceeded: ReplicaSet \"ledger-8f7e6\" has timed out progressing\n"
           "Image: registry.example.com/payments/ledger:2.9.0"),
        _c("oc_read_get_events", "11-26T09:16:30", namespace="payments", session="sess-pay-40",
           result="Warning Unhealthy pod/ledger-8f7e6-s4d2k Readiness probe failed: Get "
           '"http://10.131.0.22:8080/ready": dial tcp 10.131.0.22:8080: connect: connection '
           "refused"),
    ),
}

DISTRACTORS: dict[str, Call] = {
    "payments-healthy": _c(
        "oc_read_get_pods", "11-22T16:00:00", namespace="payments", session="sess-pay-0",
        result=_PODS_HEAD
        + "web-7d9f4c-x2lqp              1/1     Running            0          20h\n"
        "web-7d9f4c-8kd2n              1/1     Running            0          20h\n"
        "ledger-6b9c7d-tt4wz           1/1     Running            0          5d"),
    "payments-web-logs-ok": _c(
        "oc_read_logs", "11-22T16:02:00", namespace="payments", pod="web-7d9f4c-8kd2n", tail=4,
        session="sess-pay-0",
        result="2026-11-22T16:01:56Z INFO web-7d9f4c-8kd2n handled request id=81\n"
        "2026-11-22T16:01:57Z INFO web-7d9f4c-8kd2n handled request id=82\n"
        "2026-11-22T16:01:58Z INFO connected to postgres payments-db:5432 (pool 10/10)\n"
        "2026-11-22T16:01:59Z INFO web-7d9f4c-8kd2n handled request id=83"),
    "payments-no-events": _c(
        "oc_read_get_events", "11-22T16:03:00", namespace="payments", session="sess-pay-0",
        result="No warning events"),
    "alertmanager-crashloop-config": _c(
        "oc_read_logs", "11-24T21:00:00", namespace="monitoring", pod="alertmanager-main-1",
        tail=2, session="sess-mon-9",
        result='level=error component=configuration msg="Loading configuration file failed" '
        "file=/etc/alertmanager/config/alertmanager.yaml err=\"yaml: line 12: did not find "
        'expected key"\nlevel=info msg="exiting"'),
    "etl-oomkilled-analytics": _c(
        "oc_read_describe_pod", "11-25T03:00:00", namespace="analytics", pod="etl-worker-2",
        session="sess-an-1",
        result="Name: etl-worker-2\nNamespace: analytics\nStatus: Failed\nLast State: "
        "Terminated, reason OOMKilled (exit code 137)\nLimits: memory 8Gi\nNote: job "
        "etl-nightly will retry"),
    "billing-image-unauthorized": _c(
        "oc_read_get_events", "11-24T10:00:00", namespace="billing", session="sess-bill-1",
        result="Warning Failed pod/billing-api-5d6f-pq1 Failed to pull image "
        '"registry.example.com/internal/billing-api:1.2.0": unauthorized: access to the '
        "requested resource is not authorized\nWarning Failed pod/billing-api-5d6f-pq1 Error: "
        "ErrImagePull"),
    "worker-2-ready": _c(
        "oc_read_describe_node", "11-23T09:50:00", node="worker-2", session="sess-infra-1",
        result="Name: worker-2\nConditions: Ready True, reason KubeletReady: kubelet is posting "
        "ready status\nMemoryPressure False, DiskPressure False, PIDPressure False"),
    "master-1-notready-reboot": _c(
        "oc_read_get_nodes", "11-20T02:00:00", session="sess-infra-0",
        result="NAME       STATUS                     ROLES    AGE   VERSION\n"
        "master-1   NotReady,SchedulingDisabled   master   87d   v1.29.6\n"
        "note: master-1 is rebooting for the 4.16.9 update (MachineConfig rendered-master-1a2b)"),
    "pvc-bound-logging": _c(
        "oc_read_get_pvc", "11-22T08:00:00", namespace="logging", session="sess-log-1",
        result="NAME                 STATUS   VOLUME     CAPACITY   STORAGECLASS\n"
        "elasticsearch-data-0 Bound    pvc-88a1   200Gi      gp3-csi\n"
        "elasticsearch-data-1 Bound    pvc-88a2   200Gi      gp3-csi"),
    "cert-valid-ingress": _c(
        "oc_read_get_certificates", "11-23T07:00:00", namespace="openshift-ingress",
        session="sess-infra-4",
        result="NAME                   READY   SECRET                 NOT AFTER\n"
        "router-certs-default   True    router-certs-default   2027-02-11T00:00:00Z (80 days)"),
    "dns-lookup-ok": _c(
        "oc_diagnostic_dns_lookup", "11-23T14:00:00", name="api.payments.svc.cluster.local",
        session="sess-pay-3",
        result="Name: api.payments.svc.cluster.local\nAddress: 172.30.12.9 (resolver "
        "172.30.0.10, 3 ms)"),
    "quota-payments-low": _c(
        "oc_read_get_quota", "11-24T15:00:00", namespace="payments", session="sess-pay-9",
        result="NAME                AGE   REQUEST                      LIMIT\n"
        "compute-resources   40d   pods: 6/20, requests.cpu: 1200m/4   limits.cpu: 2/8, "
        "limits.memory: 3Gi/16Gi"),
    "scale-api-ok": _c(
        "oc_write_scale_deployment", "11-23T08:37:35", namespace="checkout", deployment="api",
        replicas=5, session="sess-2",
        result="deployment.apps/api scaled to 5 in checkout (dry run)"),
    "scale-cart-down-ok": _c(
        "oc_write_scale_deployment", "11-26T22:00:00", namespace="checkout", deployment="cart",
        replicas=2, session="sess-chk-44",
        result="deployment.apps/cart scaled to 2 in checkout"),
    "health-all-good": _c(
        "oc_diagnostic_cluster_health", "11-22T12:00:00", session="sess-infra-0",
        result="etcd: healthy (3/3)\napiserver: healthy\ningress: healthy (2/2 routers)\n"
        "nodes: 5/5 Ready"),
    "etcd-defrag-ok": _c(
        "oc_diagnostic_etcd_status", "11-21T04:00:00", session="sess-infra-0",
        result="etcd: 3/3 members healthy; defragmented etcd-0, etcd-1, etcd-2 (db size "
        "1.9GB -> 1.1GB)"),
    "checkout-describe-redis-ok": _c(
        "oc_read_describe_pod", "11-24T13:30:00", namespace="checkout", pod="redis-0",
        session="sess-chk-10",
        result="Name: redis-0\nNamespace: checkout\nStatus: Running"),
    "storefront-pods-ok": _c(
        "oc_read_get_pods", "11-23T18:00:00", namespace="storefront", session="sess-sf-0",
        result=_PODS_HEAD
        + "web-59d8f-2kq7v               1/1     Running            0          2d\n"
        "web-59d8f-4ntpx               1/1     Running            0          2d\n"
        "shop-frontend-6b2a-77d8c      1/1     Running            0          2d"),
    "ci-secret-ok": _c(
        "oc_read_get_secret", "11-20T10:00:00", namespace="ci", name="registry-pull",
        session="sess-ci-1",
        result="apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry-pull\n  namespace: "
        "ci\ntype: kubernetes.io/dockerconfigjson"),
    "search-pods-ok": _c(
        "oc_read_get_pods", "11-24T07:50:00", namespace="search", session="sess-srch-0",
        result=_PODS_HEAD
        + "indexer-0                     1/1     Running            0          8d\n"
        "search-api-6c9d-2bq8f         1/1     Running            0          8d"),
    "ingress-routers-ok": _c(
        "oc_read_get_pods", "11-22T12:05:00", namespace="openshift-ingress",
        session="sess-infra-0",
        result=_PODS_HEAD
        + "router-default-6cf9d-2hqzt    1/1     Running            0          11d\n"
        "router-default-6cf9d-8xk2p    1/1     Running            0          11d"),
    "payment-ns-typo-describe": _c(
        "oc_read_describe_pod", "11-21T09:00:00", namespace="paymnets", pod="web-0",
        session="sess-new-0",
        error='pods "web-0" not found in namespace paymnets'),
    "frontend-build-ok": _c(
        "oc_read_get_builds", "11-22T12:00:00", namespace="ci", session="sess-ci-5",
        result="NAME          TYPE     FROM          STATUS     STARTED\n"
        "frontend-41   Docker   Git@3f9a1c2   Complete   12 minutes ago"),
    "backup-job-ok": _c(
        "oc_read_get_jobs", "11-24T02:10:00", namespace="database", session="sess-db-0",
        result="NAME              COMPLETIONS   DURATION   AGE\npg-backup-29400   1/1           "
        "2m         8m"),
    "orders-db-restore-ok": _c(
        "oc_read_logs", "11-20T14:00:00", namespace="orders", pod="orders-db-0", tail=2,
        session="sess-ord-0",
        result="2026-11-20T13:59:58Z LOG:  database system is ready to accept connections\n"
        "2026-11-20T13:59:59Z LOG:  checkpoint complete: wrote 1022 buffers"),
    "webhook-rollout-restart-ok": _c(
        "oc_write_rollout_restart", "11-23T19:00:00", namespace="storefront",
        deployment="search-ui", session="sess-sf-3",
        result="deployment.apps/search-ui restarted"),
    "mcp-worker-updated": _c(
        "oc_read_get_machineconfigpools", "11-21T05:00:00", session="sess-infra-10",
        result="NAME     CONFIG                 UPDATED   UPDATING   DEGRADED   MACHINECOUNT\n"
        "master   rendered-master-1a2b   True      False      False      3\n"
        "worker   rendered-worker-7e6d   True      False      False      5"),
    "hpa-idle-web": _c(
        "oc_read_get_hpa", "11-24T04:00:00", namespace="storefront", session="sess-sf-4",
        result="NAME   REFERENCE        TARGETS       MINPODS   MAXPODS   REPLICAS\n"
        "web    Deployment/web   cpu: 12%/70%   2         10        2"),
    "monitoring-events-rule": _c(
        "oc_read_get_events", "11-25T09:00:00", namespace="monitoring", session="sess-mon-6",
        result="Warning PrometheusRuleFailures prometheus/k8s 3 rule evaluations failed: "
        "many-to-many matching not allowed (rule KubePodNotReady)"),
    "describe-deployment-ledger-ok": _c(
        "oc_read_describe_deployment", "11-22T09:00:00", namespace="payments",
        deployment="ledger", session="sess-pay-2",
        result="Name: ledger\nNamespace: payments\nReplicas: 3 desired | 3 updated | 3 total | 3 "
        "available | 0 unavailable\nConditions: Available True, Progressing True "
        "NewReplicaSetAvailable\nImage: registry.example.com/payments/ledger:2.8.4"),
    "monitoring-pods-all-running": _c(
        "oc_read_get_pods", "11-25T06:30:00", namespace="monitoring", session="sess-mon-19",
        result=_PODS_HEAD + _MONITORING_PODS),
    "orders-api-logs-normal": _c(
        "oc_read_logs", "11-25T12:00:00", namespace="orders", pod="orders-api-77d6-pq2", tail=16,
        session="sess-ord-8",
        result="\n".join(f"2026-11-25T11:59:{i * 3:02d}Z INFO GET /orders/{4100 + i} 200 "
                         f"{30 + i * 3} ms" for i in range(16))),
    "checkout-client-logs-ok": _c(
        "oc_read_logs", "11-22T20:00:00", namespace="payments", pod="checkout-client-7b5-kk2",
        tail=2, session="sess-pay-5",
        result="2026-11-22T19:59:58Z INFO payment captured order=8812 via gateway-payments "
        "(TLS ok, 41 ms)\n2026-11-22T19:59:59Z INFO payment captured order=8813"),
}

# fmt: on


def event_of(call: Call) -> ToolExecutionEvent:
    """The wire event of ``call``, built as the producer builds it (redacted, bounded)."""
    ended = datetime.fromisoformat(f"2026-{call.at}").replace(tzinfo=UTC).timestamp()
    raw = ToolCall(call.tool, call.args, call.session)
    raw.finish(
        Outcome.TOOL_ERROR if call.error else Outcome.OK, error=call.error, result=call.result
    )
    raw.started_wall, raw.elapsed_ms = ended - call.ms / 1000, call.ms
    return build_event(raw, _settings())


@functools.cache
def _settings() -> ProducerSettings:
    """The producer's default settings, read once (each read parses the environment)."""
    return TrailProducer.default_settings()


def documents() -> list[EvalDoc]:
    """Every document of the set (groups first, in order), as ``to_memory`` writes it and
    as the groups embed it."""
    out = [
        _doc(f"{group}/{i}", group, call)
        for group, calls in GROUPS.items()
        for i, call in enumerate(calls)
    ]
    out += [_doc(f"x/{name}", None, call) for name, call in DISTRACTORS.items()]
    return out


def _doc(ident: str, group: str | None, call: Call) -> EvalDoc:
    event = event_of(call)
    return EvalDoc(ident, group, to_memory(event).document, embedding_text(event))
