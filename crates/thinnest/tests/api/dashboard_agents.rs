//! Agents built in the dashboard: made with the form, given documents, asked in the
//! test chat, found by search and in pages, changed and deleted.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::dashboard::{dashboard_key, signed_up};
use crate::support::TestApp;
use crate::support::browser::Browser;

/// Makes an agent with the dashboard's form; returns its id.
async fn made_in_dashboard(browser: &Browser, name: &str, first_message: &str) -> String {
    let form = browser.get("/app/agents/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let made = browser
        .post(
            "/app/agents",
            &[
                ("csrf_token", &form.csrf()),
                ("name", name),
                ("instructions", "Answer from the documents."),
                ("first_message", first_message),
                ("model", "builtin"),
                ("voice_provider", "builtin"),
                ("voice_id", "default"),
                ("language", "en-US"),
                ("speed", "1.0"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let location = made.location();
    let id = location
        .strip_prefix("/app/agents/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .unwrap_or_else(|| panic!("{location}"));
    id.to_owned()
}

#[tokio::test]
async fn an_agent_made_in_the_dashboard_answers_the_test_chat_from_its_documents() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    let home = admin.get("/app").await;
    assert!(home.body.contains("Get started"), "{}", home.body);
    let agent = made_in_dashboard(&admin, "Shop helper", "Hello! Ask me anything.").await;
    let overview = admin
        .get(&format!("/app/agents/{agent}?done=created"))
        .await;
    assert!(overview.body.contains("Agent created."));
    assert!(overview.body.contains("Hello! Ask me anything."));
    assert!(overview.body.contains("aria-current=\"page\">Overview<"));

    // A document pasted, another uploaded.
    let knowledge = admin.get(&format!("/app/agents/{agent}/knowledge")).await;
    let csrf = knowledge.csrf();
    let pasted = admin
        .post(
            &format!("/app/agents/{agent}/knowledge"),
            &[
                ("csrf_token", csrf.as_str()),
                ("title", "Returns"),
                ("text", "Returns are accepted within 30 days of delivery."),
            ],
        )
        .await;
    assert_eq!(pasted.status, StatusCode::SEE_OTHER, "{}", pasted.body);
    let upload = Form::new().text("csrf_token", csrf.clone()).part(
        "file",
        Part::bytes(b"The shop closes at 18:00 on weekdays.".to_vec()).file_name("hours.txt"),
    );
    let uploaded = admin
        .post_multipart(&format!("/app/agents/{agent}/knowledge/upload"), upload)
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    let listed = admin.get(uploaded.location()).await;
    assert!(listed.body.contains("Document added."));
    assert!(listed.body.contains("Returns") && listed.body.contains("hours.txt"));
    // A file of another kind is refused with words, and nothing is added.
    let wrong = Form::new().text("csrf_token", csrf.clone()).part(
        "file",
        Part::bytes(b"%PDF-1.7".to_vec()).file_name("hours.pdf"),
    );
    let refused = admin
        .post_multipart(&format!("/app/agents/{agent}/knowledge/upload"), wrong)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Upload a .txt, .md or .json file."));
    // An upload whose first field is not the CSRF token is refused unread.
    let forged = Form::new()
        .part("file", Part::bytes(b"text".to_vec()).file_name("a.txt"))
        .text("csrf_token", csrf.clone());
    let forged = admin
        .post_multipart(&format!("/app/agents/{agent}/knowledge/upload"), forged)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // The test chat answers from them, and keeps the conversation going.
    let asked = admin
        .post(
            &format!("/app/agents/{agent}/chat"),
            &[
                ("csrf_token", csrf.as_str()),
                ("message", "How many days do I have for returns?"),
            ],
        )
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let chat = admin.get(asked.location()).await;
    assert!(chat.body.contains("30 days"), "{}", chat.body);
    let conversation = crate::team::id_after(&chat, "name=\"conversation\" value=\"");
    let again = admin
        .post(
            &format!("/app/agents/{agent}/chat"),
            &[
                ("csrf_token", csrf.as_str()),
                ("conversation", conversation.as_str()),
                ("message", "When does the shop close?"),
            ],
        )
        .await;
    let chat = admin.get(again.location()).await;
    assert!(chat.body.contains("30 days") && chat.body.contains("18:00"));
    // Listed under Conversations as a test chat, with its transcript.
    let list = admin
        .get(&format!("/app/agents/{agent}/conversations"))
        .await;
    assert!(list.body.contains("Test chat"), "{}", list.body);
    let transcript = admin
        .get(&format!("/app/agents/{agent}/conversations/{conversation}"))
        .await;
    assert!(transcript.body.contains("When does the shop close?"));

    // Changed in Settings; the values typed stay after a mistake.
    let settings = admin.get(&format!("/app/agents/{agent}/settings")).await;
    assert!(settings.body.contains("value=\"Shop helper\""));
    let wrong = admin
        .post(
            &format!("/app/agents/{agent}/settings"),
            &[
                ("csrf_token", csrf.as_str()),
                ("name", "Shop assistant"),
                ("model", "builtin"),
                ("voice_provider", "builtin"),
                ("voice_id", "default"),
                ("language", "en-US"),
                ("speed", "9"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .body
            .contains("Speaking rate must be between 0.5 and 2.0.")
    );
    assert!(wrong.body.contains("value=\"Shop assistant\""));
    assert!(
        wrong
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"f-speed-error\"")
    );
}

#[tokio::test]
async fn the_agent_list_is_searched_and_paged() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    let key = dashboard_key(&admin, "setup", "editor").await;
    let owner = crate::support::Principal {
        account_id: String::new(),
        key_id: String::new(),
        key,
    };
    for n in 0..22 {
        app.agent(&owner, &format!("Helper {n:02}")).await;
    }
    app.agent(&owner, "50% off_bot").await;
    let first = admin.get("/app").await;
    assert!(first.body.contains("50% off_bot") && first.body.contains("Helper 03"));
    assert!(!first.body.contains("Helper 02"), "20 a page, newest first");
    let older = crate::team::id_after(&first, "before=");
    let second = admin.get(&format!("/app?q=&before={older}")).await;
    assert!(second.body.contains("Helper 02") && second.body.contains("Helper 00"));
    assert!(!second.body.contains("Helper 03"));
    // Search is by name, in any case; % and _ are letters like any other.
    let found = admin.get("/app?q=HELPER%201").await;
    assert!(found.body.contains("Helper 10") && found.body.contains("Helper 19"));
    assert!(!found.body.contains("Helper 20") && !found.body.contains("Helper 09"));
    let literal = admin.get("/app?q=0%25%20o").await;
    assert!(literal.body.contains("50% off_bot"));
    assert!(!literal.body.contains("Helper"));
    let underscore = admin.get("/app?q=f_b").await;
    assert!(underscore.body.contains("50% off_bot"));
    let none = admin.get("/app?q=r_0").await;
    assert!(
        none.body.contains("No agent's name contains"),
        "{}",
        none.body
    );
}

#[tokio::test]
async fn keys_default_to_editor_and_rotate_from_the_page_with_a_grace() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    let page = admin.get("/app/settings/api-keys").await;
    assert!(
        page.body.contains("<option value=\"editor\" selected>"),
        "{}",
        page.body
    );
    let old = dashboard_key(&admin, "server", "editor").await;
    let listed = admin.get("/app/settings/api-keys").await;
    let id = crate::team::id_after(&listed, "/app/settings/api-keys/");
    let rotated = admin
        .post(
            &format!("/app/settings/api-keys/{id}/rotate"),
            &[("csrf_token", &listed.csrf()), ("grace", "3600")],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(rotated.body.contains("The replacement key"));
    let start = rotated.body.find("value=\"tai_").expect("the new key") + "value=\"".len();
    let new: String = rotated.body[start..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    // Both work during the grace; the old one says when it stops.
    for key in [&old, &new] {
        let (status, _) = app.get("/agents", key).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(rotated.body.contains("Rotated") && rotated.body.contains("stops"));
    // A second rotation of the old key is refused with words; an unknown grace too.
    let twice = admin
        .post(
            &format!("/app/settings/api-keys/{id}/rotate"),
            &[("csrf_token", &listed.csrf()), ("grace", "0")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(twice.body.contains("it was not rotated"), "{}", twice.body);
    let odd = admin
        .post(
            &format!("/app/settings/api-keys/{id}/rotate"),
            &[("csrf_token", &listed.csrf()), ("grace", "5")],
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Rotating the new one at once ends it on the next request.
    let listed = admin.get("/app/settings/api-keys").await;
    let new_id = crate::team::id_after(&listed, "/app/settings/api-keys/");
    assert_ne!(new_id, id);
    let now = admin
        .post(
            &format!("/app/settings/api-keys/{new_id}/rotate"),
            &[("csrf_token", &listed.csrf()), ("grace", "0")],
        )
        .await;
    assert!(now.body.contains("The replacement key"));
    let (status, _) = app.get("/agents", &new).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_address_under_app_that_leads_nowhere_is_a_page_and_elsewhere_json() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);
    let page = browser.get("/app/no-such-page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("<h1>Not found</h1>"), "{}", page.body);
    let api = browser.get("/no-such-endpoint").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(
        api.body.starts_with("{\"error\":\"not_found\""),
        "{}",
        api.body
    );
}

#[tokio::test]
async fn a_search_finds_names_typed_as_they_are_and_a_huge_one_finds_nothing() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    made_in_dashboard(&admin, "Émile's desk", "Bonjour").await;
    let found = admin.get("/app?q=%C3%89mile").await;
    assert!(found.body.contains("Émile&#39;s desk"), "{}", found.body);
    let huge = format!("/app?q={}", "a".repeat(8_000));
    let page = admin.get(&huge).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No agent's name contains"));
}

#[tokio::test]
async fn a_mangled_query_or_a_forms_address_opened_as_a_link_is_still_a_page() {
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    let agent = made_in_dashboard(&admin, "Helper", "Hi").await;
    for path in [
        "/app?q=a&q=b".to_owned(),
        "/app/usage?range=7d&range=24h".to_owned(),
        format!("/app/agents/{agent}/conversations?before=x&before=y"),
    ] {
        let page = admin.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    }
    let opened = admin.get(&format!("/app/agents/{agent}/chat")).await;
    assert_eq!(opened.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(opened.body.contains("<h1>Not here</h1>"), "{}", opened.body);
    let api = app
        .request(reqwest::Method::PUT, "/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        api.text()
            .await
            .unwrap()
            .starts_with("{\"error\":\"method_not_allowed\"")
    );
}
