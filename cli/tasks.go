package cli

import (
	"errors"
	"fmt"
	"vmmpm/backend"
	"vmmpm/store"

	"github.com/spf13/cobra"
)

func newTasksCmd(a *app) *cobra.Command {
	c := listAllCmd(a, "tasks", "ID\tDEPARTMENT\tMODULE\tSERVICE\tJOB\tCREATED\tCLOSED\tTITLE\tREASON", func(t *store.Task) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", t.ID, zeroDash(t.DepartmentID), zeroDash(t.ModuleID),
			zeroDash(t.ServiceID), zeroDash(t.JobID), stamp(t.CreatedAt), stamp(t.ClosedAt), t.Title, t.Reason)
	})
	c.Use, c.Short = "tasks [--json]", "Tasks for departments: operations that failed for good, services needing manual setup"
	c.AddCommand(tasksCloseCmd(a))
	return c
}

// tasksCloseCmd is the tasks screen's x: all the tasks are closed, or none is.
func tasksCloseCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "close ID…",
		Short: "Mark department tasks done (all of them, or none when one cannot be closed)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give one or more task ids; see vmmpm tasks")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ids := make([]uint64, len(args))
			for i, arg := range args {
				id, err := parseID(kindTask, arg)
				if err != nil {
					return err
				}
				ids[i] = id
			}
			err := a.withBackend(false, func(b backend.Backend) error { return b.CloseTasks(c.Context(), ids) })
			var re *backend.RecordError
			if errors.As(err, &re) {
				return kindTask.refusal(re.ID, err)
			}
			if err != nil {
				return err
			}
			for _, id := range ids {
				fmt.Fprintf(a.stdout, "closed task %d\n", id)
			}
			return nil
		},
	}
}
