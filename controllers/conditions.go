package controllers

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// readyFromProblems is the Ready condition of an object given its config
// problems: True when there are none, else False with the first problem's
// reason and every problem's message.
func readyFromProblems(problems []config.Problem, generation int64, okMessage string) metav1.Condition {
	c := metav1.Condition{Type: seamarkv1alpha1.ConditionReady, ObservedGeneration: generation}
	if len(problems) == 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, seamarkv1alpha1.ReasonReady, okMessage
		return c
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Message
		if p.Field != "" {
			msgs[i] = p.Field + ": " + p.Message
		}
	}
	c.Status, c.Reason, c.Message = metav1.ConditionFalse, problems[0].Reason, strings.Join(msgs, "; ")
	return c
}

// setCondition stores c in conds, keeping the transition time when the
// status did not change, and reports whether anything changed.
func setCondition(conds *[]metav1.Condition, c metav1.Condition) bool {
	old := meta.FindStatusCondition(*conds, c.Type)
	if old != nil && old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message && old.ObservedGeneration == c.ObservedGeneration {
		return false
	}
	meta.SetStatusCondition(conds, c)
	return true
}
