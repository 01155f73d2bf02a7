//! The test harness itself, where it can go wrong on a busy machine: the emulator's start
//! on a port another process took.

use std::net::TcpListener;
use std::process::Command;

use crate::common::{assert_exit, repo, stderr};

/// A port held by another process (here, a listener of this test) is reported with exit
/// code 3, which `Emulator::start` answers by trying another port; nothing is started.
#[test]
fn the_emulator_does_not_start_on_a_port_another_process_holds() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let out = Command::new(repo().join("scripts/local-aws"))
        .args(["start", "--port", &port])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    assert_eq!(
        stderr(&out),
        format!("local-aws: port {port} is already in use by another process\n")
    );
    let status = Command::new(repo().join("scripts/local-aws"))
        .args(["status", "--port", &port])
        .output()
        .unwrap();
    assert_exit(&status, 1);
}
