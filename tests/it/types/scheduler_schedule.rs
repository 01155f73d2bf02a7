//! `scheduler.schedule`: a schedule sending to a queue through its whole life; an existing
//! schedule is refused; bad input fails in validate.

use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;

use super::rules_kit::{Lifecycle, assert_replaced_by};
use crate::common::{assert_exit, stderr, strata};

struct Schedule<'a> {
    group: &'a str,
    expression: &'a str,
    window: &'a str,
    input: &'a str,
    state: &'a str,
    description: &'a str,
}

fn stack(s: &Schedule) -> String {
    let Schedule {
        group,
        expression,
        window,
        input,
        state,
        description,
    } = s;
    format!(
        r#"
[resources.jobs]
type = "sqs.queue"
name = "schedule-jobs"

[resources.invoker]
type = "iam.role"
name = "scheduler-invoke"
assume_role_policy = {{ service = "scheduler.amazonaws.com" }}

[resources.report]
type = "scheduler.schedule"
name = "report"
group_name = "{group}"
schedule_expression = "{expression}"
schedule_expression_timezone = "Europe/Paris"
flexible_time_window = {window}
target = {{ arn = "${{jobs.arn}}", role_arn = "${{invoker.arn}}", input = '{input}' }}
state = "{state}"
description = "{description}"
start_date = "2030-01-01T01:00:00+01:00"
end_date = "2031-01-01T00:00:00Z"
"#
    )
}

async fn get(aws: &strata::aws::Clients, group: &str, name: &str) -> Option<GetScheduleOutput> {
    match aws
        .scheduler
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
    {
        Ok(s) => Some(s),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("GetSchedule {group}/{name}: {e:?}"),
    }
}

/// 2030-01-01T00:00:00Z and 2031-01-01T00:00:00Z.
const START: i64 = 1_893_456_000;
const END: i64 = 1_924_992_000;

#[tokio::test]
async fn a_schedule_lives_and_dies_with_the_stack() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    let account = aws.account_id().await.unwrap().to_string();
    let role = format!("arn:aws:iam::{account}:role/scheduler-invoke");
    let queue_arn = format!("arn:aws:sqs:us-east-1:{account}:schedule-jobs");
    let mut s = Schedule {
        group: "default",
        expression: "rate(2 hours)",
        window: r#"{ mode = "FLEXIBLE", maximum_window_in_minutes = 15 }"#,
        input: r#"{"report":"daily"}"#,
        state: "ENABLED",
        description: "the daily report",
    };
    t.write(&stack(&s));
    t.apply();

    // Every declared attribute, as Scheduler describes the schedule.
    let live = get(aws, "default", "report").await.expect("the schedule");
    assert_eq!(
        live.arn(),
        Some(format!("arn:aws:scheduler:us-east-1:{account}:schedule/default/report").as_str())
    );
    assert_eq!(live.schedule_expression(), Some("rate(2 hours)"));
    assert_eq!(live.schedule_expression_timezone(), Some("Europe/Paris"));
    let window = live.flexible_time_window().unwrap();
    assert_eq!(
        (window.mode().as_str(), window.maximum_window_in_minutes()),
        ("FLEXIBLE", Some(15))
    );
    let target = live.target().unwrap();
    assert_eq!(
        (target.arn(), target.role_arn(), target.input()),
        (
            queue_arn.as_str(),
            role.as_str(),
            Some(r#"{"report":"daily"}"#)
        )
    );
    assert_eq!(live.state().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(live.description(), Some("the daily report"));
    assert_eq!(live.start_date().map(|d| d.secs()), Some(START));
    assert_eq!(live.end_date().map(|d| d.secs()), Some(END));
    assert_eq!(t.id("report"), "default/report");
    assert_eq!(t.changes(), vec![]);

    // In place: the expression, the window, the input, the state and the description.
    s.expression = "cron(0 8 ? * MON *)";
    s.window = r#"{ mode = "OFF" }"#;
    s.input = r#"{"report":"weekly"}"#;
    s.state = "DISABLED";
    s.description = "the weekly report";
    t.write(&stack(&s));
    assert_eq!(t.planned("scheduler.schedule.report")["action"], "update");
    t.apply();
    assert_eq!(t.id("report"), "default/report");
    let live = get(aws, "default", "report").await.unwrap();
    assert_eq!(live.schedule_expression(), Some("cron(0 8 ? * MON *)"));
    let window = live.flexible_time_window().unwrap();
    assert_eq!(
        (window.mode().as_str(), window.maximum_window_in_minutes()),
        ("OFF", None)
    );
    assert_eq!(
        live.target().unwrap().input(),
        Some(r#"{"report":"weekly"}"#)
    );
    assert_eq!(live.state().map(|s| s.as_str()), Some("DISABLED"));
    assert_eq!(live.description(), Some("the weekly report"));
    assert_eq!(live.schedule_expression_timezone(), Some("Europe/Paris"));
    assert_eq!(live.start_date().map(|d| d.secs()), Some(START));
    assert_eq!(t.changes(), vec![]);

    // Drift made outside strata shows in the plan, and apply puts it back.
    aws.scheduler
        .update_schedule()
        .name("report")
        .schedule_expression(live.schedule_expression().unwrap())
        .schedule_expression_timezone("Europe/Paris")
        .flexible_time_window(live.flexible_time_window().unwrap().clone())
        .target(live.target().unwrap().clone())
        .state(live.state().unwrap().clone())
        .description("changed by hand")
        .set_start_date(live.start_date().copied())
        .set_end_date(live.end_date().copied())
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.changes(),
        [(
            "scheduler.schedule.report".to_string(),
            "update".to_string(),
            vec!["description".to_string()]
        )]
    );
    t.apply();
    let live = get(aws, "default", "report").await.unwrap();
    assert_eq!(live.description(), Some("the weekly report"));

    // Another group replaces the schedule, and the plan says which attribute forces it.
    aws.scheduler
        .create_schedule_group()
        .name("reports")
        .send()
        .await
        .unwrap();
    s.group = "reports";
    t.write(&stack(&s));
    assert_replaced_by(&t.planned("scheduler.schedule.report"), "group_name");
    t.apply();
    assert!(get(aws, "default", "report").await.is_none());
    let moved = get(aws, "reports", "report")
        .await
        .expect("the new schedule");
    assert_eq!(moved.description(), Some("the weekly report"));
    assert_eq!(t.id("report"), "reports/report");

    // Import by ARN reproduces the state: the plan is empty.
    let queue_url = t.id("jobs");
    let schedule_arn = moved.arn().unwrap().to_string();
    t.import_reproduces_an_empty_plan(&[
        ("jobs", &queue_url),
        ("invoker", "scheduler-invoke"),
        ("report", &schedule_arn),
    ]);
    assert_eq!(t.id("report"), "reports/report");

    t.policy_names(&[
        "scheduler:GetSchedule",
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "iam:PassRole",
    ]);

    // Destroy leaves nothing.
    let out = t.run(&["destroy", "stack.toml", "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(get(aws, "reports", "report").await.is_none());
    let left = aws.scheduler.list_schedules().send().await.unwrap();
    assert_eq!(left.schedules().len(), 0, "{left:?}");
}

#[tokio::test]
async fn an_existing_schedule_is_not_taken_over() {
    let t = Lifecycle::start().await;
    let aws = &t.aws;
    let account = aws.account_id().await.unwrap().to_string();
    let role = format!("arn:aws:iam::{account}:role/scheduler-invoke");
    let target = aws_sdk_scheduler::types::Target::builder()
        .arn(format!("arn:aws:sqs:us-east-1:{account}:elsewhere"))
        .role_arn(&role)
        .build()
        .unwrap();
    let off = aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
        .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
        .build()
        .unwrap();
    aws.scheduler
        .create_schedule()
        .name("outside")
        .schedule_expression("rate(1 day)")
        .flexible_time_window(off)
        .target(target)
        .description("not strata's")
        .send()
        .await
        .unwrap();
    t.write(&format!(
        r#"
[resources.outside]
type = "scheduler.schedule"
name = "outside"
schedule_expression = "rate(1 hour)"
flexible_time_window = {{ mode = "OFF" }}
target = {{ arn = "arn:aws:sqs:us-east-1:{account}:mine", role_arn = "{role}" }}
"#
    ));
    t.apply_is_refused("scheduler.schedule", "`outside`", "default/outside");
    let live = get(aws, "default", "outside").await.unwrap();
    assert_eq!(live.description(), Some("not strata's"));
    assert_eq!(live.schedule_expression(), Some("rate(1 day)"));
}

/// Each mistake fails `strata validate` at its line, before any AWS call (no endpoint).
#[test]
fn bad_schedules_fail_in_validate() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"[stack]
name = "t"

[resources.a]
type = "scheduler.schedule"
name = "a/b"
schedule_expression = "at(2030-01-01 09:00)"
flexible_time_window = { mode = "OFF" }
target = { arn = "arn:aws:sqs:us-east-1:123456789012:q", role_arn = "arn:aws:iam::123456789012:role/r" }

[resources.b]
type = "scheduler.schedule"
name = "b"
schedule_expression = "rate(5 minutes)"
flexible_time_window = { mode = "FLEXIBLE", maximum_window_in_minutes = 2000 }
target = { arn = "arn:aws:sqs:us-east-1:123456789012:q" }
start_date = "next monday"
state = "PAUSED"

[resources.c]
type = "scheduler.schedule"
name = "c"
schedule_expression = "at(2030-01-01T09:00:00)"
flexible_time_window = { mode = "FLEXIBLE" }
target = { arn = "arn:aws:sqs:us-east-1:123456789012:q", role_arn = "arn:aws:iam::123456789012:role/r" }
start_date = "2031-01-01T00:00:00Z"
end_date = "2031-01-01T00:30:00+01:00"
"#;
    std::fs::write(dir.path().join("stack.toml"), text).unwrap();
    let out = strata(dir.path(), &["validate", "stack.toml"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for expected in [
        "stack.toml:6:8",   // name
        "stack.toml:7:23",  // at() without a time
        "stack.toml:15:",   // 2000 minutes
        "stack.toml:16:",   // target without role_arn
        "stack.toml:17:14", // date
        "stack.toml:18:9",  // state
        "stack.toml:24:",   // FLEXIBLE without a maximum
        "stack.toml:27:",   // ends before it starts
        "a schedule's end date must come after its start date",
        "a flexible time window needs `maximum_window_in_minutes`",
        "2000 is out of range: expected 1 to 1440",
        "role_arn",
        "expected an RFC 3339 date and time",
    ] {
        assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
    }
}
