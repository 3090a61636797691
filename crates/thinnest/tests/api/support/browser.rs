//! A cookie-keeping HTTPS client that posts forms as a browser does (with `Origin`).

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::TestApp;

pub struct Browser {
    client: reqwest::Client,
    base: String,
}

/// A response: status, headers, body text.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The hidden `csrf_token` field of the page's forms.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a csrf_token field") + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        let ca = std::fs::read(app.data_dir.path().join("tls/ca.pem")).expect("CA");
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA PEM")])
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        Browser {
            client,
            base: app.https.clone(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let response = request.send().await.expect("request");
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Posts a form from our own origin.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(&self.base.clone(), path, form).await
    }

    /// Posts a form as if from a page of `origin`.
    pub async fn post_from(&self, origin: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .request(Method::POST, format!("{}{path}", self.base))
            .header("origin", origin)
            .form(form);
        self.send(request).await
    }
}

impl TestApp {
    /// The token of the newest message to `to` in the outbox, from its `#token=` link.
    pub fn emailed_token(&self, to: &str) -> String {
        let dir = self.data_dir.path().join("outbox");
        let mut messages: Vec<_> = std::fs::read_dir(&dir)
            .expect("outbox")
            .flatten()
            .map(|e| e.path())
            .collect();
        messages.sort();
        let text = messages
            .iter()
            .rev()
            .map(|p| std::fs::read_to_string(p).expect("message"))
            .map(|t| t.replace("=\r\n", "").replace("=3D", "="))
            .find(|t| t.contains(&format!("To: {to}")))
            .unwrap_or_else(|| panic!("no message to {to}"));
        let start = text.find("#token=").expect("a link") + "#token=".len();
        text[start..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect()
    }

    /// How many messages the outbox holds.
    pub fn outbox_len(&self) -> usize {
        std::fs::read_dir(self.data_dir.path().join("outbox")).map_or(0, |d| d.count())
    }
}
