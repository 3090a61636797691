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

    /// The body without its Content-Security-Policy nonces, which differ every time:
    /// for comparing two answers.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut rest = self.body.as_str();
        while let Some(at) = rest.find(" nonce=\"") {
            out.push_str(&rest[..at]);
            let after = &rest[at + " nonce=\"".len()..];
            rest = after.split_once('"').map_or("", |(_, tail)| tail);
        }
        out.push_str(rest);
        out
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
        Browser::with_headers(app, HeaderMap::new())
    }

    /// A browser at client address `ip`, as a trusted proxy on 127.0.0.1 reports it
    /// (the app needs `--trusted-proxy 127.0.0.1/32`).
    pub fn at(app: &TestApp, ip: &str) -> Browser {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", ip.parse().expect("an address"));
        Browser::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: HeaderMap) -> Browser {
        let ca = std::fs::read(app.data_dir.path().join("tls/ca.pem")).expect("CA");
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA PEM")])
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .default_headers(headers)
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

    /// GETs any address, as following a redirect to another site does.
    pub async fn get_url(&self, url: &str) -> Page {
        self.send(self.client.get(url)).await
    }

    /// GETs any address with a cookie of our choosing, as a copied browser would.
    pub async fn get_url_with_cookie(&self, url: &str, cookie: &str) -> Page {
        self.send(self.client.get(url).header("cookie", cookie))
            .await
    }

    pub async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Posts a form from our own origin.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(&self.base.clone(), path, form).await
    }

    /// Posts a form from our origin with a `Host` header naming another site.
    pub async fn post_with_host(&self, host: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .request(Method::POST, format!("{}{path}", self.base))
            .header("host", host)
            .header("origin", &self.base)
            .form(form);
        self.send(request).await
    }

    /// Posts a form with these headers (and no `Origin` of ours).
    pub async fn post_with_headers(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Page {
        let mut request = self
            .client
            .request(Method::POST, format!("{}{path}", self.base))
            .form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// Posts a multipart form (a file upload) from our own origin.
    pub async fn post_multipart(&self, path: &str, form: reqwest::multipart::Form) -> Page {
        let request = self
            .client
            .request(Method::POST, format!("{}{path}", self.base))
            .header("origin", &self.base)
            .multipart(form);
        self.send(request).await
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
    /// Mail is sent in the background: wait for it a little.
    pub async fn emailed_token(&self, to: &str) -> String {
        self.token_sent_after(to, 0).await
    }

    /// Like [`TestApp::emailed_token`], among the messages after the first `before`:
    /// for a message that an action just caused.
    pub async fn token_sent_after(&self, to: &str, before: usize) -> String {
        for _ in 0..100 {
            if let Some(token) = self.newest_token(to, before) {
                return token;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no new message to {to}");
    }

    /// Waits until the outbox holds `n` messages.
    pub async fn outbox_reaches(&self, n: usize) {
        for _ in 0..100 {
            if self.outbox().len() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the outbox never held {n} messages");
    }

    /// The outbox's messages, decoded, oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.data_dir.path().join("outbox")) else {
            return Vec::new();
        };
        let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        paths
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| t.replace("=\r\n", "").replace("=3D", "="))
            .collect()
    }

    fn newest_token(&self, to: &str, before: usize) -> Option<String> {
        let text = self
            .outbox()
            .into_iter()
            .skip(before)
            .rev()
            .find(|t| t.contains(&format!("To: {to}")))?;
        let start = text.find("#token=")? + "#token=".len();
        Some(
            text[start..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect(),
        )
    }
}
