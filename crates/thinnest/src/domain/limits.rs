//! Rate-limit classes (each router declares the class its routes spend) and the
//! limits per class.

use std::collections::BTreeMap;

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

    /// The class in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Class::AgentCrud => "Agents",
            Class::Conversation => "Conversations",
            Class::CallTrigger => "Call triggers",
            Class::KnowledgeUpload => "Knowledge uploads",
            Class::Other => "Everything else",
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
