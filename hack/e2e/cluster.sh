#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, for the end-to-end suite:
# containerd and runc from Debian's packages, etcd and kube-apiserver from the
# envtest assets, the node binaries and CoreDNS from hack/e2e-assets.sh, and
# images imported from archives, so no registry is needed.
#
# Usage: hack/e2e/cluster.sh up IMAGE.tar...   start it; prints the admin kubeconfig
#        hack/e2e/cluster.sh down              remove everything "up" made
#
# Traffic stays on this machine: the node's address lives on an interface
# without ports, pods sit on a bridge of their own with routes to the cluster's
# ranges only, and a FORWARD rule drops anything the bridge would send
# elsewhere. Every process, mount, interface, iptables chain, cgroup and
# sysctl that "up" creates or changes is recorded under the state directory,
# and "down" removes or restores exactly those, also after a failed "up".
# Needs root and Linux.
set -euo pipefail

STATE="${E2E_STATE:-/var/lib/loyalty-e2e}"
NODE_NAME=loyalty-e2e
NODE_IP=10.213.0.1
NODE_LINK=lyoe2e-node
BRIDGE=lyoe2e0
POD_CIDR=10.213.128.0/24
SERVICE_CIDR=10.213.64.0/24
CLUSTER_RANGE=10.213.0.0/16
ETCD_PORT=23790
GUARD_CHAIN=LYOE2E-GUARD
PAUSE_IMAGE=loyaltyops.local/pause:e2e
# Sysctls the kubelet, kube-proxy or the bridge plugin may change; "down" puts back those that did.
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  net.ipv4.conf.all.route_localnet vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.netfilter.nf_conntrack_max)
CGROUP_ROOT=kubepods
KUBECTL="${KUBECTL:-kubectl}"

log() { echo "e2e-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# --- down -------------------------------------------------------------------

# stop_pid NAME: ends the process recorded as NAME, if it is still the one started.
stop_pid() {
  local file="$STATE/pids/$1" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if [[ -d "/proc/$pid" && "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$(cat "$file.exe")" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do [[ -d "/proc/$pid" ]] || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file" "$file.exe"
}

# stop_containers ends every container this cluster's runc started, then the
# containerd shims, which are found by the socket address only this cluster uses.
stop_containers() {
  local id pid
  if [[ -d "$STATE/runc" ]]; then
    for id in $(runc --root "$STATE/runc" list -q 2>/dev/null); do
      runc --root "$STATE/runc" kill "$id" KILL 2>/dev/null || true
    done
    sleep 1
    for id in $(runc --root "$STATE/runc" list -q 2>/dev/null); do
      runc --root "$STATE/runc" delete --force "$id" 2>/dev/null || true
    done
  fi
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    if { tr "\0" " " <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "-address $STATE/containerd/containerd.sock"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# unmount_state unmounts everything under the state directory, deepest first.
unmount_state() {
  local mnt
  for _ in 1 2 3; do
    mapfile -t mounts < <(awk -v s="$STATE/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    ((${#mounts[@]})) || return 0
    for mnt in "${mounts[@]}"; do umount -l "$mnt" 2>/dev/null || true; done
  done
}

# remove_netns removes the network namespaces containerd made for this cluster's pods.
remove_netns() {
  [[ -f "$STATE/netns.before" ]] || return 0
  local ns
  for ns in $(ls /run/netns 2>/dev/null); do
    if ! grep -qx "$ns" "$STATE/netns.before"; then
      umount "/run/netns/$ns" 2>/dev/null || true
      rm -f "/run/netns/$ns"
    fi
  done
  if [[ -f "$STATE/netns.dir-made" ]]; then rmdir /run/netns 2>/dev/null || true; fi
}

# remove_chains deletes the iptables and ip6tables chains that appeared while
# the cluster ran (kube-proxy's, the kubelet's, the guard), and every rule
# jumping to them.
remove_chains() {
  local cmd table chain rule
  for cmd in iptables ip6tables; do
    for table in filter nat mangle; do
      [[ -f "$STATE/$cmd.$table.before" ]] || continue
      mapfile -t new < <($cmd -t "$table" -S 2>/dev/null | sed -n 's/^-N //p' | grep -vxF -f "$STATE/$cmd.$table.before" || true)
      ((${#new[@]})) || continue
      for chain in "${new[@]}"; do
        while read -r rule; do
          [[ -n "$rule" ]] && eval "$cmd -t $table -D ${rule#-A }" 2>/dev/null || true
        done < <($cmd -t "$table" -S 2>/dev/null | grep -E "^-A .* -j ${chain}( |$)" || true)
      done
      for chain in "${new[@]}"; do $cmd -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in "${new[@]}"; do $cmd -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
}

# remove_cgroups removes the kubelet's cgroup tree in every hierarchy, deepest first.
remove_cgroups() {
  [[ -f "$STATE/cgroups.made" ]] || return 0
  local dir
  while read -r dir; do
    [[ -d "$dir" ]] || continue
    find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done <"$STATE/cgroups.made"
}

restore_sysctls() {
  [[ -f "$STATE/sysctl.before" ]] || return 0
  local key value
  while read -r key value; do
    [[ "$(sysctl -n "$key" 2>/dev/null)" == "$value" ]] || sysctl -q -w "$key=$value" >/dev/null 2>&1 || log "could not restore $key=$value"
  done <"$STATE/sysctl.before"
}

down() {
  [[ -d "$STATE" ]] || return 0
  log "tearing down the cluster in $STATE"
  local name
  for name in kube-proxy kubelet coredns kube-scheduler kube-controller-manager kube-apiserver; do stop_pid "$name"; done
  stop_containers
  stop_pid containerd
  stop_pid etcd
  unmount_state
  remove_netns
  remove_chains
  ip link del "$BRIDGE" 2>/dev/null || true
  ip link del "$NODE_LINK" 2>/dev/null || true
  remove_cgroups
  restore_sysctls
  unmount_state
  rm -rf "$STATE"
  log "down"
}

# --- up ---------------------------------------------------------------------

# start NAME BINARY ARGS...: runs a component in the background, logging to
# $STATE/logs/NAME.log, and records its PID.
start() {
  local name="$1" bin="$2"; shift 2
  setsid "$bin" "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
  readlink -f "$bin" >"$STATE/pids/$name.exe"
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND once a second.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  for _ in $(seq 1 "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "$what not ready after ${seconds}s; logs in $STATE/logs"
}

record_before() {
  ls /run/netns 2>/dev/null >"$STATE/netns.before" || true
  [[ -d /run/netns ]] || touch "$STATE/netns.dir-made"
  local table key
  local cmd
  for cmd in iptables ip6tables; do
    for table in filter nat mangle; do
      $cmd -t "$table" -S 2>/dev/null | sed -n 's/^-N //p' >"$STATE/$cmd.$table.before" || true
    done
  done
  : >"$STATE/sysctl.before"
  for key in "${SYSCTLS[@]}"; do
    if [[ -e "/proc/sys/${key//.//}" ]]; then echo "$key $(sysctl -n "$key")" >>"$STATE/sysctl.before"; fi
  done
  : >"$STATE/cgroups.made"
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -d "$hierarchy$CGROUP_ROOT" ]] && die "cgroup $hierarchy$CGROUP_ROOT exists: is another kubelet running on this machine?"
    echo "$hierarchy$CGROUP_ROOT" >>"$STATE/cgroups.made"
  done
  return 0
}

ensure_packages() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null || need+=(iptables)
  command -v conntrack >/dev/null || need+=(conntrack)
  command -v openssl >/dev/null || need+=(openssl)
  # Argo CD's scenario: its cache, and the repository it syncs from.
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v git >/dev/null || need+=(git)
  ((${#need[@]})) || return 0
  log "installing ${need[*]} from Debian's packages"
  apt-get update -qq
  # policy-rc.d keeps the package from starting its own containerd service.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

# --- certificates -----------------------------------------------------------

# cert NAME CN ORG [SAN]: a client or serving certificate signed by the cluster CA.
cert() {
  local name="$1" cn="$2" org="$3" san="${4:-}" dir="$STATE/pki"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$cn${org:+/O=$org}" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=clientAuth,serverAuth"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
}

# kubeconfig NAME: a kubeconfig for the client certificate NAME.
kubeconfig() {
  cat >"$STATE/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    certificate-authority: $STATE/pki/ca.crt
    server: https://$NODE_IP:6443
users:
- name: $1
  user:
    client-certificate: $STATE/pki/$1.crt
    client-key: $STATE/pki/$1.key
contexts:
- name: e2e
  context: {cluster: e2e, user: $1}
current-context: e2e
EOF
}

make_pki() {
  local dir="$STATE/pki"
  mkdir -p "$dir"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 -subj "/CN=loyalty-e2e-ca" 2>/dev/null
  cert apiserver kube-apiserver "" "IP:$NODE_IP,IP:${SERVICE_CIDR%0/24}1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert admin e2e-admin system:masters
  cert kube-controller-manager system:kube-controller-manager system:masters
  cert kube-scheduler system:kube-scheduler system:masters
  cert kube-proxy system:kube-proxy system:masters
  cert coredns coredns system:masters
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  local name
  for name in admin kubelet kube-controller-manager kube-scheduler kube-proxy coredns; do kubeconfig "$name"; done
}

# --- components -------------------------------------------------------------

network() {
  # A bridge without ports stands in for a dummy interface (some kernels have
  # no dummy driver): its address is local, and nothing sent to it goes anywhere.
  ip link add "$NODE_LINK" type bridge
  ip addr add "$NODE_IP/32" dev "$NODE_LINK"
  ip link set "$NODE_LINK" up
  # Service addresses route to the node's interface, where nothing answers, so a
  # Service without endpoints goes nowhere instead of out of the machine;
  # kube-proxy's DNAT sends the rest to the pods.
  ip route add "$SERVICE_CIDR" dev "$NODE_LINK"
  iptables -N "$GUARD_CHAIN"
  iptables -A "$GUARD_CHAIN" -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  iptables -A "$GUARD_CHAIN" ! -i "$BRIDGE" -o "$BRIDGE" -j DROP
  iptables -I FORWARD 1 -j "$GUARD_CHAIN"
  mkdir -p "$STATE/cni/net.d"
  cat >"$STATE/cni/net.d/10-loyalty-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "loyalty-e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "$POD_CIDR"}]],
      "routes": [{"dst": "$CLUSTER_RANGE"}],
      "dataDir": "$STATE/cni/ipam"
    }
  }]
}
EOF
}

containerd_up() {
  mkdir -p "$STATE/containerd"
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$STATE/containerd/containerd.sock"
[ttrpc]
  address = "$STATE/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails with
  # runc's "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "$STATE/runc"
EOF
  start containerd "$(command -v containerd)" --config "$STATE/containerd/config.toml"
  wait_for containerd 30 ctr --address "$STATE/containerd/containerd.sock" version
}

import_images() {
  local archive
  for archive in "$@"; do
    log "importing $(basename "$archive")"
    ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import "$archive" >/dev/null
  done
}

control_plane() {
  local k8s="$1"
  mkdir -p "$STATE/etcd"
  start etcd "$k8s/etcd" --data-dir "$STATE/etcd" --name e2e \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" \
    --initial-cluster "e2e=http://127.0.0.1:$((ETCD_PORT + 10))" --unsafe-no-fsync
  local pki="$STATE/pki"
  start kube-apiserver "$k8s/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --allow-privileged=false
  wait_for kube-apiserver 120 "$KUBECTL" --kubeconfig "$STATE/admin.kubeconfig" get --raw /readyz
}

controllers() {
  local bin="$1" pki="$STATE/pki"
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$STATE/kube-controller-manager.kubeconfig" --secure-port 0 \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false \
    --leader-elect=false --use-service-account-credentials=false
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$STATE/kube-scheduler.kubeconfig" --secure-port 0 --leader-elect=false
}

coredns_up() {
  mkdir -p "$STATE/coredns"
  # Only the cluster's own names: nothing is forwarded out of the machine.
  cat >"$STATE/coredns/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 {
  bind $NODE_IP
  errors
  kubernetes cluster.local in-addr.arpa {
    kubeconfig $STATE/coredns.kubeconfig e2e
  }
}
EOF
  start coredns "$1/coredns" -conf "$STATE/coredns/Corefile"
}

kubelet_up() {
  local bin="$1"
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  # Pods get the cluster's name server and nothing of the host's resolvers.
  : >"$STATE/kubelet/resolv.conf"
  cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
healthzBindAddress: 127.0.0.1
healthzPort: 0
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $STATE/pki/kubelet.crt
tlsPrivateKeyFile: $STATE/pki/kubelet.key
cgroupDriver: cgroupfs
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: $STATE/kubelet/resolv.conf
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
podLogsDir: $STATE/pod-logs
failSwapOn: false
failCgroupV1: false
# Images here cannot be pulled again, so none is ever collected.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
EOF
  start kubelet "$bin/kubelet" --config "$STATE/kubelet/config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
}

kube_proxy_up() {
  mkdir -p "$STATE/kube-proxy"
  # Written once: kube-proxy exits when its configuration file changes.
  cat >"$STATE/kube-proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
metricsBindAddress: $NODE_IP:10249
healthzBindAddress: $NODE_IP:10256
nodePortAddresses: [$NODE_IP/32]
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start kube-proxy "$1/kube-proxy" --config "$STATE/kube-proxy/config.yaml"
}

# volumes makes hostPath PersistentVolumes for the engines' claims: a bare
# cluster has no provisioner. The directories belong to the engine's user.
volumes() {
  local i
  for i in $(seq 1 12); do
    mkdir -p "$STATE/volumes/pv$i"
    chown 65532:65532 "$STATE/volumes/pv$i"
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-pv$i}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $STATE/volumes/pv$i, type: Directory}
EOF
  done | "$KUBECTL" --kubeconfig "$STATE/admin.kubeconfig" apply -f - >/dev/null
}

node_ready() {
  "$KUBECTL" --kubeconfig "$STATE/admin.kubeconfig" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}

up() {
  [[ $EUID -eq 0 ]] || die "needs root (it runs containerd and a kubelet)"
  [[ "$(uname -s)" == Linux ]] || die "needs Linux"
  [[ -e "$STATE" ]] && die "$STATE exists: run '$0 down' first"
  local k8s node
  k8s="${KUBEBUILDER_ASSETS:?KUBEBUILDER_ASSETS (etcd, kube-apiserver) must be set}"
  node="${E2E_ASSETS:?E2E_ASSETS (hack/e2e-assets.sh) must be set}"
  ensure_packages
  mkdir -p "$STATE/pids" "$STATE/logs"
  record_before
  log "certificates"
  make_pki
  log "network: node $NODE_IP on $NODE_LINK, pods $POD_CIDR on $BRIDGE, services $SERVICE_CIDR"
  network
  log "containerd"
  containerd_up
  import_images "$@"
  log "etcd and kube-apiserver"
  control_plane "$k8s"
  log "controller-manager, scheduler, CoreDNS, kubelet, kube-proxy"
  controllers "$node"
  coredns_up "$node"
  kubelet_up "$node"
  kube_proxy_up "$node"
  wait_for "node $NODE_NAME" 120 node_ready
  volumes
  log "up: KUBECONFIG=$STATE/admin.kubeconfig"
  echo "$STATE/admin.kubeconfig"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) die "usage: $0 up IMAGE.tar... | down" ;;
esac
