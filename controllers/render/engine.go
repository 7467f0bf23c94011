package render

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	loyaltyv1alpha1 "github.com/loyaltyops/loyalty-operator/api/v1alpha1"
	"github.com/loyaltyops/loyalty-operator/contract"
)

// Labels, names and paths of the objects the operator renders. The names
// the engine relies on too are in package contract.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagerName    = "loyalty-operator"

	EnginePort     = 8080
	apiKeysDir     = "/etc/points-engine/api-keys"
	dataDir        = "/var/lib/points-engine"
	dataVolumeName = "data"
)

// EngineName names the engine's workload, Service, ServiceAccount, Role and RoleBinding.
func EngineName(program string) string { return program + "-engine" }

// ConfigMapName names the ConfigMap holding the program's snapshot.
func ConfigMapName(program string) string { return program + "-config" }

// APIKeySecretName names the Secret holding the engine's API keys.
func APIKeySecretName(program string) string { return program + "-api-keys" }

// Labels are the labels of every object the operator renders for a program.
// They are the operator's own; the user's labels are never copied.
func Labels(program string) map[string]string {
	return map[string]string{
		LabelName:             "points-engine",
		LabelInstance:         program,
		LabelManagedBy:        ManagerName,
		contract.LabelProgram: program,
	}
}

func selectorLabels(program string) map[string]string {
	return map[string]string{LabelName: "points-engine", LabelInstance: program}
}

func objectMeta(p *loyaltyv1alpha1.LoyaltyProgram, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: Labels(p.Name)}
}

// PostgresSchema is the schema holding a program's rows, so that several
// programs can share one database and a program's data can be dropped alone.
func PostgresSchema(p *loyaltyv1alpha1.LoyaltyProgram) string {
	sum := sha256.Sum256([]byte(p.Namespace + "/" + p.Name))
	name := strings.ReplaceAll(p.Name, "-", "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return "loyalty_" + name + "_" + hex.EncodeToString(sum[:4])
}

// ServiceAccount is the engine's identity.
func ServiceAccount(p *loyaltyv1alpha1.LoyaltyProgram) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: objectMeta(p, EngineName(p.Name)), AutomountServiceAccountToken: ptr.To(true)}
}

// Role lets the engine read its own ConfigMap and report the snapshot it
// applied through a Lease per replica; nothing more.
func Role(p *loyaltyv1alpha1.LoyaltyProgram) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: objectMeta(p, EngineName(p.Name)),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{ConfigMapName(p.Name)}, Verbs: []string{"get", "list", "watch"}},
			// Lease names follow the replica's pod name, unknown in advance, so they cannot be listed by name.
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update", "delete"}},
		},
	}
}

// RoleBinding grants the Role to the engine's ServiceAccount.
func RoleBinding(p *loyaltyv1alpha1.LoyaltyProgram) *rbacv1.RoleBinding {
	name := EngineName(p.Name)
	return &rbacv1.RoleBinding{
		ObjectMeta: objectMeta(p, name),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: p.Namespace}},
	}
}

// Service exposes the engine's HTTP API inside the cluster.
func Service(p *loyaltyv1alpha1.LoyaltyProgram) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta(p, EngineName(p.Name)),
		Spec: corev1.ServiceSpec{
			Selector: selectorLabels(p.Name),
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// MaxSnapshotBytes keeps the ConfigMap under the API server's object size
// limit (about 1 MiB) with room for metadata.
const MaxSnapshotBytes = 900 * 1024

// ConfigMap holds the rendered snapshot and its hash, under the keys of
// package contract. A snapshot over MaxSnapshotBytes is stored
// gzip-compressed; one that is too large even then is refused with a
// *SnapshotTooLargeError, never truncated.
func ConfigMap(p *loyaltyv1alpha1.LoyaltyProgram, snapshotJSON []byte, hash string) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{
		ObjectMeta: objectMeta(p, ConfigMapName(p.Name)),
		Data:       map[string]string{contract.SnapshotHashKey: hash},
	}
	if len(snapshotJSON) <= MaxSnapshotBytes {
		cm.Data[contract.SnapshotKey] = string(snapshotJSON)
		return cm, nil
	}
	var compressed bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&compressed, gzip.BestCompression)
	if _, err := zw.Write(snapshotJSON); err != nil {
		return nil, fmt.Errorf("compressing the snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing the snapshot: %w", err)
	}
	if compressed.Len() > MaxSnapshotBytes {
		return nil, &SnapshotTooLargeError{Size: len(snapshotJSON), Compressed: compressed.Len()}
	}
	cm.BinaryData = map[string][]byte{contract.SnapshotGzipKey: compressed.Bytes()}
	return cm, nil
}

// SnapshotTooLargeError needs the user to shrink the program: retrying
// cannot help.
type SnapshotTooLargeError struct{ Size, Compressed int }

func (e *SnapshotTooLargeError) Error() string {
	return fmt.Sprintf("the snapshot is %d bytes, %d compressed, over the %d a ConfigMap can hold: reduce the rewards or campaigns of the program", e.Size, e.Compressed, MaxSnapshotBytes)
}

// StatefulSet runs the engine on the embedded store: one replica with its own
// volume claim, kept or deleted with the program as its retention policy says.
func StatefulSet(p *loyaltyv1alpha1.LoyaltyProgram, image string) *appsv1.StatefulSet {
	embedded := p.Spec.Engine.Storage.Embedded
	size := resource.MustParse("1Gi")
	if embedded != nil && embedded.Size != nil {
		size = *embedded.Size
	}
	claim := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: dataVolumeName, Labels: Labels(p.Name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if embedded != nil {
		claim.Spec.StorageClassName = embedded.StorageClassName
	}
	whenDeleted := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if p.Spec.RetentionPolicy == loyaltyv1alpha1.RetentionDelete {
		whenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	return &appsv1.StatefulSet{
		ObjectMeta: objectMeta(p, EngineName(p.Name)),
		Spec: appsv1.StatefulSetSpec{
			Replicas:             ptr.To[int32](1),
			ServiceName:          EngineName(p.Name),
			Selector:             &metav1.LabelSelector{MatchLabels: selectorLabels(p.Name)},
			Template:             podTemplate(p, image),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: whenDeleted,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
}

// Deployment runs the engine on PostgreSQL with any number of replicas.
func Deployment(p *loyaltyv1alpha1.LoyaltyProgram, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: objectMeta(p, EngineName(p.Name)),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas(p)),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(p.Name)},
			Template: podTemplate(p, image),
		},
	}
}

// PodDisruptionBudget keeps all but one replica up during voluntary
// disruptions; only rendered for more than one replica.
func PodDisruptionBudget(p *loyaltyv1alpha1.LoyaltyProgram) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(p, EngineName(p.Name)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(p.Name)},
		},
	}
}

func replicas(p *loyaltyv1alpha1.LoyaltyProgram) int32 {
	if p.Spec.Engine.Replicas < 1 {
		return 1
	}
	return p.Spec.Engine.Replicas
}

// UsesPostgres reports whether the program's ledger lives in PostgreSQL.
func UsesPostgres(p *loyaltyv1alpha1.LoyaltyProgram) bool {
	return p.Spec.Engine.Storage.Postgres != nil
}

// EngineArgs are the engine's command-line arguments for a program.
func EngineArgs(p *loyaltyv1alpha1.LoyaltyProgram) []string {
	args := []string{
		"--listen=:" + strconv.Itoa(EnginePort),
		"--config-configmap=" + p.Namespace + "/" + ConfigMapName(p.Name),
		"--api-keys-dir=" + apiKeysDir,
	}
	if UsesPostgres(p) {
		return append(args, "--store=postgres", "--postgres-schema="+PostgresSchema(p))
	}
	return append(args, "--store=sqlite", "--sqlite-path="+dataDir+"/ledger.db")
}

func podTemplate(p *loyaltyv1alpha1.LoyaltyProgram, image string) corev1.PodTemplateSpec {
	if p.Spec.Engine.Image != "" {
		image = p.Spec.Engine.Image
	}
	env := []corev1.EnvVar{
		{Name: contract.EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "api-keys", MountPath: apiKeysDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	volumes := []corev1.Volume{
		{Name: "api-keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: APIKeySecretName(p.Name)}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if v, m := eventSecretsMount(p); v != nil {
		volumes = append(volumes, *v)
		mounts = append(mounts, *m)
	}
	if pg := p.Spec.Engine.Storage.Postgres; pg != nil {
		env = append(env, corev1.EnvVar{Name: contract.EnvDatabaseURL, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: pg.URISecretRef.Name},
			Key:                  orDefault(pg.URISecretRef.Key, "uri"),
		}}})
	} else {
		mounts = append(mounts, corev1.VolumeMount{Name: dataVolumeName, MountPath: dataDir})
	}
	// Timeouts and thresholds are spelled out as the API server defaults
	// them: a zero here would never match the stored workload, and every
	// reconcile would patch it for nothing.
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds:    period,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
			FailureThreshold: failures,
		}
	}
	container := corev1.Container{
		Name:           "engine",
		Image:          image,
		Command:        []string{"/points-engine"},
		Args:           EngineArgs(p),
		Env:            env,
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: EnginePort, Protocol: corev1.ProtocolTCP}},
		VolumeMounts:   mounts,
		StartupProbe:   probe(contract.LivenessPath, 2, 30),
		LivenessProbe:  probe(contract.LivenessPath, 10, 3),
		ReadinessProbe: probe(contract.ReadinessPath, 5, 3),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if r := p.Spec.Engine.Resources; r != nil {
		container.Resources = *r
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: selectorLabels(p.Name)},
		Spec: corev1.PodSpec{
			ServiceAccountName:            EngineName(p.Name),
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				RunAsGroup:     ptr.To[int64](65532),
				FSGroup:        ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{container},
			Volumes:    volumes,
		},
	}
}
