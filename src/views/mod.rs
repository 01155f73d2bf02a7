//! Renderings: the human plan (Terraform's shape), the JSON plan, apply progress lines and
//! the resource-type reference. No decisions are made here.

pub mod docs;
pub mod json;
pub mod stack_schema;
pub mod terraform;

use std::fmt::Write as _;
use std::io::IsTerminal;

use crate::apply::Event;
use crate::plan::{Action, ActionReason, Change, Plan, ResourcePlan};
use crate::value::Value;

/// ANSI colour, on only for a terminal without NO_COLOR or --no-color.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn detect(no_color_flag: bool) -> Style {
        let no_color = no_color_flag || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
    fn action(self, action: Action) -> String {
        match action {
            Action::Create => self.green("+"),
            Action::Update => self.yellow("~"),
            Action::Delete => self.red("-"),
            Action::Replace => format!("{}/{}", self.red("-"), self.green("+")),
            Action::NoOp => " ".into(),
        }
    }
}

/// The plan as a person reads it; ends with the `Plan: ...` summary line.
pub fn render_plan(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    if !plan.selection.is_whole() {
        let _ = writeln!(
            out,
            "{} this plan is partial ({}): the stack's other resources are left out and may not match it. Plan without these flags to see everything.\n",
            style.bold("Warning:"),
            plan.selection.describe()
        );
    }
    let changing: Vec<&ResourcePlan> = plan
        .resources
        .iter()
        .filter(|r| r.action != Action::NoOp || r.moved_from.is_some())
        .collect();
    if changing.is_empty() {
        let forgotten = plan
            .resources
            .iter()
            .filter(|r| r.reason == ActionReason::AlreadyGone)
            .count();
        let _ = writeln!(
            out,
            "{}",
            style.bold("No changes. The stack matches what is deployed.")
        );
        if forgotten > 0 {
            let _ = writeln!(
                out,
                "{forgotten} resource(s) already deleted outside strata will be removed from state by apply."
            );
        }
        return out;
    }
    let _ = writeln!(out, "strata will perform the following actions:\n");
    for rp in changing {
        render_resource(&mut out, rp, style);
    }
    let _ = writeln!(out, "{}", summary(plan));
    out
}

pub fn summary(plan: &Plan) -> String {
    let add = plan.count(Action::Create) + plan.count(Action::Replace);
    let change = plan.count(Action::Update);
    let destroy = plan.count(Action::Delete) + plan.count(Action::Replace);
    format!("Plan: {add} to add, {change} to change, {destroy} to destroy.")
}

fn render_resource(out: &mut String, rp: &ResourcePlan, style: Style) {
    let address = rp.address();
    let moved = rp
        .moved_from
        .as_ref()
        .map(|old| crate::config::address::address(&rp.type_name, old));
    let what = match rp.action {
        Action::Create => "will be created".to_string(),
        Action::Update => "will be updated in place".to_string(),
        Action::Replace => "must be replaced".to_string(),
        Action::Delete => "will be destroyed".to_string(),
        Action::NoOp => {
            // Only renamed in state: nothing changes in AWS.
            if let Some(old) = &moved {
                let _ = writeln!(out, "  # {} has moved from {old}\n", style.bold(&address));
            }
            return;
        }
    };
    let mut heading = format!("  # {} {what}", style.bold(&address));
    if let Some(old) = &moved {
        let _ = write!(heading, " (moved from {old})");
    }
    if let Some(note) = rp.reason.note() {
        let _ = write!(heading, " ({note})");
    }
    let _ = writeln!(out, "{heading}");
    if let Some(at) = &rp.declared_at {
        let _ = writeln!(out, "  #   declared at {at}");
    }
    if let Some(deletion) = &rp.deletion {
        let _ = writeln!(out, "  #   the object is {deletion}");
    }
    if rp.create_before_destroy {
        let _ = writeln!(
            out,
            "  #   create before destroy: the new object is created first, then the old one deleted"
        );
    }
    let _ = writeln!(
        out,
        "{} resource \"{}\" \"{}\" {{",
        pad_symbol(&style.action(rp.action), rp.action),
        rp.type_name,
        // An instance of a `for_each` resource shows its resource's name, as Terraform
        // does; the heading above gives the instance.
        crate::config::expr::split_instance(&rp.name).0
    );
    if let Some(id) = &rp.id {
        let _ = writeln!(out, "        id = {id:?}");
    }
    let width = rp.changes.iter().map(|c| c.path.len()).max().unwrap_or(0);
    for change in &rp.changes {
        render_change(out, change, rp.action, width, style);
    }
    let _ = writeln!(out, "    }}\n");
}

fn pad_symbol(symbol: &str, action: Action) -> String {
    match action {
        Action::Replace => symbol.to_string(),
        _ => format!("  {symbol}"),
    }
}

fn render_change(out: &mut String, change: &Change, action: Action, width: usize, style: Style) {
    // Values derived from sensitive variables never reach the screen.
    let show = |v: &Value| {
        if change.sensitive {
            "(sensitive value)".to_string()
        } else {
            v.render()
        }
    };
    let after = change
        .after
        .as_ref()
        .map(show)
        .unwrap_or_else(|| "null".into());
    let line = match (&change.before, action) {
        (None, Action::Create) => format!("{} {:<width$} = {after}", style.green("+"), change.path),
        (None, _) => format!("{} {:<width$} = {after}", style.green("+"), change.path),
        (Some(before), _) if change.after.is_none() => format!(
            "{} {:<width$} = {}",
            style.red("-"),
            change.path,
            show(before)
        ),
        (Some(before), _) => format!(
            "{} {:<width$} = {} -> {after}",
            style.yellow("~"),
            change.path,
            show(before)
        ),
    };
    let forces = if change.forces_replacement {
        format!(" {}", style.red("# forces replacement"))
    } else {
        String::new()
    };
    // Where an in-place change comes from matters when stacks extend each other.
    let origin = match (&change.origin, action) {
        (Some(origin), Action::Update | Action::Replace) => format!("  # {origin}"),
        _ => String::new(),
    };
    let _ = writeln!(out, "      {line}{forces}{origin}");
}

/// One progress line per event, Terraform's wording.
pub fn progress_line(event: &Event) -> String {
    let verb = |a: crate::plan::Action, ing: bool| match (a, ing) {
        (Action::Create, true) => "Creating...",
        (Action::Create, false) => "Creation complete",
        (Action::Update, true) => "Modifying...",
        (Action::Update, false) => "Modifications complete",
        (Action::Replace, true) => "Replacing...",
        (Action::Replace, false) => "Replacement complete",
        (Action::Delete, true) => "Destroying...",
        (Action::Delete, false) => "Destruction complete",
        (Action::NoOp, _) => "Refreshing",
    };
    match event {
        Event::Started { address, action } => format!("{address}: {}", verb(*action, true)),
        Event::StillRunning {
            address,
            action,
            elapsed,
        } => {
            let ing = verb(*action, true).trim_end_matches("...").to_lowercase();
            format!("{address}: Still {ing}... [{}s elapsed]", elapsed.as_secs())
        }
        Event::Done {
            address,
            action,
            elapsed,
        } => {
            format!(
                "{address}: {} after {:.1}s",
                verb(*action, false),
                elapsed.as_secs_f64()
            )
        }
        Event::Failed {
            address,
            action,
            error,
        } => {
            format!(
                "{address}: {} FAILED: {error}",
                verb(*action, true).trim_end_matches("...")
            )
        }
        Event::Retrying {
            address, reason, ..
        } => format!("{address}: retrying: {reason}"),
        Event::NotStarted { address } => format!("{address}: not started (interrupted)"),
        Event::Skipped { address, because } => {
            format!("{address}: skipped because {because} failed")
        }
    }
}
