using Tollgate.Configuration;
using static Tollgate.Tests.Configuration.ConfigTestFiles;

namespace Tollgate.Tests.Configuration;

public sealed class WorkspaceConfigTests
{
    [Fact]
    public void Workspace_budgets_load_with_their_period_and_soft_limit()
    {
        var config = Parse("""
            server: { admin: false }
            workspaces:
              team-a: { max_budget: 250.5, budget_period: calendar_month, soft_limit: 0.8 }
              team-b: { max_budget: 10 }
            """);
        config.Workspaces["team-a"].ShouldBe(new WorkspaceConfig { Name = "team-a", MaxBudget = 250.5m, BudgetPeriod = "calendar_month", SoftLimit = 0.8m });
        config.Workspaces["team-b"].BudgetPeriod.ShouldBeNull();
    }

    [Fact]
    public void Workspace_without_max_budget_or_with_an_unknown_period_is_refused_with_its_line()
    {
        var errors = Fails("""
            server: { admin: false }
            workspaces:
              team-a: { budget_period: 1d }
              team-b: { max_budget: 5, budget_period: weekly }
            """).Errors;
        errors.ShouldContain(e => e.Path == "workspaces.team-a.max_budget" && e.Line == 3);
        errors.ShouldContain(e => e.Path == "workspaces.team-b.budget_period" && e.Line == 4);
    }
}
