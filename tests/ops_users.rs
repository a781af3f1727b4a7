//! `minimostctl users list|lock|unlock|delete` and `sessions revoke` against a running daemon.

mod chat_common;
mod common;

use chat_common::{runtime, signup};
use common::forms::PASSWORD;
use common::Daemon;

async fn login_page_says(daemon: &Daemon, name: &str) -> (u16, String) {
    let client = daemon.client();
    let page = client
        .get(daemon.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let token = &page[start..start + page[start..].find('"').unwrap()];
    let response = client
        .post(daemon.url("/login"))
        .form(&[
            ("username", name),
            ("password", PASSWORD),
            ("csrf_token", token),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[test]
fn administrators_list_lock_unlock_revoke_and_delete_accounts() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let alice = rt.block_on(signup(&daemon, "alice"));
    rt.block_on(signup(&daemon, "Bob"));

    let listed = daemon.ctl(&["users", "list", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<_> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["alice", "Bob"]);
    assert_eq!(listed["users"][0]["sessions"], 1);

    // Lock: the open session ends at once and logging in is refused, even with the password.
    let lock = daemon.ctl(&["users", "lock", "ALICE"]);
    assert!(lock.status.success(), "{lock:?}");
    assert!(String::from_utf8_lossy(&lock.stdout).contains("1 session(s) ended"));
    let status = rt.block_on(async {
        alice
            .client
            .get(daemon.url("/session"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 401);
    let (code, page) = rt.block_on(login_page_says(&daemon, "alice"));
    assert_eq!(code, 200);
    assert!(page.contains("locked by an administrator"), "{page}");

    // Unlock: the password works again.
    assert!(daemon.ctl(&["users", "unlock", "alice"]).status.success());
    let (code, _) = rt.block_on(login_page_says(&daemon, "alice"));
    assert_eq!(code, 302);

    // Revoke every session of Bob.
    let revoke = daemon.ctl(&["sessions", "revoke", "bob"]);
    assert!(revoke.status.success(), "{revoke:?}");
    assert!(String::from_utf8_lossy(&revoke.stdout).contains("Ended 1 session(s) of 'Bob'"));

    // Delete (hard) removes the account; the name is free again.
    let delete = daemon.ctl(&["users", "delete", "bob", "--hard"]);
    assert!(delete.status.success(), "{delete:?}");
    let listed: serde_json::Value =
        serde_json::from_slice(&daemon.ctl(&["users", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed["users"].as_array().unwrap().len(), 1);

    // Unknown users: one line on stderr, exit status 1.
    let unknown = daemon.ctl(&["users", "lock", "nobody-here"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr).trim(),
        "Error: user 'nobody-here' does not exist"
    );
}
