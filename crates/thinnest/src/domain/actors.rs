//! Who did something: an API key, a signed-in person, an anonymous client or the
//! operator at the command line.

/// Who made a change.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `api_key`, `user` or `operator` (the command line).
    pub kind: &'static str,
    pub id: String,
    pub client_ip: Option<String>,
}

impl Actor {
    pub fn api_key(id: &str, client_ip: std::net::IpAddr) -> Actor {
        Actor {
            kind: "api_key",
            id: id.to_owned(),
            client_ip: Some(client_ip.to_string()),
        }
    }

    /// A person signed in to the dashboard.
    pub fn user(id: &str, client_ip: std::net::IpAddr) -> Actor {
        Actor {
            kind: "user",
            id: id.to_owned(),
            client_ip: Some(client_ip.to_string()),
        }
    }

    /// Someone not signed in, known only by address.
    pub fn anonymous(client_ip: std::net::IpAddr) -> Actor {
        Actor {
            kind: "anonymous",
            id: String::new(),
            client_ip: Some(client_ip.to_string()),
        }
    }

    /// The operator at the command line of the server's host.
    pub fn operator(command: &str) -> Actor {
        Actor {
            kind: "operator",
            id: command.to_owned(),
            client_ip: None,
        }
    }
}
