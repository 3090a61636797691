//! Rate-limit classes: the one table that says which routes share which budget.

use std::collections::BTreeMap;

use axum::http::Method;

/// A budget an account spends per rolling minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Every `/agents` route and its sub-routes.
    AgentCrud,
    /// `/conversations…`
    Conversation,
    /// `POST /calls`, `POST /campaigns/{id}/launch`
    CallTrigger,
    /// `POST /knowledge…`
    KnowledgeUpload,
    /// Every other authenticated endpoint.
    Other,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::AgentCrud,
        Class::Conversation,
        Class::CallTrigger,
        Class::KnowledgeUpload,
        Class::Other,
    ];

    /// The class of a request, from its method and path.
    pub fn of(method: &Method, path: &str) -> Class {
        let under = |prefix: &str| {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        let is_post = method == Method::POST;
        if under("/agents") {
            Class::AgentCrud
        } else if under("/conversations") {
            Class::Conversation
        } else if is_post
            && (path == "/calls"
                || path.strip_prefix("/campaigns/").is_some_and(|rest| {
                    rest.ends_with("/launch") && rest.matches('/').count() == 1
                }))
        {
            Class::CallTrigger
        } else if is_post && under("/knowledge") {
            Class::KnowledgeUpload
        } else {
            Class::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::AgentCrud => "agent_crud",
            Class::Conversation => "conversation",
            Class::CallTrigger => "call_trigger",
            Class::KnowledgeUpload => "knowledge_upload",
            Class::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Requests per minute for each class: the defaults, then an account's overrides.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    per_minute: [u32; 5],
}

impl Limits {
    pub fn new(
        agent_crud: u32,
        conversation: u32,
        call_trigger: u32,
        knowledge: u32,
        other: u32,
    ) -> Self {
        Limits {
            per_minute: [agent_crud, conversation, call_trigger, knowledge, other],
        }
    }

    pub fn get(&self, class: Class) -> u32 {
        self.per_minute[class as usize]
    }

    /// These limits with an account's overrides (`{"agent_crud": 2}`) applied;
    /// unknown classes, zero and malformed text are ignored.
    pub fn with_overrides(mut self, overrides: &str) -> Self {
        if overrides.len() > 2 {
            let parsed: BTreeMap<String, u32> = serde_json::from_str(overrides).unwrap_or_default();
            for (class, n) in parsed {
                if let Some(class) = Class::parse(&class)
                    && n > 0
                {
                    self.per_minute[class as usize] = n;
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_the_classes_of_the_table() {
        let cases = [
            (Method::GET, "/agents", Class::AgentCrud),
            (Method::DELETE, "/agents/agent_1", Class::AgentCrud),
            (Method::PUT, "/agents/agent_1/embed", Class::AgentCrud),
            (Method::GET, "/agentsx", Class::Other),
            (Method::POST, "/conversations", Class::Conversation),
            (Method::GET, "/conversations/c_1", Class::Conversation),
            (Method::POST, "/calls", Class::CallTrigger),
            (Method::GET, "/calls", Class::Other),
            (Method::POST, "/campaigns/cmp_1/launch", Class::CallTrigger),
            (Method::POST, "/campaigns/cmp_1", Class::Other),
            (Method::POST, "/knowledge", Class::KnowledgeUpload),
            (Method::GET, "/knowledge", Class::Other),
            (Method::GET, "/api-keys", Class::Other),
        ];
        for (method, path, class) in cases {
            assert_eq!(Class::of(&method, path), class, "{method} {path}");
        }
    }

    #[test]
    fn overrides_replace_only_the_classes_they_name() {
        let limits = Limits::new(60, 120, 30, 20, 60)
            .with_overrides(r#"{"agent_crud": 2, "other": 0, "nope": 9}"#);
        assert_eq!(limits.get(Class::AgentCrud), 2);
        assert_eq!(limits.get(Class::Conversation), 120);
        assert_eq!(
            limits.get(Class::Other),
            60,
            "zero would refuse forever: ignored"
        );
        assert_eq!(
            Limits::new(1, 2, 3, 4, 5)
                .with_overrides("garbage")
                .get(Class::Other),
            5
        );
    }
}
