//! Usage, Integrations and key rotation in the dashboard: signed out, roles too weak,
//! another workspace's key, and a grace the form does not offer.

use reqwest::{Method, StatusCode};

use super::{
    Action, ELSEWHERE, NOT_ALLOWED, Workspace, csrf, expect_elsewhere, expect_page, expect_roles,
    expect_sign_in, submit,
};
use crate::dashboard::dashboard_key;
use crate::team::id_after;

#[tokio::test]
async fn usage_integrations_and_rotation_refuse_the_signed_out_weak_roles_and_strangers() {
    let Workspace {
        admin,
        app,
        members,
        stranger,
        ..
    } = Workspace::new().await;
    let pages: Vec<Action> = vec![
        (Method::GET, "/app/usage".to_owned(), vec![]),
        (Method::GET, "/app/settings/integrations".to_owned(), vec![]),
    ];
    expect_sign_in(&app, &pages).await;
    // Usage is the Admins'; Integrations every member's.
    expect_roles(&members, &pages[1..], |_, _| true).await;
    for (role, member) in &members {
        let usage = member.get("/app/usage").await;
        expect_page(&usage, StatusCode::FORBIDDEN, NOT_ALLOWED, role);
    }

    // Rotating the Admin's key: signed out, a Viewer, an Editor (whose keys it is
    // not) and another workspace's Admin are all refused, and so is a grace the form
    // does not offer: nothing is rotated.
    dashboard_key(&admin, "rotated", "editor").await;
    let keys = admin.get("/app/settings/api-keys").await;
    let id = id_after(&keys, "/app/settings/api-keys/");
    let rotate = format!("/app/settings/api-keys/{id}/rotate");
    let action: Vec<Action> = vec![(Method::POST, rotate.clone(), vec![("grace", "0")])];
    expect_sign_in(&app, &action).await;
    expect_elsewhere(&stranger, &action).await;
    for (role, member) in &members {
        let token = csrf(member).await;
        let refused = submit(member, &Method::POST, &rotate, &[("grace", "0")], &token).await;
        match *role {
            "viewer" => expect_page(&refused, StatusCode::FORBIDDEN, NOT_ALLOWED, role),
            _ => expect_page(&refused, StatusCode::NOT_FOUND, ELSEWHERE, role),
        }
    }
    let token = csrf(&admin).await;
    for grace in ["5", "soon", ""] {
        let odd = submit(&admin, &Method::POST, &rotate, &[("grace", grace)], &token).await;
        assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{grace:?}");
    }
    let keys = admin.get("/app/settings/api-keys").await;
    assert!(!keys.body.contains("Rotated"), "nothing was rotated");
}
