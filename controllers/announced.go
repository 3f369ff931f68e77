package controllers

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/plan"
)

// EventNotAnnounced is the reason of the Warning Event on a Service whose
// seamark.io/Announced condition turns False.
const EventNotAnnounced = "NotAnnounced"

// announcedReconciler keeps the seamark.io/Announced condition of the
// Services seamark handles: it runs every node's plan (plan.Explain, the
// speaker's own planning) over the cache and reads the SpeakerStatuses
// (plan.Assess), and writes the condition only when its reason changes.
type announcedReconciler struct {
	client       client.Client
	state        *State
	recorder     events.EventRecorder
	defaultClass bool
}

func (r *announcedReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.state.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	svc := &corev1.Service{}
	if err := r.client.Get(ctx, req.NamespacedName, svc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if svc.DeletionTimestamp != nil || !r.state.unit.Handles(svc) || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return ctrl.Result{}, nil
	}
	var nodes corev1.NodeList
	var slicesList discoveryv1.EndpointSliceList
	var speakers seamarkv1alpha1.SpeakerStatusList
	if err := r.client.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.client.List(ctx, &slicesList, client.InNamespace(svc.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.client.List(ctx, &speakers, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	cond, changed := announcedCondition(svc, plan.Input{Config: r.state.Config(), Nodes: nodes.Items,
		EndpointSlices: slicesList.Items, DefaultClass: r.defaultClass}, speakers.Items)
	if !changed {
		return ctrl.Result{}, nil
	}
	after := svc.DeepCopy()
	meta.SetStatusCondition(&after.Status.Conditions, cond)
	if err := r.client.Status().Patch(ctx, after, client.StrategicMergeFrom(svc)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	logf.FromContext(ctx).Info("Set the Announced condition", "status", cond.Status, "reason", cond.Reason)
	if cond.Status == metav1.ConditionFalse {
		r.recorder.Eventf(svc, nil, corev1.EventTypeWarning, EventNotAnnounced, "Announce", "%s: %s", cond.Reason, cond.Message)
	}
	return ctrl.Result{}, nil
}

// announcedCondition is the seamark.io/Announced condition of svc given
// the planning's inputs (the Service itself aside) and every
// SpeakerStatus, and whether it differs from the one svc shows: only a
// different status or reason counts (the message is fixed per reason, and
// the generation alone does not warrant a write).
func announcedCondition(svc *corev1.Service, in plan.Input, speakers []seamarkv1alpha1.SpeakerStatus) (metav1.Condition, bool) {
	byNode := make(map[string]*seamarkv1alpha1.SpeakerStatus, len(speakers))
	for i := range speakers {
		byNode[speakers[i].Name] = &speakers[i]
	}
	reason := plan.ServiceReason(plan.Explain(in, svc), byNode)
	if reason == "" {
		return metav1.Condition{}, false
	}
	c := metav1.Condition{Type: seamarkv1alpha1.ConditionAnnounced, Status: metav1.ConditionFalse, Reason: reason,
		Message: plan.AnnouncedMessage(reason), ObservedGeneration: svc.Generation}
	if reason == seamarkv1alpha1.ReasonAnnounced {
		c.Status = metav1.ConditionTrue
	}
	old := meta.FindStatusCondition(svc.Status.Conditions, c.Type)
	return c, old == nil || old.Status != c.Status || old.Reason != c.Reason
}

// nodeChanged lets through the Node updates that can change a plan:
// labels, taints and addresses (the router ID), not heartbeats.
func nodeChanged(oldObj, newObj client.Object) bool {
	o, n := oldObj.(*corev1.Node), newObj.(*corev1.Node)
	return !maps.Equal(o.Labels, n.Labels) || !slices.EqualFunc(o.Spec.Taints, n.Spec.Taints, func(a, b corev1.Taint) bool {
		return a.Key == b.Key && a.Value == b.Value && a.Effect == b.Effect
	}) || !slices.Equal(o.Status.Addresses, n.Status.Addresses)
}

// allAddressed returns a request for every Service of ours that shows an
// address: a Node or a SpeakerStatus may change any Service's condition.
func allAddressed(ctx context.Context, c client.Reader, unit interface{ Handles(*corev1.Service) bool }) []reconcile.Request {
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range svcs.Items {
		if s := &svcs.Items[i]; len(s.Status.LoadBalancer.Ingress) > 0 && unit.Handles(s) {
			out = append(out, requestFor(s))
		}
	}
	return out
}
