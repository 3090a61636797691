//! Teams in the dashboard: invitations, roles, removal, switching workspaces.

use reqwest::StatusCode;

use crate::dashboard::{PASSWORD, dashboard_key, sign_in, signed_up};
use crate::support::TestApp;
use crate::support::browser::{Browser, Page};

/// The id after `prefix` in the first link or form action of the page that has it.
pub fn id_after(page: &Page, prefix: &str) -> String {
    let start = page
        .body
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {}", page.body))
        + prefix.len();
    page.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Accepts an invitation as a signed-in browser does: from the page, with its CSRF token.
pub async fn accept(browser: &Browser, token: &str) -> Page {
    let page = browser.get("/app/invitations/accept").await;
    browser
        .post(
            "/app/invitations/accept",
            &[("token", token), ("csrf_token", &page.csrf())],
        )
        .await
}

pub async fn invite(app: &TestApp, admin: &Browser, email: &str, role: &str) -> String {
    let team = admin.get("/app/settings/team").await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    let before = app.outbox().len();
    let sent = admin
        .post(
            "/app/settings/team/invitations",
            &[
                ("csrf_token", &team.csrf()),
                ("email", email),
                ("role", role),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains(email));
    app.token_sent_after(email, before).await
}

#[tokio::test]
async fn an_invited_viewer_joins_and_sees_no_write_controls() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    let member = signed_up(&app, "viewer@example.com").await;
    let token = invite(&app, &admin, "viewer@example.com", "viewer").await;

    let joined = accept(&member, &token).await;
    assert_eq!(
        (joined.status, joined.location()),
        (StatusCode::SEE_OTHER, "/app"),
        "{}",
        joined.body
    );
    let home = member.get("/app").await;
    assert!(
        home.body.contains("owner&#39;s workspace (viewer)"),
        "{}",
        home.body
    );
    for hidden in ["/app/settings/api-keys", "/app/settings/team"] {
        assert!(
            !home.body.contains(&format!("href=\"{hidden}\"")),
            "a viewer sees {hidden}"
        );
        assert_eq!(
            member.get(hidden).await.status,
            StatusCode::FORBIDDEN,
            "{hidden}"
        );
    }
    let again = accept(&member, &token).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "a link works once");

    // Back to the member's own workspace, with the switcher in the page header.
    assert!(
        home.body.contains("action=\"/app/workspaces/switch\""),
        "{}",
        home.body
    );
    let own = {
        let marker = "<option value=\"";
        let ids: Vec<String> = home
            .body
            .match_indices(marker)
            .map(|(i, _)| {
                home.body[i + marker.len()..]
                    .chars()
                    .take_while(|c| *c != '"')
                    .collect()
            })
            .filter(|id: &String| id.starts_with("acct_"))
            .collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        ids.into_iter()
            .find(|id| !home.body.contains(&format!("value=\"{id}\" selected")))
            .unwrap()
    };
    let back = member
        .post(
            "/app/workspaces/switch",
            &[("csrf_token", &home.csrf()), ("account_id", &own)],
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(
        member
            .get("/app")
            .await
            .body
            .contains("viewer&#39;s workspace (admin)")
    );
    let switched = member
        .post(
            "/app/workspaces/switch",
            &[("csrf_token", &home.csrf()), ("account_id", "acct_nope")],
        )
        .await;
    assert_eq!(
        switched.status,
        StatusCode::NOT_FOUND,
        "only one's own workspaces"
    );
}

#[tokio::test]
async fn the_last_admin_stays_and_a_removed_member_is_signed_out_but_keys_remain() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "boss@example.com").await;
    let member = signed_up(&app, "dev@example.com").await;
    let token = invite(&app, &admin, "dev@example.com", "editor").await;
    accept(&member, &token).await;

    // The editor makes a key; the team page counts it against them.
    let keys = member.get("/app/settings/api-keys").await;
    assert_eq!(
        keys.status,
        StatusCode::OK,
        "an editor manages its own keys"
    );
    assert!(
        !keys.body.contains("<option value=\"admin\">"),
        "no role above its own"
    );
    let key = dashboard_key(&member, "dev", "editor").await;
    assert_eq!(
        member.get("/app/settings/team").await.status,
        StatusCode::FORBIDDEN
    );

    let team = admin.get("/app/settings/team").await;
    assert!(team.body.contains("1 active"), "{}", team.body);
    let boss_id = id_after(&team, "/app/settings/team/members/");
    let csrf = team.csrf();
    let demote = admin
        .post(
            &format!("/app/settings/team/members/{boss_id}/role"),
            &[("csrf_token", &csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(demote.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(demote.body.contains("at least one Admin"));
    let leave = admin
        .post(
            &format!("/app/settings/team/members/{boss_id}/remove"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(leave.status, StatusCode::UNPROCESSABLE_ENTITY);

    let dev_id = {
        let after_boss = &team.body[team.body.find(&boss_id).unwrap() + boss_id.len()..];
        let marker = "/app/settings/team/members/";
        let start = after_boss.rfind(marker).map(|i| i + marker.len()).unwrap();
        after_boss[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    assert_ne!(dev_id, boss_id);
    let removed = admin
        .post(
            &format!("/app/settings/team/members/{dev_id}/remove"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(removed.body.contains("rotate them"));
    assert_eq!(
        member.get("/app").await.status,
        StatusCode::SEE_OTHER,
        "signed out of that workspace at once"
    );
    assert_eq!(
        app.get("/agents", &key).await.0,
        StatusCode::OK,
        "the workspace's keys stay"
    );
    assert_eq!(
        sign_in(&Browser::new(&app), "dev@example.com", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn an_invitation_is_only_for_its_address_and_can_be_cancelled() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "lead@example.com").await;
    let token = invite(&app, &admin, "guest@example.com", "viewer").await;

    let stranger = signed_up(&app, "stranger@example.com").await;
    let stolen = accept(&stranger, &token).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND);
    let anonymous = Browser::new(&app)
        .post("/app/invitations/accept", &[("token", &token)])
        .await;
    assert!(
        anonymous.body.contains("guest@example.com"),
        "{}",
        anonymous.body
    );

    let team = admin.get("/app/settings/team").await;
    let id = id_after(&team, "/app/settings/team/invitations/");
    let cancelled = admin
        .post(
            &format!("/app/settings/team/invitations/{id}/cancel"),
            &[("csrf_token", &team.csrf())],
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let guest = signed_up(&app, "guest@example.com").await;
    assert_eq!(accept(&guest, &token).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn accepting_an_invitation_while_signed_in_needs_the_pages_csrf_token() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "host@example.com").await;
    let member = signed_up(&app, "joiner@example.com").await;
    let token = invite(&app, &admin, "joiner@example.com", "viewer").await;
    let forged = member
        .post("/app/invitations/accept", &[("token", &token)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(accept(&member, &token).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn only_admins_see_the_billing_page_and_set_the_contact() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "payer@example.com").await;
    let member = signed_up(&app, "builder@example.com").await;
    let token = invite(&app, &admin, "builder@example.com", "editor").await;
    accept(&member, &token).await;

    let page = admin.get("/app/settings/billing").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("href=\"/app/settings/billing\""));
    assert!(page.body.contains("self-hosted"));
    let csrf = page.csrf();
    let bad = admin
        .post(
            "/app/settings/billing",
            &[("csrf_token", &csrf), ("email", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let forged = admin
        .post(
            "/app/settings/billing",
            &[("csrf_token", "forged"), ("email", "a@example.com")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let saved = admin
        .post(
            "/app/settings/billing",
            &[("csrf_token", &csrf), ("email", "ap@example.com")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("value=\"ap@example.com\""));

    // The Editor gets neither the link nor the page, nor can post to it.
    let home = member.get("/app").await;
    assert!(
        !home.body.contains("/app/settings/billing"),
        "{}",
        home.body
    );
    assert_eq!(
        member.get("/app/settings/billing").await.status,
        StatusCode::FORBIDDEN
    );
    let csrf = home.csrf();
    let post = member
        .post(
            "/app/settings/billing",
            &[("csrf_token", &csrf), ("email", "me@example.com")],
        )
        .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    let anonymous = crate::support::browser::Browser::new(&app)
        .get("/app/settings/billing")
        .await;
    assert_eq!(anonymous.location(), "/app/login");
}

#[tokio::test]
async fn admins_read_the_audit_log_page_and_others_cannot() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "auditor@example.com").await;
    let member = signed_up(&app, "member@example.com").await;
    let token = invite(&app, &admin, "member@example.com", "editor").await;
    accept(&member, &token).await;
    let log = admin.get("/app/settings/audit-log").await;
    assert_eq!(log.status, StatusCode::OK);
    // Actions, people and details in words.
    for words in [
        "<td>Invited a member</td>",
        "<td>Joined the workspace</td>",
        "<td>Signed in</td>",
        "<td>auditor@example.com</td>",
        "<span class=\"muted\">role:</span> editor",
    ] {
        assert!(log.body.contains(words), "{words}: {}", log.body);
    }
    // Filtered by action, by person and by date.
    let invites = admin
        .get("/app/settings/audit-log?action=member.invited")
        .await;
    assert!(invites.body.contains("<td>Invited a member</td>"));
    assert!(!invites.body.contains("<td>Joined the workspace</td>"));
    let marker = "\">member@example.com</option>";
    let end = log.body.find(marker).expect("the member among the people");
    let start = log.body[..end].rfind("value=\"").unwrap() + "value=\"".len();
    let member_id = &log.body[start..end];
    let theirs = admin
        .get(&format!("/app/settings/audit-log?person={member_id}"))
        .await;
    assert!(theirs.body.contains("<td>Joined the workspace</td>"));
    assert!(!theirs.body.contains("<td>Invited a member</td>"));
    let later = admin.get("/app/settings/audit-log?from=2999-01-01").await;
    assert!(later.body.contains("Nothing matches this filter."));
    let not_a_date = admin.get("/app/settings/audit-log?from=soon").await;
    assert!(not_a_date.body.contains("<td>Joined the workspace</td>"));
    assert_eq!(
        member.get("/app/settings/audit-log").await.status,
        StatusCode::FORBIDDEN
    );
    let odd = admin.get("/app/settings/audit-log?cursor=nope&x=1").await;
    assert_eq!(
        odd.status,
        StatusCode::OK,
        "a cursor not of ours starts from the newest"
    );
}
