//! What the command line offers around the commands: shell completions and the man page.

use crate::common::{assert_exit, repo, stdout, strata};

#[test]
fn completions_are_generated_for_each_shell_and_know_every_command() {
    for (shell, marker) in [
        ("bash", "_strata()"),
        ("zsh", "#compdef strata"),
        ("fish", "complete -c strata"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[strata]"),
    ] {
        let out = strata(&repo(), &["completions", shell]);
        assert_exit(&out, 0);
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {text}");
        for command in ["plan", "apply", "destroy", "import", "state", "bootstrap"] {
            assert!(text.contains(command), "{shell} completes `{command}`");
        }
    }
    let out = strata(&repo(), &["completions", "tcsh"]);
    assert_exit(&out, 2);
}

#[test]
fn the_man_page_documents_the_commands() {
    let out = strata(&repo(), &["man"]);
    assert_exit(&out, 0);
    let page = stdout(&out);
    assert!(page.starts_with(".ie"), "{page}");
    assert!(page.contains(".TH strata 1"), "{page}");
    for command in ["strata\\-plan", "strata\\-apply", "strata\\-import"] {
        assert!(page.contains(command), "the man page names {command}");
    }
}
