package wizard

import "fmt"

// Step is one page of the Add wizard, numbered from 1 in BILLmanager's order (spec §3).
type Step int

// The steps of spec §3.
const (
	StepProductType Step = iota + 1
	StepModule
	StepIntegration
	StepParams
	StepReview
)

// StepCount is the number of steps.
const StepCount = int(StepReview)

var stepTitles = [...]string{
	StepProductType: "Product type",
	StepModule:      "Processing module",
	StepIntegration: "Integration",
	StepParams:      "Module parameters",
	StepReview:      "Review",
}

// Steps lists every step in order.
func Steps() []Step {
	return []Step{StepProductType, StepModule, StepIntegration, StepParams, StepReview}
}

// Title is the step's name as BILLmanager shows it.
func (s Step) Title() string {
	if s < StepProductType || s > StepReview {
		return "Unknown step"
	}
	return stepTitles[s]
}

// Indicator is the header line, e.g. "Step 3 of 5 · Integration".
func (s Step) Indicator() string {
	return fmt.Sprintf("Step %d of %d · %s", int(s), StepCount, s.Title())
}

// Next and Prev move along the steps, staying inside the range.
func (s Step) Next() Step { return min(s+1, StepReview) }

// Prev is the step before s, or s itself on the first step.
func (s Step) Prev() Step { return max(s-1, StepProductType) }
